// /account: rename, block and remove devices, add another passkey or security key, and add a
// device with a QR code (pairpanel.js). The device list refreshes itself when live.js reports
// a change to the ID's devices (a device added, paired, blocked or removed elsewhere).
//
// Remove and Block are sensitive: without a user verification within REAUTH_MAX_AGE the
// server answers 401 reauth_required, and withStepUp() asks for the passkey, then retries.

import {
  api, createCredential, isSupported, signalAcceptedCredentials, signalUnknownCredential, withStepUp,
} from "./webauthn.js";
import { explain } from "./messages.js";
import { LEAVING, clearStatus, setFieldError, setStatus, showError, whileBusy } from "./ui.js";
import { localiseTimes } from "./times.js";
import { DEVICE_KINDS, blockDevice } from "./notices.js";
import { setupPairing } from "./pairpanel.js";

const list = document.getElementById("device-list");
const count = document.getElementById("device-count");
const emptyNote = document.getElementById("no-devices");
const devicesTitle = document.getElementById("devices-title");

const deviceUrl = (row) => `/api/devices/${encodeURIComponent(row.dataset.deviceId)}`;
const nameOf = (row) => row.querySelector(".device-name").textContent.trim();
const rowOf = (element) => element.closest("[data-device-id]");
const rowById = (id) => [...list.querySelectorAll("[data-device-id]")].find((r) => r.dataset.deviceId === String(id));

// A message to show after the page reloads (adding a device reloads the list).
const FLASH_KEY = "keystead:account-flash";
// After this device's own passkey is removed or blocked, its session has ended.
const SIGNIN_DELAY_MS = 3000;

/** The row buttons only work with this script: they are disabled in the HTML until now. */
function enableRowButtons() {
  for (const button of list.querySelectorAll(".rename, .remove, .block")) button.disabled = false;
}

function updateCount() {
  const rows = list.querySelectorAll("[data-device-id]").length;
  count.textContent = String(rows);
  emptyNote.hidden = rows > 0;
}

const activeRows = () => [...list.querySelectorAll("[data-device-id][data-status='active']")];

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
  refreshIfPending();
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
      showError(error);
      input.focus();
    }
  }, { others: [input, form.querySelector(".rename-cancel")] });
}

// ---- Confirmation dialogs (remove, block) -----------------------------------------

/**
 * Wire a confirmation dialog: Cancel, Escape and a click on the backdrop close it (not while
 * the action runs); focus goes back to the row's button it was opened from.
 */
function confirmDialog({ dialog, confirm, cancel, progress, buttonClass }) {
  const state = { row: null };
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    // A close event is queued; input may be handled first and open the dialog again (Enter on
    // a row's button right after Escape): that close is over.
    if (dialog.open) return;
    progress.textContent = "";
    if (state.row) {
      // Cancelled: focus goes back to the row's button.
      const button = state.row.querySelector(buttonClass);
      state.row = null;
      button?.focus();
    }
    refreshIfPending();
  });
  dialog.addEventListener("click", (event) => {
    if (event.target !== dialog) return;
    const box = dialog.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right &&
      event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside && !confirm.disabled) dialog.close();
  });
  dialog.addEventListener("cancel", (event) => {
    if (confirm.disabled) event.preventDefault(); // working: wait for the answer
  });
  return state;
}

/** After this device's passkey stopped working here: the session is over, go to sign in. */
function leaveForSignIn(message) {
  setStatus(`${message} This device is signed out now: taking you to the sign-in page…`, "success");
  setTimeout(() => window.location.assign("/signin"), SIGNIN_DELAY_MS);
}

// ---- Remove -------------------------------------------------------------------

const removeDialog = document.getElementById("remove-dialog");
const confirmRemoveButton = document.getElementById("confirm-remove");
const cancelRemoveButton = document.getElementById("cancel-remove");
const removeProgress = document.getElementById("remove-progress");
const removeState = confirmDialog({
  dialog: removeDialog,
  confirm: confirmRemoveButton,
  cancel: cancelRemoveButton,
  progress: removeProgress,
  buttonClass: ".remove",
});

