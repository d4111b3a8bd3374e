// The account page's "Add a device with a QR code" (#pair-start → #pair-panel).
//
//   POST /api/pairing {}            (step-up when asked) → {token, url, qr_svg, expires_at}
//   GET  /api/pairing/<token>       every 2 s → waiting | awaiting_approval | approved | rejected | expired
//   POST /api/pairing/<token>/approve {confirmation}   (step-up when asked)   or   …/reject {}
//
// The number is typed here from the new device's screen (the server never tells this page):
// a wrong one answers 400 wrong_confirmation; too many, 409 pairing_rejected (its passkey gone).
//
// #pair-panel's data-state tells tests where it is:
// "waiting" → "awaiting_approval" → "approved" | "rejected" | "expired" | "invalid".

import { ApiError, api, describeUserAgent, withStepUp } from "./webauthn.js";
import { clearErrorOnInput, setFieldError, showError, whileBusy } from "./ui.js";
import { parseInstant } from "./times.js";

const POLL_MS = 2000;
const STEP_UP_TEXT = "For your safety, confirm it's you with your passkey or security key…";

const $ = (id) => document.getElementById(id);

/** The server's SVG as an <img> source: CSP-safe (img-src allows data:), and inert. */
function svgDataUrl(svg) {
  const bytes = new TextEncoder().encode(svg);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return `data:image/svg+xml;base64,${btoa(binary)}`;
}

