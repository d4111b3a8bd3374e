// /recover: get back into an ID with the backup code and an emailed code, then create a
// passkey on this device.
//   1. username + backup code  → POST /api/recovery/begin     (emails a code)
//   2. the emailed code        → POST /api/recovery/verify    (creation options)
//   3. restore or duplicate    → create() → POST /api/recovery/complete (signed in,
//      new backup code shown once). A cancelled browser dialog gets fresh options from
//      POST /api/recovery/options; no new email code is needed.
//
// #recover-wizard's data-step tells tests where the wizard is: "1" | "2" | "3" | "done".
// The server renders it: a reload resumes this browser's recovery at step 2 or 3.

import {
  ApiError, api, createCredential, defaultDeviceName, isSupported,
} from "./webauthn.js";
import { explain } from "./messages.js";
import {
  LEAVING, clearErrorOnInput, clearStatus, setFieldError, setStatus, showError, usernameProblem,
  whileBusy,
} from "./ui.js";
import { showBackupCode } from "./backupcode.js";

const $ = (id) => document.getElementById(id);

const wizard = $("recover-wizard");
const steps = { 1: $("recover-step-1"), 2: $("recover-step-2"), 3: $("recover-step-3") };
const stepItems = [...document.querySelectorAll("#recover-steps [data-step]")];
const restartRow = $("recover-restart-row");
const restartButton = $("recover-restart");

const usernameInput = $("recover-username");
const codeInput = $("backup-code");
const beginButton = $("recover-begin");

const otpInput = $("email-code");
const verifyButton = $("recover-verify");
const resendButton = $("recover-resend");
const sentTo = $("recover-sent-to");

const modeFieldset = $("recover-mode");
const restoreRadio = $("mode-restore");
const duplicateRadio = $("mode-duplicate");
const forcedNote = $("recover-forced-note");
const deviceNameInput = $("recover-device-name");
const createButton = $("recover-create");

const modeChoice = wizard.dataset.modeChoice !== "false";
// How many digits a mailed code has (OTP_DIGITS), from the server.
const OTP_DIGITS = Number(otpInput.dataset.digits);

/** setStatus, and bring the message into view: on step 3 it can be far above the button. */
function say(message, tone) {
  setStatus(message, tone);
  revealStatus();
}

function revealStatus() {
  const region = $("status");
  if (region?.textContent) region.scrollIntoView({ block: "nearest" });
}
const MAX_WRONG_CODES = 5;

// Held in memory only, for "Send a new code"; dropped when the attempt ends or succeeds.
const state = {
  username: "",
  backupCode: "",
  options: null, // creation options for step 3
  forced: !modeChoice, // restore is the only choice
  wrongCodes: 0,
  ended: false,
};

// ---- Steps -----------------------------------------------------------------------

function goTo(step) {
  wizard.dataset.step = String(step);
  for (const [number, form] of Object.entries(steps)) form.hidden = Number(number) !== step;
  for (const item of stepItems) {
    const number = Number(item.dataset.step);
    if (number === step) item.setAttribute("aria-current", "step");
    else item.removeAttribute("aria-current");
    if (number < step) item.dataset.done = "";
    else delete item.dataset.done;
  }
  restartRow.hidden = step === 1;
  resendButton.hidden = step !== 2;
}

function setControls(form, enabled) {
  for (const control of form.querySelectorAll("input, button")) control.disabled = !enabled;
}

/** The server voided this attempt: only "Start again" (with the backup code) helps now. */
function endAttempt(message) {
  state.ended = true;
  state.options = null;
  state.backupCode = "";
  setControls(steps[2], false);
  setControls(steps[3], false);
  resendButton.disabled = true;
  resendButton.hidden = true;
  // whileBusy leaves a finished attempt's buttons alone: stop their spinners here.
  for (const button of wizard.querySelectorAll(".is-busy")) button.classList.remove("is-busy");
  restartRow.hidden = false;
  restartButton.className = "btn btn-primary btn-block";
  say(message, "error");
  restartButton.focus();
}

function restart() {
  state.backupCode = "";
  state.options = null;
  state.wrongCodes = 0;
  state.ended = false;
  state.forced = !modeChoice;
  setControls(steps[2], true);
  setControls(steps[3], true);
  resendButton.disabled = false;
  restartButton.className = "btn-link";
  otpInput.value = "";
  codeInput.value = "";
  for (const input of [usernameInput, codeInput, otpInput]) setFieldError(input, "");
  clearStatus();
  goTo(1);
  (usernameInput.value.trim() ? codeInput : usernameInput).focus();
}

restartButton.addEventListener("click", restart);

// ---- Step 1: username + backup code ------------------------------------------------

