// The backup address on /account/backup (templates/recovery/_backup_email.html), under
// BACKUP_CODE_DELIVERY=email:
//   Send a code → POST /api/me/backup-email {email} (needs a user verification within
//                 REAUTH_MAX_AGE: on 401 reauth_required a step-up runs here, then a retry)
//   the code    → POST /api/me/backup-email/confirm {otp} → {user}
// Messages (waits included) come from the server, through the page's shared status region.

import { ApiError, api, withStepUp } from "./webauthn.js";
import { clearErrorOnInput, clearStatus, setFieldError, setStatus, showError, whileBusy } from "./ui.js";

const $ = (id) => document.getElementById(id);
const card = $("backup-email-card");
const form = $("backup-email-form");
const input = $("backup-email-new");
const sendButton = $("backup-email-send");
const otpForm = $("backup-email-otp-form");
const otpInput = $("backup-email-otp");
const confirmButton = $("backup-email-confirm");

const STEP_UP = "For your safety, confirm it's you: follow your browser's prompt to use your passkey or security key…";
const stepUp = { onStepUp: () => setStatus(STEP_UP, "progress") };

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus();
  const email = input.value.trim();
  if (!email) {
    setFieldError(input, "Enter the backup email address.");
    input.focus();
    return;
  }
  await whileBusy(sendButton, async () => {
    try {
      const answer = await withStepUp(() => api("/api/me/backup-email", { body: { email } }), stepUp);
      $("backup-email-otp-to").textContent = answer?.otp_sent_to ?? email;
      otpForm.hidden = false;
      card.dataset.phase = "otp";
      setStatus(`We sent a code to ${answer?.otp_sent_to ?? email}.`, "success");
      otpInput.focus();
    } catch (error) {
      if (error instanceof ApiError && error.code === "invalid_input") setFieldError(input, error.message);
      showError(error);
      input.focus();
    }
  }, { others: [input] });
});

otpForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus();
  const otp = otpInput.value.replace(/[\s-]+/g, "");
  if (!otp) {
    setFieldError(otpInput, "Enter the code from the email.");
    otpInput.focus();
    return;
  }
  await whileBusy(confirmButton, async () => {
    try {
      const answer = await withStepUp(
        () => api("/api/me/backup-email/confirm", { body: { otp } }), stepUp,
      );
      $("backup-email-address").textContent = answer.user.backup_email;
      const state = $("backup-email-state");
      state.className = "badge badge--ok";
      state.textContent = "Confirmed";
      card.dataset.set = "true";
      card.dataset.phase = "done";
      otpForm.hidden = true;
      input.value = "";
      setStatus(`Your backup code will be emailed to ${answer.user.backup_email}.`, "success");
      $("backup-email-title").focus();
    } catch (error) {
      if (error instanceof ApiError && error.code === "invalid_code") setFieldError(otpInput, error.message);
      showError(error);
      otpInput.focus();
    }
  }, { others: [otpInput] });
});

clearErrorOnInput(input, otpInput);
sendButton.disabled = false;
