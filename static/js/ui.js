// Small page helpers shared by the page modules: the status region, busy buttons
// and field errors. No ceremony logic here (that is webauthn.js).

const statusRegion = () => document.getElementById("status");

/**
 * Write a message to the page's #status live region.
 * tone: "info" | "success" | "error" | "progress".
 */
export function setStatus(message, tone = "info") {
  const region = statusRegion();
  if (!region) return;
  region.dataset.tone = tone;
  // Replace the text node so screen readers announce a repeated message too.
  region.textContent = "";
  if (message) {
    const text = document.createElement("p");
    text.textContent = message;
    region.append(text);
  }
}

export function clearStatus() {
  setStatus("");
  delete statusRegion()?.dataset.tone;
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
  for (const control of controls) control.disabled = true;
  button?.classList.add("is-busy");
  let leaving = false;
  try {
    const result = await task();
    leaving = result === LEAVING;
    return result;
  } finally {
    if (!leaving) {
      for (const control of controls) control.disabled = false;
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

export const USERNAME_PATTERN = /^[A-Za-z0-9._-]{3,64}$/;

/** A message for a username that cannot be valid, or "" when it looks fine. */
export function usernameProblem(value) {
  if (!value) return "Enter your username.";
  if (value.length < 3) return "A username has at least 3 characters.";
  if (value.length > 64) return "A username has at most 64 characters.";
  if (!USERNAME_PATTERN.test(value)) {
    return "Use only letters, digits, dots (.), underscores (_) and hyphens (-).";
  }
  return "";
}
