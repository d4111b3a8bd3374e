// The email card on /account (templates/recovery/_email.html):
//   Send a new code      → POST /api/me/email/verify   (a code to confirm the current address)
//   Change address       → POST /api/me/email {email}  (a code to the new address; needs a
//                           user verification within REAUTH_MAX_AGE: on 401 reauth_required a
//                           step-up runs here, then the request is retried)
//   the code             → POST /api/me/email/confirm {otp} → {user}
// Messages, waits included (429 with Retry-After), come from the server through the page's
// shared status region (ui.js). #email-card's data-phase tells tests where the card is:
// "idle" → "otp" (a code is on its way) → "done".

import { ApiError, api, withStepUp } from "./webauthn.js";
import { clearErrorOnInput, clearStatus, setFieldError, setStatus, showError, whileBusy } from "./ui.js";

const $ = (id) => document.getElementById(id);
const card = $("email-card");
const address = $("email-address");
const state = $("email-state");
const note = $("email-unconfirmed-note");
const resendButton = $("email-resend");
const openButton = $("email-change-open");
const changeForm = $("email-change-form");
const newInput = $("email-new");
const sendButton = $("email-change-send");
const cancelButton = $("email-change-cancel");
const otpForm = $("email-otp-form");
const otpInput = $("email-otp");
const otpTo = $("email-otp-to");
const confirmButton = $("email-confirm");

const STEP_UP = "For your safety, confirm it's you: follow your browser's prompt to use your passkey or security key…";

function showOtp(sentTo) {
  otpTo.textContent = sentTo;
  otpInput.value = "";
  setFieldError(otpInput, "");
  otpForm.hidden = false;
  card.dataset.phase = "otp";
  otpInput.focus();
}

function closeChange({ focus = true } = {}) {
  changeForm.hidden = true;
  openButton.setAttribute("aria-expanded", "false");
  setFieldError(newInput, "");
  if (focus) openButton.focus();
}

function markConfirmed(user) {
  address.textContent = user.email;
  card.dataset.verified = "true";
  state.className = "badge badge--ok";
  state.textContent = "";
  const dot = document.createElement("span");
  dot.className = "dot";
  dot.setAttribute("aria-hidden", "true");
  state.append(dot, "Confirmed");
  note.hidden = true;
  resendButton.hidden = true;
  otpForm.hidden = true;
  const idEmail = $("id-email");
  if (idEmail) idEmail.textContent = user.email;
}

resendButton.addEventListener("click", async () => {
  clearStatus();
  await whileBusy(resendButton, async () => {
    try {
      const answer = await api("/api/me/email/verify", { body: {} });
      showOtp(answer?.otp_sent_to ?? address.textContent);
      setStatus(`We sent a new code to ${otpTo.textContent}. Only the newest code works.`, "success");
    } catch (error) {
      showError(error);
    }
  });
});

openButton.addEventListener("click", () => {
  const opening = changeForm.hidden;
  if (!opening) {
    closeChange();
    return;
  }
  changeForm.hidden = false;
  openButton.setAttribute("aria-expanded", "true");
  newInput.focus();
});

cancelButton.addEventListener("click", () => {
  clearStatus();
  closeChange();
});

changeForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus();
  const email = newInput.value.trim();
  if (!email) {
    setFieldError(newInput, "Enter the new email address.");
    newInput.focus();
    return;
  }
  await whileBusy(sendButton, async () => {
    try {
      const answer = await withStepUp(() => api("/api/me/email", { body: { email } }), {
        onStepUp: () => setStatus(STEP_UP, "progress"),
      });
      closeChange({ focus: false });
      showOtp(answer?.otp_sent_to ?? email);
      setStatus(`We sent a code to ${otpTo.textContent}. Enter it to make it your address.`, "success");
    } catch (error) {
      if (error instanceof ApiError && error.code === "invalid_input") {
        setFieldError(newInput, error.message);
        newInput.focus();
      }
      showError(error);
    }
  }, { others: [newInput, cancelButton] });
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
      const answer = await withStepUp(() => api("/api/me/email/confirm", { body: { otp } }), {
        onStepUp: () => setStatus(STEP_UP, "progress"),
      });
      markConfirmed(answer.user);
      card.dataset.phase = "done";
      setStatus(`Your email address ${answer.user.email} is confirmed.`, "success");
      $("email-title").focus();
    } catch (error) {
      if (error instanceof ApiError && error.code === "invalid_code") {
        setFieldError(otpInput, error.message);
      }
      showError(error);
      otpInput.focus();
      otpInput.select();
    }
  }, { others: [otpInput] });
});

clearErrorOnInput(newInput, otpInput);
for (const button of [resendButton, openButton, confirmButton]) button.disabled = false;