function askRemove(row) {
  removeState.row = row;
  document.getElementById("remove-name").textContent = nameOf(row);
  document.getElementById("remove-current-note").hidden = row.dataset.current !== "true";
  removeProgress.textContent = "";
  clearStatus();
  removeDialog.showModal();
  cancelRemoveButton.focus();
}

async function confirmRemove() {
  const row = removeState.row;
  if (!row) return;
  const name = nameOf(row);
  const current = row.dataset.current === "true";
  const credentialId = row.dataset.credentialId;
  let message = "";
  let tone = "success";
  let removed = false;
  await whileBusy(confirmRemoveButton, async () => {
    try {
      await withStepUp(() => api(deviceUrl(row), { method: "DELETE" }), {
        onStepUp: () => {
          removeProgress.textContent = "For your safety, confirm it's you with your passkey or security key…";
        },
      });
      removed = true;
      message = `Removed “${name}”. It can no longer sign in to your ID.`;
    } catch (error) {
      tone = "error";
      message = explain(error);
      if (error.status === 404) removed = true; // already gone
    }
  }, { others: [cancelRemoveButton] });

  removeState.row = null;
  removeDialog.close();
  if (removed) {
    row.remove();
    updateCount();
    devicesTitle.focus();
    if (tone === "success") signalUnknownCredential(credentialId);
  } else {
    row.querySelector(".remove")?.focus();
  }
  // After the dialog closes, so the live region is not inert when it changes.
  if (removed && tone === "success" && current) leaveForSignIn(message);
  else setStatus(message, tone);
}

confirmRemoveButton.addEventListener("click", confirmRemove);

// ---- Block ---------------------------------------------------------------------

const blockDialog = document.getElementById("block-dialog");
const confirmBlockButton = document.getElementById("confirm-block");
const cancelBlockButton = document.getElementById("cancel-block");
const blockProgress = document.getElementById("block-progress");
const blockState = confirmDialog({
  dialog: blockDialog,
  confirm: confirmBlockButton,
  cancel: cancelBlockButton,
  progress: blockProgress,
  buttonClass: ".block",
});

function askBlock(row) {
  blockState.row = row;
  const active = activeRows();
  document.getElementById("block-name").textContent = nameOf(row);
  document.getElementById("block-current-note").hidden = row.dataset.current !== "true";
  document.getElementById("block-last-note").hidden =
    !(row.dataset.status === "active" && active.length === 1 && active[0] === row);
  blockProgress.textContent = "";
  clearStatus();
  blockDialog.showModal();
  cancelBlockButton.focus();
}

async function confirmBlock() {
  const row = blockState.row;
  if (!row) return;
  const name = nameOf(row);
  const id = row.dataset.deviceId;
  const current = row.dataset.current === "true";
  let message = "";
  let tone = "success";
  let blocked = false;
  await whileBusy(confirmBlockButton, async () => {
    try {
      await blockDevice(id, {
        onStepUp: () => {
          blockProgress.textContent = "For your safety, confirm it's you with your passkey or security key…";
        },
      });
      blocked = true;
      message = `Blocked “${name}”. It is signed out and can never sign in to your ID again.`;
    } catch (error) {
      tone = "error";
      message = explain(error);
    }
  }, { others: [cancelBlockButton] });

  blockState.row = null;
  blockDialog.close();
  if (blocked) {
    markBlocked(row);
    devicesTitle.focus();
  } else {
    row.querySelector(".block")?.focus();
  }
  if (blocked && current) leaveForSignIn(message);
  else setStatus(message, tone);
}

