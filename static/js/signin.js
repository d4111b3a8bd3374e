// /signin: autofill (conditional UI) on load, username-first "Continue",
// and usernameless "Sign in with a passkey".
//
// The form's data-autofill attribute tells tests where the autofill request is:
// "idle" → "pending" → "done" | "failed" | "aborted", or "unavailable".

import {
  ApiError, api, getCredential, isConditionalAvailable, isSupported,
} from "./webauthn.js";
import { explain } from "./messages.js";
import {
  LEAVING, clearErrorOnInput, clearStatus, safeLocalPath, setFieldError, setStatus, showError,
  usernameProblem, whileBusy,
} from "./ui.js";

const form = document.getElementById("signin-form");
const username = document.getElementById("username");
const continueButton = document.getElementById("continue");
const passkeyButton = document.getElementById("passkey-signin");
const nextUrl = safeLocalPath(form.dataset.next, "/account");
const direct = form.dataset.direct === "1";

let autofillAvailable = false;
let conditional = null; // { controller, done } while an autofill request is pending
let rearmAutofill = false; // restart autofill on the next focus after a failed attempt
let leaving = false;

const setAutofill = (state) => { form.dataset.autofill = state; };

/** The backup page's "Protect your ID" prompt, then on to where the person was going. */
function backupPromptUrl(next) {
  const query = new URLSearchParams({ prompt: "1" });
  if (next !== "/account") query.set("next", next);
  return `/account/backup?${query}`;
}

/** This device's unread notifications first ("While you were away"), then on to `next`. */
function notificationsUrl(next) {
  const query = new URLSearchParams({ after_signin: "1", next });
  return `/account/notifications?${query}`;
}

async function complete(assertion) {
  const answer = await api("/api/authenticate/complete", { body: assertion });
  leaving = true;
  if (direct) {
    // A website is waiting for this sign-in: straight back to it.
    setStatus("Signed in. Taking you back…", "success");
    window.location.assign(nextUrl);
    return LEAVING;
  }
  const unread = Array.isArray(answer?.notifications) ? answer.notifications.length : 0;
  if (unread > 0) {
    // Notifications first; the backup prompt (if any) comes after them.
    const after = answer?.backup_prompt === true ? backupPromptUrl(nextUrl) : nextUrl;
    setStatus(
      unread === 1 ? "Signed in. Something happened to your ID while you were away…"
        : `Signed in. ${unread} things happened to your ID while you were away…`,
      "success",
    );
    window.location.assign(notificationsUrl(after));
  } else if (answer?.backup_prompt === true) {
    setStatus("Signed in. One more thing: protect your ID with a backup…", "success");
    window.location.assign(backupPromptUrl(nextUrl));
  } else {
    setStatus("Signed in. Taking you to your account…", "success");
    window.location.assign(nextUrl);
  }
  return LEAVING;
}

// ---- Autofill (conditional mediation) ---------------------------------------

async function runConditional(controller) {
  const { signal } = controller;
  try {
    const options = await api("/api/authenticate/begin", { body: {} });
    if (signal.aborted) throw new DOMException("Aborted", "AbortError");
    const assertion = await getCredential(options, { mediation: "conditional", signal });
    setAutofill("done");
    // The person picked a passkey from autofill: the buttons wait while we finish.
    continueButton.disabled = passkeyButton.disabled = true;
    setStatus("Signing you in…", "progress");
    try {
      await complete(assertion);
    } finally {
      if (!leaving) continueButton.disabled = passkeyButton.disabled = false;
    }
  } catch (error) {
    if (signal.aborted || error?.name === "AbortError") {
      setAutofill("aborted");
      return;
    }
    setAutofill("failed");
    // No passkey for this site, or the browser gave up: nothing the person asked for.
    // A server answer about a passkey they did choose is worth showing.
    if (error instanceof ApiError) {
      showError(error);
      rearmAutofill = true;
    }
  }
}

function startConditional() {
  if (!autofillAvailable || conditional || leaving) return;
  const controller = new AbortController();
  const entry = { controller, done: null };
  conditional = entry;
  entry.done = runConditional(controller).finally(() => {
    if (conditional === entry) conditional = null;
  });
  setAutofill("pending");
}

/** Abort a pending autofill request and wait until the browser has let go of it. */
async function stopConditional() {
  const entry = conditional;
  if (!entry) return;
  entry.controller.abort();
  await entry.done;
}

// ---- Modal sign-in (username-first and usernameless) ----------------------------

async function modalSignIn(button, body) {
  clearStatus();
  await whileBusy(button, async () => {
    await stopConditional();
    if (leaving) return LEAVING;
    setStatus("Follow your browser's prompt to use your passkey or security key…", "progress");
    try {
      const options = await api("/api/authenticate/begin", { body });
      const assertion = await getCredential(options);
      setStatus("Signing you in…", "progress");
      return await complete(assertion);
    } catch (error) {
      showError(error);
      rearmAutofill = true;
      return undefined;
    }
  }, { others: [continueButton, passkeyButton].filter((other) => other !== button) });
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const value = username.value.trim();
  const problem = usernameProblem(username);
  if (problem) {
    setFieldError(username, problem);
    username.focus();
    return;
  }
  setFieldError(username, "");
  modalSignIn(continueButton, { username: value });
});

passkeyButton.addEventListener("click", () => {
  setFieldError(username, "");
  modalSignIn(passkeyButton, {});
});

username.addEventListener("focus", () => {
  if (rearmAutofill && !conditional) {
    rearmAutofill = false;
    startConditional();
  }
});
clearErrorOnInput(username);

// ---- Start -----------------------------------------------------------------

if (!isSupported()) {
  setAutofill("unavailable");
  setStatus(explain(new Error("unsupported")), "error");
} else {
  continueButton.disabled = false;
  passkeyButton.disabled = false;
  autofillAvailable = await isConditionalAvailable();
  if (autofillAvailable) startConditional();
  else setAutofill("unavailable");
}
