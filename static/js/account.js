// /account: rename and remove devices, add another passkey or security key.

import { api, createCredential, explain, isSupported } from "./webauthn.js";
import { LEAVING, clearStatus, setFieldError, setStatus, whileBusy } from "./ui.js";

const list = document.getElementById("device-list");
const count = document.getElementById("device-count");
const emptyNote = document.getElementById("no-devices");
const devicesTitle = document.getElementById("devices-title");

const deviceUrl = (row) => `/api/devices/${encodeURIComponent(row.dataset.deviceId)}`;
const nameOf = (row) => row.querySelector(".device-name").textContent.trim();
const rowOf = (element) => element.closest("[data-device-id]");

// A message to show after the page reloads (adding a device reloads the list).
const FLASH_KEY = "keystead:account-flash";

// ---- Rename -----------------------------------------------------------------

function openRename(row) {
  const form = row.querySelector(".rename-form");
  const input = form.querySelector(".rename-input");
  const button = row.querySelector(".rename");
  row.querySelector(".device__title").hidden = true;
  row.classList.add("is-renaming");
  form.hidden = false;
  button.setAttribute("aria-expanded", "true");
  input.value = nameOf(row);
  setFieldError(input, "");
  input.focus();
  input.select();
}

function closeRename(row, { focus = true } = {}) {
  const form = row.querySelector(".rename-form");
  const button = row.querySelector(".rename");
  form.hidden = true;
  row.classList.remove("is-renaming");
  row.querySelector(".device__title").hidden = false;
  button.setAttribute("aria-expanded", "false");
  if (focus) button.focus();
}

function setName(row, name) {
  row.querySelector(".device-name").textContent = name;
  for (const ref of row.querySelectorAll(".device-name-ref")) ref.textContent = name;
}

async function saveRename(row) {
  const form = row.querySelector(".rename-form");
  const input = form.querySelector(".rename-input");
  const save = form.querySelector(".rename-save");
  const name = input.value.trim();
  if (!name) {
    setFieldError(input, "Enter a name for this device.");
    input.focus();
    return;
  }
  if (name === nameOf(row)) {
    closeRename(row);
    return;
  }
  clearStatus();
  await whileBusy(save, async () => {
    try {
      const answer = await api(deviceUrl(row), { method: "PATCH", body: { name } });
      const saved = answer?.device?.name ?? answer?.name ?? name;
      setName(row, saved);
      closeRename(row);
      setStatus(`Renamed to “${saved}”.`, "success");
    } catch (error) {
      setStatus(explain(error), "error");
      input.focus();
    }
  }, { others: [input, form.querySelector(".rename-cancel")] });
}

// ---- Remove -------------------------------------------------------------------

const dialog = document.getElementById("remove-dialog");
const confirmButton = document.getElementById("confirm-remove");
const cancelButton = document.getElementById("cancel-remove");
let pendingRow = null;

function askRemove(row) {
  pendingRow = row;
  document.getElementById("remove-name").textContent = nameOf(row);
  document.getElementById("remove-current-note").hidden = row.dataset.current !== "true";
  clearStatus();
  dialog.showModal();
  cancelButton.focus();
}

function updateCount() {
  const rows = list.querySelectorAll("[data-device-id]").length;
  count.textContent = String(rows);
  emptyNote.hidden = rows > 0;
}

async function confirmRemove() {
  const row = pendingRow;
  if (!row) return;
  const name = nameOf(row);
  let message = "";
  let tone = "success";
  let removed = false;
  await whileBusy(confirmButton, async () => {
    try {
      await api(deviceUrl(row), { method: "DELETE" });
      removed = true;
      message = `Removed “${name}”. It can no longer sign in to your ID.`;
    } catch (error) {
      tone = "error";
      message = explain(error);
      if (error.status === 404) removed = true; // already gone
    }
  }, { others: [cancelButton] });

  pendingRow = null;
  dialog.close();
  if (removed) {
    row.remove();
    updateCount();
    devicesTitle.focus();
  } else {
    row.querySelector(".remove").focus();
  }
  // After the dialog closes, so the live region is not inert when it changes.
  setStatus(message, tone);
}