function minutesSeconds(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, "0")}`;
}

export function setupPairing({ onDevicesChanged = () => {} } = {}) {
  const startButton = $("pair-start");
  const panel = $("pair-panel");
  if (!startButton || !panel) return;

  const status = $("pair-status");
  const qrBox = panel.querySelector(".pair-qr");
  const qr = $("pair-qr");
  const url = $("pair-url");
  const copyButton = $("pair-copy");
  const expires = $("pair-expires");
  const expiresText = $("pair-expires-text");
  const instructions = $("pair-instructions");
  const stateText = $("pair-state-text");
  const approval = $("pair-approval");
  const approveButton = $("pair-approve");
  const confirmationInput = $("pair-confirmation");
  const rejectButton = $("pair-reject");
  const result = $("pair-result");
  const closeButton = $("pair-close");

  let session = null; // the pairing on screen: {token, expiresAt, pollTimer, tickTimer, done}

  function say(message, tone = "info") {
    if (!status) return;
    status.textContent = "";
    if (message) {
      const text = document.createElement("p");
      text.textContent = message;
      status.append(text);
      status.dataset.tone = tone;
    } else {
      delete status.dataset.tone;
    }
  }

  function setState(state) {
    panel.dataset.state = state;
  }

  function stop(current = session) {
    if (!current) return;
    clearTimeout(current.pollTimer);
    clearInterval(current.tickTimer);
    current.done = true;
  }

  // ---- countdown ----------------------------------------------------------------------

  function tick(current) {
    if (current !== session || current.done) return;
    const left = current.expiresAt - Date.now();
    if (left <= 0) {
      expiresText.textContent = "This code has expired.";
      expires.dataset.expired = "true";
      clearInterval(current.tickTimer);
      poll(current); // the server has the last word
      return;
    }
    expires.dataset.expired = "false";
    expires.dataset.soon = left < 60 * 1000 ? "true" : "false";
    expiresText.textContent = `Expires in ${minutesSeconds(left)}`;
  }

  // ---- polling ------------------------------------------------------------------------

  function schedule(current) {
    clearTimeout(current.pollTimer);
    if (!current.done) current.pollTimer = setTimeout(() => poll(current), POLL_MS);
  }

  async function poll(current) {
    if (current !== session || current.done) return;
    clearTimeout(current.pollTimer);
    let answer;
    try {
      answer = await api(`/api/pairing/${encodeURIComponent(current.token)}`, { method: "GET" });
    } catch (error) {
      if (current !== session || current.done) return;
      if (error instanceof ApiError && error.status === 404) {
        finish(current, "invalid");
      } else if (error instanceof ApiError && error.status === 401) {
        stop(current); // signed out: live.js says so
      } else {
        schedule(current); // a network hiccup: keep trying
      }
      return;
    }
    if (current !== session || current.done) return;
    show(current, answer);
  }

  function show(current, answer) {
    switch (answer?.status) {
      case "awaiting_approval":
        if (panel.dataset.state !== "awaiting_approval") askApproval(current, answer);
        break;
      case "approved":
      case "rejected":
      case "expired":
        finish(current, answer.status, answer.device);
        return;
      default:
        stateText.textContent = "Waiting for the new device to open the link…";
    }
    schedule(current);
  }

  function askApproval(current, answer) {
    const device = answer.device ?? {};
    setState("awaiting_approval");
    $("pair-new-name").textContent = device.name || "New device";
    const browser = $("pair-new-browser");
    browser.textContent = describeUserAgent(device.user_agent) || device.user_agent || "Unknown browser";
    browser.title = device.user_agent || "";
    $("pair-new-ip").textContent = device.ip || "unknown";
    confirmationInput.value = "";
    setFieldError(confirmationInput, "");
    current.deviceName = device.name || "";
    qrBox.hidden = true;
    instructions.hidden = true;
    approval.hidden = false;
    approveButton.disabled = false;
    rejectButton.disabled = false;
    confirmationInput.disabled = false;
    confirmationInput.focus();
    onDevicesChanged(); // the new device is in the list, waiting for approval
  }

  const OUTCOMES = {
    approved: (name) => [`“${name || "The new device"}” was added to your ID. It can sign in now.`, "success"],
    rejected: () => ["You rejected the new device. Its passkey was deleted from your ID.", "info"],
    // The server's own message (too many wrong numbers) replaces this one.
    refused: () => ["The new device was rejected. Its passkey was deleted from your ID.", "error"],
    expired: () => ["The pairing code expired before a new device was approved. Start again to add a device.", "error"],
    invalid: () => ["This pairing code is not valid any more. Start again to add a device.", "error"],
  };

  function finish(current, outcome, device = null, message = "") {
    if (current.done) return;
    stop(current);
    setState(outcome === "refused" ? "rejected" : outcome);
    const hadDevice = !approval.hidden;
    qrBox.hidden = true;
    instructions.hidden = true;
    approval.hidden = true;
    const [fallback, tone] = OUTCOMES[outcome](device?.name || current.deviceName);
    const text = message || fallback;
    result.textContent = text;
    result.dataset.tone = tone;
    say("");
    startButton.disabled = false;
    closeButton.focus();
    if (outcome === "approved" || hadDevice) onDevicesChanged();
  }

  // ---- start, approve, reject, close ---------------------------------------------------

  function open(created) {
    stop();
    // The server's expiry; failing that, its PAIRING_TTL rendered into the page.
    const expiresAt = parseInstant(created.expires_at)?.getTime() ?? Date.now() + Number(panel.dataset.ttl) * 1000;
    const current = { token: created.token, expiresAt, pollTimer: null, tickTimer: null, done: false, deviceName: "" };
    session = current;

    if (typeof created.qr_svg === "string" && created.qr_svg) {
      qr.src = svgDataUrl(created.qr_svg);
      qr.hidden = false;
    } else {
      qr.hidden = true;
    }
    url.textContent = created.url;
    result.textContent = "";
    delete result.dataset.tone;
    qrBox.hidden = false;
    instructions.hidden = false;
    approval.hidden = true;
    stateText.textContent = "Waiting for the new device to open the link…";
    setState("waiting");
    panel.hidden = false;
    tick(current);
    current.tickTimer = setInterval(() => tick(current), 1000);
    schedule(current);
    $("pair-panel-title").focus();
    panel.scrollIntoView({ block: "nearest" });
  }

  startButton.addEventListener("click", async () => {
    say("");
    await whileBusy(startButton, async () => {
      try {
        const created = await withStepUp(() => api("/api/pairing", { body: {} }), {
          onStepUp: () => say(STEP_UP_TEXT, "progress"),
        });
        say("");
        open(created);
      } catch (error) {
        showError(error, { context: "pairing", region: status });
      }
    });
  });

  approveButton.addEventListener("click", async () => {
    const current = session;
    if (!current || current.done) return;
    say("");
    const confirmation = confirmationInput.value.replace(/\s+/g, "");
    if (!/^\d{2}$/.test(confirmation)) {
      setFieldError(confirmationInput, "Type the 2-digit number the new device shows.");
      confirmationInput.focus();
      return;
    }
    clearTimeout(current.pollTimer); // no poll racing the decision
    await whileBusy(approveButton, async () => {
      try {
        const answer = await withStepUp(
          () => api(`/api/pairing/${encodeURIComponent(current.token)}/approve`, {
            body: { confirmation },
          }),
          { onStepUp: () => say(STEP_UP_TEXT, "progress") },
        );
        finish(current, "approved", answer?.device);
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          poll(current); // decided elsewhere, expired, or gone: the status says which
          return;
        }
        if (error instanceof ApiError && error.code === "pairing_rejected") {
          finish(current, "refused", null, error.message);
          return;
        }
        if (error instanceof ApiError && error.code === "wrong_confirmation") {
          setFieldError(confirmationInput, error.message);
          confirmationInput.select();
        } else {
          showError(error, { context: "pairing", region: status });
        }
        schedule(current);
      }
    }, { others: [rejectButton, confirmationInput] });
    if (!current.done && confirmationInput.getAttribute("aria-invalid") === "true") {
      confirmationInput.focus();
    }
  });

  rejectButton.addEventListener("click", async () => {
    const current = session;
    if (!current || current.done) return;
    say("");
    clearTimeout(current.pollTimer);
    await whileBusy(rejectButton, async () => {
      try {
        await api(`/api/pairing/${encodeURIComponent(current.token)}/reject`, { body: {} });
        finish(current, "rejected");
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          poll(current);
          return;
        }
        showError(error, { context: "pairing", region: status });
        schedule(current);
      }
    }, { others: [approveButton] });
  });

  copyButton.addEventListener("click", async () => {
    const label = copyButton.querySelector(".btn-label");
    const text = url.textContent;
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch {
      // No clipboard access: select the link so the person can copy it.
      const range = document.createRange();
      range.selectNodeContents(url);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    if (label) {
      label.textContent = copied ? "Copied" : "Selected: press Ctrl+C";
      setTimeout(() => { label.textContent = "Copy link"; }, 2500);
    }
  });

  closeButton.addEventListener("click", () => {
    // Closing an unfinished pairing cancels it, so it no longer holds one of the 3 slots.
    if (session && !session.done) {
      api(`/api/pairing/${encodeURIComponent(session.token)}/reject`, { body: {} }).catch(() => {});
    }
    stop();
    session = null;
    panel.hidden = true;
    say("");
    startButton.focus();
  });

  clearErrorOnInput(confirmationInput);
  confirmationInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !approveButton.disabled) {
      event.preventDefault();
      approveButton.click();
    }
  });
  document.addEventListener("keystead:session-ended", () => stop());

  startButton.disabled = false;
}