function backupCodeProblem(value) {
  const compact = value.replace(/[\s\-‐‑–—]+/g, "");
  if (!compact) return "Enter your backup code.";
  if (!/^[A-Za-z0-9]+$/.test(compact)) {
    return "A backup code has only letters and digits (spaces and dashes are fine).";
  }
  return "";
}

function sendCode() {
  return api("/api/recovery/begin", {
    body: { username: state.username, backup_code: state.backupCode },
  });
}

steps[1].addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus();
  const username = usernameInput.value.trim();
  const code = codeInput.value.trim();
  const problems = [
    [usernameInput, usernameProblem(usernameInput)],
    [codeInput, backupCodeProblem(code)],
  ];
  let first = null;
  for (const [input, message] of problems) {
    setFieldError(input, message);
    if (message && !first) first = input;
  }
  if (first) {
    first.focus();
    return;
  }

  await whileBusy(beginButton, async () => {
    state.username = username;
    state.backupCode = code;
    try {
      const answer = await sendCode();
      state.wrongCodes = 0;
      state.ended = false;
      setControls(steps[2], true);
      sentTo.textContent = answer?.otp_sent_to || "the email address on your ID";
      otpInput.value = "";
      setFieldError(otpInput, "");
      goTo(2);
      otpInput.focus();
    } catch (error) {
      state.backupCode = "";
      if (error instanceof ApiError && error.code === "recovery_failed") {
        say(error.message, "error"); // the server never says which of the two is wrong
        codeInput.focus();
        codeInput.select();
      } else {
        showError(error);
        revealStatus();
      }
    }
  }, { others: [usernameInput, codeInput] });
});

// ---- Step 2: the emailed code --------------------------------------------------------

function otpProblem(value) {
  if (!value) return "Enter the code from the email.";
  if (!/^\d+$/.test(value)) return "The email code has only digits.";
  if (OTP_DIGITS && value.length !== OTP_DIGITS) {
    return `Enter all ${OTP_DIGITS} digits of the code from the email.`;
  }
  return "";
}

function applyForced() {
  modeFieldset.hidden = state.forced;
  forcedNote.hidden = !state.forced;
  if (state.forced) {
    restoreRadio.checked = true;
    duplicateRadio.checked = false;
  }
}

steps[2].addEventListener("submit", async (event) => {
  event.preventDefault();
  if (state.ended) return;
  clearStatus();
  const otp = otpInput.value.replace(/[\s-]+/g, "");
  const problem = otpProblem(otp);
  setFieldError(otpInput, problem);
  if (problem) {
    otpInput.focus();
    return;
  }

  await whileBusy(verifyButton, async () => {
    try {
      const answer = await api("/api/recovery/verify", { body: { otp } });
      state.options = answer;
      state.forced = !modeChoice || answer?.restore_forced === true;
      applyForced();
      goTo(3);
      $("step-3-title").focus();
    } catch (error) {
      if (error instanceof ApiError && error.code === "recovery_failed") {
        state.wrongCodes += 1;
        if (state.wrongCodes >= MAX_WRONG_CODES) {
          setFieldError(otpInput, "");
          endAttempt(error.message);
          return LEAVING; // keep step 2 disabled
        }
        setFieldError(otpInput, error.message);
        say(error.message, "error");
      } else {
        showError(error);
        revealStatus();
      }
      otpInput.focus();
      otpInput.select();
    }
    return undefined;
  }, { others: [otpInput, resendButton] });
});

resendButton.addEventListener("click", async () => {
  if (state.ended || !state.backupCode) {
    restart();
    return;
  }
  clearStatus();
  await whileBusy(resendButton, async () => {
    try {
      const answer = await sendCode();
      state.wrongCodes = 0;
      if (answer?.otp_sent_to) sentTo.textContent = answer.otp_sent_to;
      otpInput.value = "";
      setFieldError(otpInput, "");
      say(`We sent a new code to ${sentTo.textContent}. Only the newest code works.`, "success");
      otpInput.focus();
    } catch (error) {
      if (error instanceof ApiError && error.code === "recovery_failed") {
        endAttempt(error.message);
        return LEAVING;
      }
      showError(error);
      revealStatus();
    }
    return undefined;
  }, { others: [otpInput, verifyButton] });
});

// ---- Step 3: a new passkey on this device ----------------------------------------------

/**
 * Fresh creation options after a cancelled or failed browser dialog (same recovery).
 * Resolves to null, or to the error that stopped it (an ended attempt is ended here).
 */
async function refreshOptions() {
  try {
    const answer = await api("/api/recovery/options", { body: {} });
    state.options = answer;
    if (answer?.restore_forced === true && !state.forced) {
      state.forced = true;
      applyForced();
    }
    return null;
  } catch (error) {
    state.options = null;
    if (error instanceof ApiError && (error.status === 401 || error.code === "recovery_failed")) {
      endAttempt(explain(error));
    }
    return error;
  }
}