cancelButton.addEventListener("click", () => dialog.close());
confirmButton.addEventListener("click", confirmRemove);
dialog.addEventListener("close", () => {
  // Cancelled with the button or Escape: focus goes back to the row's Remove button.
  if (pendingRow) {
    const button = pendingRow.querySelector(".remove");
    pendingRow = null;
    button.focus();
  }
});
dialog.addEventListener("click", (event) => {
  // A click on the backdrop (outside the dialog's box) cancels.
  if (event.target !== dialog) return;
  const box = dialog.getBoundingClientRect();
  const inside = event.clientX >= box.left && event.clientX <= box.right &&
    event.clientY >= box.top && event.clientY <= box.bottom;
  if (!inside && !confirmButton.disabled) dialog.close();
});
dialog.addEventListener("cancel", (event) => {
  if (confirmButton.disabled) event.preventDefault(); // removing: wait for the answer
});

// ---- Row buttons (one listener for the whole list) --------------------------------

list.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  const row = button && rowOf(button);
  if (!row) return;
  if (button.classList.contains("rename")) {
    if (row.querySelector(".rename-form").hidden) openRename(row);
    else closeRename(row);
  } else if (button.classList.contains("rename-cancel")) {
    closeRename(row);
  } else if (button.classList.contains("remove")) {
    askRemove(row);
  }
});

list.addEventListener("submit", (event) => {
  const row = rowOf(event.target);
  if (!row) return;
  event.preventDefault();
  saveRename(row);
});

list.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || !event.target.classList.contains("rename-input")) return;
  event.preventDefault();
  closeRename(rowOf(event.target));
});

list.addEventListener("input", (event) => {
  if (event.target.classList.contains("rename-input")) setFieldError(event.target, "");
});

// ---- Add another passkey or security key ------------------------------------------

const addForm = document.getElementById("add-device-form");
const addButton = document.getElementById("add-device");
const newName = document.getElementById("new-device-name");

addForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus();
  const deviceName = newName.value.trim();
  const body = deviceName ? { device_name: deviceName } : {};

  await whileBusy(addButton, async () => {
    try {
      const options = await api("/api/devices/register/begin", { body });
      setStatus("Follow your browser's prompt to add a passkey or security key…", "progress");
      const credential = await createCredential(options);
      setStatus("Saving…", "progress");
      const answer = await api("/api/devices/register/complete", { body: { ...credential, ...body } });
      const added = answer?.device;
      const label = added?.name || deviceName;
      const text = label ? `Added “${label}”. It can now sign in to your ID.`
        : "Added. It can now sign in to your ID.";
      setStatus(`${text} Updating the list…`, "success");
      try {
        sessionStorage.setItem(FLASH_KEY, JSON.stringify({ text, id: added?.id ?? null }));
      } catch {
        // Storage may be off; the list still reloads.
      }
      window.location.reload();
      return LEAVING;
    } catch (error) {
      setStatus(explain(error), "error");
      return undefined;
    }
  }, { others: [newName] });
});

// ---- Start ---------------------------------------------------------------------

function showFlash() {
  let flash = null;
  try {
    flash = JSON.parse(sessionStorage.getItem(FLASH_KEY) ?? "null");
    sessionStorage.removeItem(FLASH_KEY);
  } catch {
    flash = null;
  }
  if (!flash?.text) return;
  setStatus(flash.text, "success");
  const row = flash.id == null ? null
    : [...list.querySelectorAll("[data-device-id]")].find((r) => r.dataset.deviceId === String(flash.id));
  if (row) {
    row.classList.add("device--new");
    row.querySelector(".device-name").focus();
  }
}

if (isSupported()) {
  addButton.disabled = false;
} else {
  setStatus(explain(new Error("unsupported")), "error");
}
showFlash();
