// /account, "Where you're signed in": sign out one of the ID's other browsers, or all of them.
// Both need a user verification within REAUTH_MAX_AGE: on 401 reauth_required,
// withStepUp() asks for the passkey, then retries. The list itself is rendered by the server.

import { api, explain, withStepUp } from "./webauthn.js";
import { whileBusy } from "./ui.js";

const list = document.getElementById("session-list");
const count = document.getElementById("session-count");
const title = document.getElementById("sessions-title");
const endOthersButton = document.getElementById("end-other-sessions");
const status = document.getElementById("sessions-status");
const STEP_UP = "For your safety, confirm it's you with your passkey or security key…";

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

const others = () => [...list.querySelectorAll("[data-session-id][data-current='false']")];
const labelOf = (row) => row.querySelector(".session-name").textContent.trim();

function forget(rows) {
  for (const row of rows) row.remove();
  count.textContent = String(list.querySelectorAll("[data-session-id]").length);
  endOthersButton.hidden = others().length === 0;
  title.focus();
}

async function endOne(row, button) {
  say("");
  const label = labelOf(row);
  const url = `/api/sessions/${encodeURIComponent(row.dataset.sessionId)}`;
  await whileBusy(button, async () => {
    try {
      await withStepUp(() => api(url, { method: "DELETE" }), { onStepUp: () => say(STEP_UP, "progress") });
      forget([row]);
      say(`Signed out ${label}. That browser has to sign in again to use your ID.`, "success");
    } catch (error) {
      if (error.status === 404) forget([row]); // it had ended already: the server says so
      say(explain(error), "error");
    }
  });
}

async function endOthers() {
  say("");
  await whileBusy(endOthersButton, async () => {
    try {
      const answer = await withStepUp(() => api("/api/sessions/end-others"), {
        onStepUp: () => say(STEP_UP, "progress"),
      });
      const ended = answer?.ended ?? 0;
      forget(others());
      say(ended === 1 ? "Signed out 1 other browser." : `Signed out ${ended} other browsers.`, "success");
    } catch (error) {
      say(explain(error), "error");
    }
  });
}

list.addEventListener("click", (event) => {
  const button = event.target.closest("button.end-session");
  const row = button?.closest("[data-session-id]");
  if (row && !button.disabled) endOne(row, button);
});
endOthersButton.addEventListener("click", endOthers);

// The buttons only work with this script: they are disabled in the HTML until now.
for (const button of list.querySelectorAll("button.end-session")) button.disabled = false;
endOthersButton.disabled = false;
