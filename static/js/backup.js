// /account/backup: activate backup, or make a new backup code.
//   Activate backup         → POST /api/backup/activate   (emails a code)
//   Make a new backup code  → POST /api/backup/regenerate (needs a user verification within
//                              REAUTH_MAX_AGE: on 401 reauth_required, a step-up here, retry)
//   the emailed code        → POST /api/backup/confirm    → the backup code, shown once
//                              (or emailed, under BACKUP_CODE_DELIVERY=email)
//
// #backup-state's data-phase tells tests where the page is:
// "idle" → "otp" (waiting for the email code) → "done".

import { ApiError, api, explain, isSupported, withStepUp } from "./webauthn.js";
import {
  clearErrorOnInput, clearStatus, safeLocalPath, setFieldError, setStatus, showError, whileBusy,
} from "./ui.js";
import { showBackupCode } from "./backupcode.js";

const $ = (id) => document.getElementById(id);

const stateCard = $("backup-state");
const actions = $("backup-actions");
const activateButton = $("backup-activate");
const regenerateButton = $("backup-regenerate");
const laterLink = $("backup-later");

const otpStep = $("backup-otp-step");
const otpForm = $("backup-otp-form");
const otpInput = $("backup-otp");
const confirmButton = $("backup-confirm");
const resendButton = $("backup-resend");
const cancelButton = $("backup-cancel");
const sentTo = $("backup-sent-to");

const username = stateCard.dataset.username;
const nextUrl = safeLocalPath(stateCard.dataset.next, "/account"); // the server's verdict on ?next=
if (laterLink) laterLink.href = nextUrl;

let purpose = null; // "activate" | "regenerate": what the email code will confirm

const setPhase = (phase) => { stateCard.dataset.phase = phase; };

/** setStatus, and bring the message into view (the page is long on a phone). */
function say(message, tone) {
  setStatus(message, tone);
  revealStatus();
}

function revealStatus() {
  const region = $("status");
  if (region?.textContent) region.scrollIntoView({ block: "nearest" });
}

// ---- Asking for an email code ----------------------------------------------------------

const START = { activate: "/api/backup/activate", regenerate: "/api/backup/regenerate" };

/**
 * POST activate/regenerate. A stale verification (401 reauth_required) is refreshed once with
 * a step-up (the passkey prompt, POST /api/reauth/…), then the request is retried.
 */
async function requestCode(kind) {
  try {
    return await withStepUp(() => api(START[kind], { body: {} }), {
      onStepUp: () => setStatus(
        "For your safety, confirm it's you: follow your browser's prompt to use your passkey or security key…",
        "progress",
      ),
    });
  } catch (error) {
    if (!error?.stepUp) throw error;
    error.stepUp = false; // this page words it itself
    const why = explain(error);
    throw Object.assign(new Error(`We could not confirm it's you, so no new backup code was made. ${why}`),
      { shown: true });
  }
}

function disableBackup(message) {
  // The administrator turned backup off since the page was loaded.
  actions.hidden = true;
  $("backup-activate-hint")?.setAttribute("hidden", "");
  $("backup-regenerate-hint")?.setAttribute("hidden", "");
  laterLink?.setAttribute("hidden", "");
  say(message, "error");
}

function showStartError(error) {
  if (error?.shown) {
    say(error.message, "error");
  } else if (error instanceof ApiError && error.code === "backup_disabled") {
    disableBackup(explain(error));
  } else {
    showError(error);
    revealStatus();
  }
}

function openOtp(answer) {
  sentTo.textContent = answer?.otp_sent_to || sentTo.textContent;
  otpInput.value = "";
  setFieldError(otpInput, "");
  $("backup-otp-title").textContent = purpose === "regenerate"
    ? "Confirm your new backup code with the code from your email"
    : "Enter the code from your email";
  actions.hidden = true;
  otpStep.hidden = false;
  setPhase("otp");
  otpInput.focus();
}

function closeOtp() {
  otpStep.hidden = true;
  actions.hidden = false;
  setFieldError(otpInput, "");
  setPhase("idle");
  const back = purpose === "regenerate" ? regenerateButton : activateButton;
  purpose = null;
  back?.focus();
}