function chosenMode() {
  if (state.forced) return "restore";
  if (restoreRadio.checked) return "restore";
  if (duplicateRadio.checked) return "duplicate";
  return "";
}

function setModeError(message) {
  let note = $("recover-mode-error");
  if (!note) {
    note = document.createElement("p");
    note.id = "recover-mode-error";
    note.className = "field-error";
    modeFieldset.append(note);
  }
  note.textContent = message;
  note.hidden = !message;
  if (message) {
    modeFieldset.setAttribute("aria-invalid", "true");
    modeFieldset.setAttribute("aria-describedby", note.id);
  } else {
    modeFieldset.removeAttribute("aria-invalid");
    modeFieldset.removeAttribute("aria-describedby");
  }
}

modeFieldset.addEventListener("change", () => setModeError(""));

function finish(answer, mode, deviceName) {
  wizard.hidden = true;
  $("recover-help")?.setAttribute("hidden", "");
  const done = $("recover-done");
  done.hidden = false;
  wizard.dataset.step = "done";

  const device = answer?.device?.name || deviceName;
  $("recover-done-device").textContent = `“${device}” can now sign in to your ID` +
    (answer?.user?.username ? ` (${answer.user.username}).` : ".");
  const applied = answer?.mode === "restore" || answer?.mode === "duplicate" ? answer.mode : mode;
  $("recover-done-mode").textContent = applied === "restore"
    ? "Your other passkeys and security keys were removed and signed out."
    : "Your other passkeys and security keys still work.";

  const username = answer?.user?.username || state.username;
  const toAccount = () => window.location.assign("/account");
  const heading = $("recover-done-title");
  if (answer?.backup_code) {
    $("recover-done-code").hidden = false;
    showBackupCode({ code: answer.backup_code, username, replaced: true, onContinue: toAccount });
  } else if (answer?.delivered === "email") {
    $("recover-done-code").hidden = false;
    showBackupCode({ code: null, username, replaced: true, emailedTo: "your backup email address", onContinue: toAccount });
  } else {
    $("recover-done-mode").textContent += " Your backup code has been used and no longer works.";
    $("recover-continue").hidden = false;
  }
  state.backupCode = "";
  state.options = null;
  clearStatus();
  heading.focus();
}

steps[3].addEventListener("submit", async (event) => {
  event.preventDefault();
  if (state.ended) return;
  clearStatus();
  const mode = chosenMode();
  if (!mode) {
    setModeError("Choose “Restore” or “Duplicate”.");
    restoreRadio.focus();
    return;
  }
  setModeError("");
  const deviceName = deviceNameInput.value.trim() || defaultDeviceName();

  await whileBusy(createButton, async () => {
    const problem = state.options ? null : await refreshOptions();
    if (problem) {
      if (!state.ended) say(explain(problem), "error");
      return state.ended ? LEAVING : undefined;
    }

    let credential;
    try {
      say("Follow your browser's prompt to create a passkey…", "progress");
      credential = await createCredential(state.options);
    } catch (error) {
      state.options = null;
      say(explain(error, "recovery"), "error");
      // Get a fresh challenge now, so the next click opens the browser dialog straight away.
      await refreshOptions();
      return state.ended ? LEAVING : undefined;
    }

    try {
      say("Saving your passkey…", "progress");
      const answer = await api("/api/recovery/complete", {
        body: { ...credential, device_name: deviceName, mode },
      });
      finish(answer, mode, deviceName);
      return LEAVING;
    } catch (error) {
      state.options = null;
      if (error instanceof ApiError && error.code === "recovery_failed") {
        endAttempt(error.message);
        return LEAVING;
      }
      showError(error);
      revealStatus();
      if (!(error instanceof ApiError && error.code === "too_many_attempts")) await refreshOptions();
      return state.ended ? LEAVING : undefined;
    }
  }, { others: [deviceNameInput, restoreRadio, duplicateRadio] });
  revealStatus();
});

clearErrorOnInput(usernameInput, codeInput, otpInput);

// ---- Start ------------------------------------------------------------------------

applyForced();
// Resume where the server says this browser's recovery is (after a reload). The backup code
// is not in memory any more: "Send a new code" then starts again at step 1.
const resumeAt = Number(wizard.dataset.step);
if (resumeAt === 2 || resumeAt === 3) goTo(resumeAt);
if (!isSupported()) {
  say(explain(new Error("unsupported")), "error");
} else {
  if (!deviceNameInput.value) deviceNameInput.value = defaultDeviceName();
  beginButton.disabled = false;
}
