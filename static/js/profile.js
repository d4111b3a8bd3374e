// /account: change the display name, and delete the ID. Deleting needs the username typed
// exactly (the server checks it, and says so before asking for anything else) and a user
// verification within REAUTH_MAX_AGE: withStepUp() asks for the passkey on 401
// reauth_required, then retries.

import { api, explain, withStepUp } from "./webauthn.js";
import { LEAVING, setFieldError, whileBusy } from "./ui.js";

const STEP_UP = "For your safety, confirm it's you with your passkey or security key…";
// After the ID is gone this browser is signed out: time to read the message, then leave.
const LEAVE_DELAY_MS = 3000;

/** Write to a card's own live region (the page's #status is far above these cards). */
function say(region, message, tone = "info") {
  region.textContent = "";
  delete region.dataset.tone;
  if (!message) return;
  const text = document.createElement("p");
  text.textContent = message;
  region.append(text);
  region.dataset.tone = tone;
}

// ---- Display name --------------------------------------------------------------------------

const nameForm = document.getElementById("display-name-form");
const nameInput = document.getElementById("display-name-input");
const nameSave = document.getElementById("display-name-save");
const nameStatus = document.getElementById("display-name-status");

/** The page's other places that show the name: the ID card, the heading and its avatar. */
function showName(user) {
  const shown = user.display_name || user.username;
  const fact = document.getElementById("id-display-name");
  if (fact) fact.textContent = user.display_name;
  const heading = document.querySelector(".page-head h1");
  if (heading) heading.textContent = shown;
  const avatar = document.querySelector(".page-head .avatar");
  if (avatar) avatar.textContent = shown.slice(0, 1).toUpperCase();
}

/** Best effort: passkey managers that support the Signal API show the new name too. */
async function signalName(user) {
  const signal = window.PublicKeyCredential?.signalCurrentUserDetails;
  if (typeof signal !== "function") return;
  try {
    const { signal: ids } = await api("/api/me", { method: "GET" });
    await signal.call(window.PublicKeyCredential, {
      rpId: ids.rpId,
      userId: ids.userId,
      name: user.username,
      displayName: user.display_name,
    });
  } catch {
    // Not supported here, or nothing to update: the name is saved either way.
  }
}

nameForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  say(nameStatus, "");
  setFieldError(nameInput, "");
  await whileBusy(nameSave, async () => {
    try {
      const answer = await api("/api/me", { method: "PATCH", body: { display_name: nameInput.value } });
      const user = answer.user;
      nameInput.value = user.display_name;
      showName(user);
      say(nameStatus, `Saved. Your ID is now shown as “${user.display_name}”.`, "success");
      signalName(user);
    } catch (error) {
      const message = explain(error);
      if (error.code === "invalid_input") setFieldError(nameInput, message);
      say(nameStatus, message, "error");
      nameInput.focus();
    }
  }, { others: [nameInput] });
});
nameInput.addEventListener("input", () => setFieldError(nameInput, ""));
nameSave.disabled = false;

// ---- Delete the ID -------------------------------------------------------------------------

const startButton = document.getElementById("delete-start");
const dialog = document.getElementById("delete-dialog");
const form = document.getElementById("delete-form");
const confirmInput = document.getElementById("delete-confirm");
const confirmButton = document.getElementById("confirm-delete");
const cancelButton = document.getElementById("cancel-delete");
const progress = document.getElementById("delete-progress");

startButton.addEventListener("click", () => {
  confirmInput.value = "";
  setFieldError(confirmInput, "");
  progress.textContent = "";
  dialog.showModal();
  confirmInput.focus();
});
cancelButton.addEventListener("click", () => dialog.close());
dialog.addEventListener("cancel", (event) => {
  if (confirmButton.disabled) event.preventDefault(); // working: wait for the answer
});
dialog.addEventListener("close", () => startButton.focus());
confirmInput.addEventListener("input", () => setFieldError(confirmInput, ""));

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  progress.textContent = "";
  setFieldError(confirmInput, "");
  await whileBusy(confirmButton, async () => {
    try {
      await withStepUp(
        () => api("/api/me", { method: "DELETE", body: { confirm: confirmInput.value } }),
        { onStepUp: () => { progress.textContent = STEP_UP; } },
      );
    } catch (error) {
      const message = explain(error);
      if (error.code === "invalid_input") setFieldError(confirmInput, message);
      progress.textContent = error.code === "invalid_input" ? "" : message;
      confirmInput.focus();
      return undefined;
    }
    progress.textContent = "Your ID was deleted. This browser is signed out: taking you to the sign-in page…";
    setTimeout(() => window.location.assign("/signin"), LEAVE_DELAY_MS);
    return LEAVING;
  }, { others: [cancelButton, confirmInput] });
});
startButton.disabled = false;