/** Show a row as blocked right away (the refresh from the server follows). */
function markBlocked(row) {
  row.dataset.status = "blocked";
  row.classList.add("device--inactive", "device--blocked");
  row.querySelector(".device__actions")?.remove();
  row.querySelector(".rename-form")?.remove();
  const status = row.querySelector(".device-status");
  if (status) {
    status.className = "badge badge--danger device-status";
    status.textContent = "Blocked";
  }
}

confirmBlockButton.addEventListener("click", confirmBlock);

// ---- Row buttons (one listener for the whole list) --------------------------------

list.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  const row = button && rowOf(button);
  if (!row || button.disabled) return;
  if (button.classList.contains("rename")) {
    if (row.querySelector(".rename-form").hidden) openRename(row);
    else closeRename(row);
  } else if (button.classList.contains("rename-cancel")) {
    closeRename(row);
  } else if (button.classList.contains("remove")) {
    askRemove(row);
  } else if (button.classList.contains("block")) {
    askBlock(row);
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

// ---- Refreshing the list from the server -----------------------------------------------
// GET /account again and take its #device-list: the rows look exactly as on a reload, while
// the rest of the page (a pairing in progress, a message) stays.

let refreshPending = false;
let refreshing = null;

const listBusy = () => removeDialog.open || blockDialog.open || Boolean(list.querySelector(".is-renaming"));

function refreshIfPending() {
  if (refreshPending && !listBusy()) refreshDevices();
}

export async function refreshDevices() {
  if (listBusy()) {
    refreshPending = true; // after the dialog or the rename closes
    return;
  }
  if (refreshing) {
    refreshPending = true;
    return;
  }
  refreshPending = false;
  refreshing = (async () => {
    let response;
    try {
      response = await fetch("/account", {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "text/html" },
      });
    } catch {
      return;
    }
    if (!response.ok || response.redirected) return; // signed out: live.js says so
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = doc.getElementById("device-list");
    if (!fresh || listBusy()) {
      refreshPending = true;
      return;
    }
    const before = new Set([...list.querySelectorAll("[data-device-id]")].map((r) => r.dataset.deviceId));
    // Keep focus on the same control of the same row when it is still there.
    const focused = list.contains(document.activeElement) ? document.activeElement : null;
    const focusRow = focused && rowOf(focused)?.dataset.deviceId;
    const focusClass = focused && ["rename", "block", "remove", "device-name"].find((c) => focused.classList.contains(c));

    list.replaceChildren(...fresh.children);
    enableRowButtons();
    localiseTimes(list);
    updateCount();
    for (const row of list.querySelectorAll("[data-device-id]")) {
      if (!before.has(row.dataset.deviceId)) row.classList.add("device--new");
    }
    if (focused) {
      const target = focusRow && rowById(focusRow)?.querySelector(`.${focusClass}`);
      (target ?? devicesTitle).focus();
    }
    signalAcceptedCredentials();
  })();
  try {
    await refreshing;
  } finally {
    refreshing = null;
    refreshIfPending();
  }
}

document.addEventListener("keystead:notification", (event) => {
  if (DEVICE_KINDS.has(event.detail?.kind)) refreshDevices();
});
document.addEventListener("keystead:devices-changed", () => refreshDevices());

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
      // Adding a device changes what can sign in: a stale verification is refreshed first.
      const options = await withStepUp(() => api("/api/devices/register/begin", { body }), {
        onStepUp: () => setStatus("For your safety, confirm it's you with your passkey or security key…", "progress"),
      });
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
      showError(error);
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
  const row = flash.id == null ? null : rowById(flash.id);
  if (row) {
    row.classList.add("device--new");
    row.querySelector(".device-name").focus();
  }
}

enableRowButtons();
setupPairing({ onDevicesChanged: () => refreshDevices() });
if (isSupported()) {
  addButton.disabled = false;
} else {
  setStatus(explain(new Error("unsupported")), "error");
}
showFlash();
// Passkeys of removed or blocked devices disappear from the password manager too.
signalAcceptedCredentials();
