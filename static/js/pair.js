// /pair/<token>: the new device's side of a QR pairing.
//
//   POST /api/pairing/<token>/begin {device_name}      → {publicKey, confirmation}
//   navigator.credentials.create()
//   POST /api/pairing/<token>/complete {…, device_name} → 202 {status: "awaiting_approval"}
//   GET  /api/pairing/<token> every 2 s                  → "approved" (with this browser's new
//                                                           session cookie) | "rejected" | "expired"
// A 404 anywhere: the code is not valid any more (expired, or another browser used it).
// The server renders the state on load: an ended or unknown link comes without the form, and a
// reload while waiting comes back waiting (data-phase "waiting"), so polling resumes.
//
// #pair-page's data-phase tells tests where it is:
// "start" → "creating" → "waiting" → "approved" | "rejected" | "expired" | "invalid".

import {
  ApiError, api, createCredential, defaultDeviceName, isSupported, signalUnknownCredential,
} from "./webauthn.js";
import { explain } from "./messages.js";
import { LEAVING, clearStatus, setStatus, showError, whileBusy } from "./ui.js";

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);

const page = $("pair-page");
const form = $("pair-form");
const nameInput = $("pair-device-name");
const createButton = $("pair-create");
const codeBox = $("pair-code-box");
const code = $("pair-code");
const waiting = $("pair-waiting");
const outcome = $("pair-outcome");

const token = page.dataset.token;
const base = `/api/pairing/${encodeURIComponent(token)}`;

let created = null; // {id, rpId} of the passkey made here, to tell the browser if it is deleted
let pollTimer = null;

const setPhase = (phase) => { page.dataset.phase = phase; };

function setStep(step) {
  for (const item of document.querySelectorAll("#pair-steps .steps__item")) {
    const n = Number(item.dataset.step);
    if (n < step) item.dataset.done = "";
    else delete item.dataset.done;
    if (n === step) item.setAttribute("aria-current", "step");
    else item.removeAttribute("aria-current");
  }
}

// The page's own texts for each ending (the template holds the only copy).
const OUTCOMES = Object.fromEntries(
  [...document.querySelectorAll("#pair-outcome-texts [data-kind]")].map((item) => [
    item.dataset.kind, [item.dataset.title, item.textContent.trim()],
  ]),
);

function end(kind) {
  clearTimeout(pollTimer);
  setPhase(kind);
  clearStatus();
  const [title, text] = OUTCOMES[kind];
  $("pair-outcome-title").textContent = title;
  $("pair-outcome-text").textContent = text;
  if (form) form.hidden = true;
  codeBox.hidden = true;
  waiting.hidden = true;
  outcome.hidden = false;
  outcome.dataset.kind = kind;
  $("pair-outcome-title").focus();
  // The server deleted the passkey made here: the browser may forget it too.
  if (created && kind !== "invalid") signalUnknownCredential(created.id, created.rpId);
}

// ---- waiting for approval ------------------------------------------------------------------

function schedulePoll() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(poll, POLL_MS);
}

async function poll() {
  let answer;
  try {
    answer = await api(base, { method: "GET" });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) end("invalid");
    else schedulePoll(); // a network hiccup: keep trying
    return;
  }
  switch (answer?.status) {
    case "approved":
      // This answer carried the new session cookie.
      setPhase("approved");
      setStep(4);
      setStatus("Approved. Taking you to your account…", "success");
      window.location.assign("/account");
      return;
    case "rejected":
    case "expired":
      end(answer.status);
      return;
    default:
      schedulePoll();
  }
}

function startWaiting() {
  setPhase("waiting");
  setStep(3);
  if (form) form.hidden = true;
  waiting.hidden = false;
  $("pair-waiting-title").focus();
  schedulePoll();
}

// ---- create the passkey --------------------------------------------------------------------

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus();
  const deviceName = nameInput.value.trim();
  const body = deviceName ? { device_name: deviceName } : {};

  await whileBusy(createButton, async () => {
    try {
      setPhase("creating");
      const options = await api(`${base}/begin`, { body });
      if (options?.confirmation) {
        code.textContent = options.confirmation;
        codeBox.hidden = false;
        setStep(2);
      }
      setStatus("Follow your browser's prompt to create a passkey on this device…", "progress");
      const credential = await createCredential(options);
      created = { id: credential.id, rpId: options?.publicKey?.rp?.id ?? null };
      setStatus("Saving…", "progress");
      await api(`${base}/complete`, { body: { ...credential, ...body } });
      clearStatus();
      startWaiting();
      return LEAVING; // the form is gone; its controls stay disabled
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        end("invalid");
        return LEAVING;
      }
      setPhase("start");
      showError(error);
      return undefined;
    }
  }, { others: [nameInput] });
});

// ---- start ---------------------------------------------------------------------------------

if (page.dataset.phase === "waiting") {
  // A reload while waiting for approval: keep polling.
  schedulePoll();
} else if (form) {
  nameInput.value = defaultDeviceName();
  if (isSupported()) {
    createButton.disabled = false;
  } else {
    setStatus(explain(new Error("unsupported")), "error");
  }
}
