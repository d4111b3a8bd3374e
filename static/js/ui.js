// Small page helpers shared by the page modules: the status region, the one way to show an
// API error (with a live countdown when the server asks to wait), busy buttons and field
// errors. No ceremony logic here (that is webauthn.js), and no words for errors (messages.js).

import { explain, retryWait } from "./messages.js";

const statusRegion = () => document.getElementById("status");

/** Replace `region`'s message; returns the new paragraph (or null for no message). */
function writeStatus(region, message, tone) {
  if (!region) return null;
  region.dataset.tone = tone;
  // Replace the text node so screen readers announce a repeated message too.
  region.textContent = "";
  if (!message) return null;
  const text = document.createElement("p");
  text.textContent = message;
  region.append(text);
  return text;
}

/**
 * Write a message to the page's #status live region.
 * tone: "info" | "success" | "error" | "progress".
 */
export function setStatus(message, tone = "info") {
  writeStatus(statusRegion(), message, tone);
}

export function clearStatus() {
  setStatus("");
  delete statusRegion()?.dataset.tone;
}

// ---- waiting out a 429 or 503 ------------------------------------------------------------

// The countdown on screen: {clock, region, until, controls, timer}. One at a time: a new
// error ends the previous wait.
let wait = null;

/** "42 s", "4 min 05 s", "1 h 02 min". */
function countdownText(seconds) {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, "0")} s`;
  return `${Math.floor(seconds / 3600)} h ${String(Math.floor(seconds / 60) % 60).padStart(2, "0")} min`;
}

function endWait() {
  if (!wait) return;
  const { clock, region, controls, timer } = wait;
  wait = null;
  clearInterval(timer);
  for (const control of controls) control.disabled = false;
  // Say so, unless something else has been shown there since.
  if (clock.isConnected) writeStatus(region, "You can try again now.", "info");
  const focus = document.activeElement;
  const first = [...controls].find((control) => control.isConnected);
  if (first && (!focus || focus === document.body)) first.focus();
}

function tick() {
  if (!wait) return;
  const left = Math.ceil((wait.until - Date.now()) / 1000);
  if (left <= 0) {
    endWait();
    return;
  }
  wait.clock.textContent = `Try again in ${countdownText(left)}.`;
  wait.clock.dataset.seconds = String(left);
}

/**
 * Show an error from api() or a ceremony in the page's status region (or `region`), in the
 * words of explain(). A 429 or 503 that says how long to wait (Retry-After) shows the
 * server's message and a live countdown, "Try again in 42 s."; `controls`, and the buttons
 * of the whileBusy task it happens in, stay disabled until the countdown reaches 0.
 */
export function showError(error, { context = "", region = statusRegion(), controls = [] } = {}) {
  endWait();
  const seconds = retryWait(error);
  if (!seconds) {
    writeStatus(region, explain(error, context), "error");
    return;
  }
  const text = writeStatus(region, `${explain(error, context, { withWait: false })} `, "error");
  if (!text) return;
  const clock = document.createElement("span");
  clock.className = "status-countdown";
  // Read on demand, not announced every second; the end is announced.
  clock.setAttribute("role", "timer");
  clock.setAttribute("aria-live", "off");
  text.append(clock);
  wait = {
    clock, region, until: Date.now() + seconds * 1000, controls: new Set(controls), serial: Symbol("wait"),
  };
  for (const control of wait.controls) control.disabled = true;
  wait.timer = setInterval(tick, 250);
  tick();
}

/** Return this from a whileBusy task that ends by leaving the page: controls stay disabled. */
export const LEAVING = Symbol("leaving");

/**
 * Run `task` with `button` (and any `others`) disabled and showing a spinner;
 * afterwards re-enable them and, if focus was lost while disabled, put it back.
 */
export async function whileBusy(button, task, { others = [] } = {}) {
  const controls = [button, ...others].filter(Boolean);
  const hadFocus = document.activeElement === button;
  const waitBefore = wait?.serial;
  for (const control of controls) control.disabled = true;
  button?.classList.add("is-busy");
  let leaving = false;
  try {
    const result = await task();
    leaving = result === LEAVING;
    return result;
  } finally {
    if (!leaving) {
      if (wait && wait.serial !== waitBefore) {
        // The task showed a countdown (showError): its buttons wait until it ends.
        for (const control of controls) wait.controls.add(control);
      } else {
        for (const control of controls) control.disabled = false;
      }
      button?.classList.remove("is-busy");
      // A disabled button drops focus; give it back unless the task moved it on purpose.
      const focus = document.activeElement;
      if (hadFocus && button.isConnected && (!focus || focus === document.body || focus === button)) {
        button.focus();
      }
    }
  }
}

function errorElement(input) {
  const id = `${input.id}-error`;
  let element = document.getElementById(id);
  if (!element) {
    element = document.createElement("p");
    element.id = id;
    element.className = "field-error";
    element.hidden = true;
    (input.closest(".field") ?? input.parentElement).append(element);
  }
  return element;
}

/** Mark `input` invalid with a visible, announced message (or clear it with ""). */
export function setFieldError(input, message) {
  const element = errorElement(input);
  const described = new Set((input.getAttribute("aria-describedby") ?? "").split(/\s+/).filter(Boolean));
  if (message) {
    element.textContent = message;
    element.hidden = false;
    input.setAttribute("aria-invalid", "true");
    described.add(element.id);
  } else {
    element.textContent = "";
    element.hidden = true;
    input.removeAttribute("aria-invalid");
    described.delete(element.id);
  }
  if (described.size) input.setAttribute("aria-describedby", [...described].join(" "));
  else input.removeAttribute("aria-describedby");
}

/** Clear a field's error as soon as the person edits it. */
export function clearErrorOnInput(...inputs) {
  for (const input of inputs) {
    input?.addEventListener("input", () => {
      if (input.getAttribute("aria-invalid") === "true") setFieldError(input, "");
    });
  }
}

const PERCENT_ESCAPE = /%([0-9A-Fa-f]{2})/g;
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * `value` if it is a path on this site, else `fallback`. Pages get the server's verdict
 * (core.web.safe_next_path, rendered into data-next); this is the same rule, as a fallback:
 * it must start with "/" and hold no "//", backslash or control character (browsers drop
 * tabs and newlines and read "\\" as "/"), also after decoding percent-escapes.
 */
export function safeLocalPath(value, fallback = "/account") {
  if (typeof value !== "string" || !value) return fallback;
  let layer = value;
  for (;;) {
    if (!layer.startsWith("/") || layer.includes("//") || layer.includes("\\") || CONTROL.test(layer)) {
      return fallback;
    }
    const decoded = layer.replace(PERCENT_ESCAPE, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
    if (decoded === layer) return value; // each pass shortens the value, so this ends
    layer = decoded;
  }
}

/**
 * A message for the username in `input` (trimmed) that cannot be valid, or "" when it looks
 * fine. The rule is the server's (core.users.USERNAME), rendered into the input's minlength,
 * maxlength and pattern; browsers compile a pattern in "v" mode.
 */
export function usernameProblem(input) {
  const value = input.value.trim();
  const { minLength, maxLength, pattern } = input;
  if (!value) return "Enter your username.";
  if (minLength > 0 && value.length < minLength) return `A username has at least ${minLength} characters.`;
  if (maxLength >= 0 && value.length > maxLength) return `A username has at most ${maxLength} characters.`;
  if (pattern && !new RegExp(`^(?:${pattern})$`, "v").test(value)) {
    return "Use only letters, digits, dots (.), underscores (_) and hyphens (-).";
  }
  return "";
}