async function start(kind, button) {
  clearStatus();
  await whileBusy(button, async () => {
    try {
      const answer = await requestCode(kind);
      purpose = kind;
      clearStatus();
      openOtp(answer);
    } catch (error) {
      showStartError(error);
    }
  }, { others: [activateButton, regenerateButton].filter((other) => other && other !== button) });
  revealStatus();
}

activateButton?.addEventListener("click", () => start("activate", activateButton));
regenerateButton?.addEventListener("click", () => start("regenerate", regenerateButton));

resendButton.addEventListener("click", async () => {
  if (!purpose) return;
  clearStatus();
  await whileBusy(resendButton, async () => {
    try {
      const answer = await requestCode(purpose);
      if (answer?.otp_sent_to) sentTo.textContent = answer.otp_sent_to;
      otpInput.value = "";
      setFieldError(otpInput, "");
      say(`We sent a new code to ${sentTo.textContent}. Only the newest code works.`, "success");
      otpInput.focus();
    } catch (error) {
      showStartError(error);
      if (error instanceof ApiError && error.code === "backup_disabled") otpStep.hidden = true;
    }
  }, { others: [otpInput, confirmButton, cancelButton] });
  revealStatus();
});

cancelButton.addEventListener("click", () => {
  clearStatus();
  closeOtp();
});

// ---- Confirming with the email code ------------------------------------------------------

// How many digits a mailed code has (OTP_DIGITS), from the server.
const OTP_DIGITS = Number(otpInput.dataset.digits);

function otpProblem(value) {
  if (!value) return "Enter the code from the email.";
  if (!/^\d+$/.test(value)) return "The email code has only digits.";
  if (OTP_DIGITS && value.length !== OTP_DIGITS) {
    return `Enter all ${OTP_DIGITS} digits of the code from the email.`;
  }
  return "";
}

function markActive() {
  actions.hidden = true;
  if (stateCard.dataset.active === "true") return; // a new code: nothing else changes
  stateCard.dataset.active = "true";
  stateCard.classList.remove("backup-state--prompt");
  const badge = $("backup-badge");
  if (!badge) $("backup-state-title").textContent = "Backup is active"; // the prompt's heading
  if (badge) {
    badge.className = "badge badge--ok";
    badge.dataset.state = "active";
    badge.textContent = "";
    const dot = document.createElement("span");
    dot.className = "dot";
    dot.setAttribute("aria-hidden", "true");
    badge.append(dot, "Active");
  }
  const summary = $("backup-summary");
  if (summary) summary.textContent = "Active since today.";
}

otpForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus();
  const otp = otpInput.value.replace(/[\s-]+/g, "");
  const problem = otpProblem(otp);
  setFieldError(otpInput, problem);
  if (problem) {
    otpInput.focus();
    return;
  }

  await whileBusy(confirmButton, async () => {
    try {
      const answer = await api("/api/backup/confirm", { body: { otp } });
      const replaced = purpose === "regenerate";
      otpStep.hidden = true;
      markActive();
      setPhase("done");
      $("backup-result").hidden = false;
      const heading = showBackupCode({
        code: answer?.backup_code ?? null,
        username,
        replaced,
        // Mailed backup codes go to the backup address (_backup_email.html), never here.
        emailedTo: $("backup-email-address")?.textContent || sentTo.textContent,
        onContinue: () => window.location.assign(nextUrl),
      });
      if (replaced) {
        say("Your new backup code is ready. The old one no longer works; we sent a notice to your email.",
          "success");
      }
      purpose = null;
      heading.focus();
    } catch (error) {
      if (error instanceof ApiError && error.code === "invalid_code") {
        setFieldError(otpInput, "That code is wrong or has expired.");
        showError(error);
        revealStatus();
      } else if (error instanceof ApiError && error.code === "backup_disabled") {
        otpStep.hidden = true;
        disableBackup(explain(error));
        return;
      } else {
        showError(error);
        revealStatus();
      }
      otpInput.focus();
      otpInput.select();
    }
  }, { others: [otpInput, resendButton, cancelButton] });
  revealStatus();
});

clearErrorOnInput(otpInput);

// ---- Start ------------------------------------------------------------------------------

setPhase("idle");
if (regenerateButton && !isSupported()) {
  // Making a new code may need a passkey sign-in first; say so now rather than halfway.
  $("backup-regenerate-hint").textContent += ` ${explain(new Error("unsupported"))}`;
}
