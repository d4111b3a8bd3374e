// /account, "Connected websites": disconnect a website the ID signs in to (DELETE
// /api/connections/<id>), after a confirmation dialog. The list itself is rendered by the
// server. Disconnecting takes access away, so it needs no step-up.

import { api } from "./webauthn.js";
import { explain } from "./messages.js";
import { whileBusy } from "./ui.js";

const list = document.getElementById("connection-list");
const count = document.getElementById("connection-count");
const title = document.getElementById("connections-title");
const emptyNote = document.getElementById("no-connections");
const status = document.getElementById("connections-status");
const dialog = document.getElementById("disconnect-dialog");
const confirmButton = document.getElementById("confirm-disconnect");
const cancelButton = document.getElementById("cancel-disconnect");
const progress = document.getElementById("disconnect-progress");

const nameOf = (row) => row.querySelector(".connection-name").textContent.trim();
const originOf = (row) => row.querySelector(".connection-origin").textContent.trim();

/** This card's own live region (the page's #status is far above it). */
function say(message, tone = "info") {
  status.textContent = "";
  delete status.dataset.tone;
  if (!message) return;
  const text = document.createElement("p");
  text.textContent = message;
  status.append(text);
  status.dataset.tone = tone;
}

function forget(row) {
  row.remove();
  const rows = list.querySelectorAll("[data-connection-id]").length;
  count.textContent = String(rows);
  emptyNote.hidden = rows > 0;
  title.focus();
}

// ---- the confirmation dialog ------------------------------------------------------------
// Cancel, Escape and a click on the backdrop close it (not while the request runs); focus
// goes back to the row's button it was opened from.

let asked = null; // the row the open dialog is about

function ask(row) {
  asked = row;
  document.getElementById("disconnect-name").textContent = nameOf(row);
  document.getElementById("disconnect-origin").textContent = originOf(row);
  progress.textContent = "";
  say("");
  dialog.showModal();
  cancelButton.focus();
}

cancelButton.addEventListener("click", () => dialog.close());
dialog.addEventListener("close", () => {
  // A close event is queued; input may be handled first and open the dialog again (Enter on
  // a row's button right after Escape): that close is over.
  if (dialog.open) return;
  progress.textContent = "";
  if (asked) {
    const button = asked.querySelector("button.disconnect");
    asked = null;
    button?.focus();
  }
});
dialog.addEventListener("click", (event) => {
  if (event.target !== dialog) return;
  const box = dialog.getBoundingClientRect();
  const inside = event.clientX >= box.left && event.clientX <= box.right &&
    event.clientY >= box.top && event.clientY <= box.bottom;
  if (!inside && !confirmButton.disabled) dialog.close();
});
dialog.addEventListener("cancel", (event) => {
  if (confirmButton.disabled) event.preventDefault(); // working: wait for the answer
});

async function disconnect() {
  const row = asked;
  if (!row) return;
  const name = nameOf(row);
  let message = "";
  let tone = "success";
  let gone = false;
  await whileBusy(confirmButton, async () => {
    try {
      await api(`/api/connections/${encodeURIComponent(row.dataset.connectionId)}`, { method: "DELETE" });
      gone = true;
      message = `Disconnected “${name}”. It can no longer use your ID.`;
    } catch (error) {
      tone = "error";
      message = explain(error); // the server's words
      if (error.status === 404) gone = true; // disconnected already (elsewhere)
    }
  }, { others: [cancelButton] });

  asked = null;
  dialog.close();
  if (gone) forget(row);
  else row.querySelector("button.disconnect")?.focus();
  // After the dialog closes, so the live region is not inert when it changes.
  say(message, tone);
}

confirmButton.addEventListener("click", disconnect);

list.addEventListener("click", (event) => {
  const button = event.target.closest("button.disconnect");
  const row = button?.closest("[data-connection-id]");
  if (row && !button.disabled) ask(row);
});

// The buttons only work with this script: they are disabled in the HTML until now.
for (const button of list.querySelectorAll("button.disconnect")) button.disabled = false;
