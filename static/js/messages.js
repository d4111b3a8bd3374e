// Words for people about what went wrong: the one module that holds the client's own.
//
// Every refusal from Keystead's API carries its message ({"error": code, "message": text});
// the server owns that text and the pages show it as it is, so a new wording (or a
// translation) is made once, on the server. This module words only what the server can never
// say: no connection, an answer that is not Keystead's (a proxy's 502 page), and what the
// browser's passkey dialog reports (cancelled, not supported, already registered…).

import { ApiError, isSupported } from "./webauthn.js";

const STEP_UP_FAILED = "We could not confirm it's you, so nothing was changed.";
const NETWORK = "Could not reach the server. Check your connection and try again.";
const SERVER_DOWN = "Something went wrong on the server. Please try again in a moment.";
const SOMETHING = "Something went wrong. Please try again.";

// What the browser's passkey dialog reports (a DOMException's name).
const CEREMONY = {
  NotAllowedError: "The request was cancelled or timed out. Try again.",
  AbortError: "The request was cancelled.",
  InvalidStateError: "This device or security key already has a passkey for this site. " +
    "Use a different one, or sign in with it instead.",
  SecurityError: "Your browser refused because this page's address does not match the server's " +
    "settings. Open the site at its usual address and try again.",
  NotSupportedError: "This passkey or security key does not support what this site needs. " +
    "Try another one.",
  ConstraintError: "Your device could not verify it's you (for example, no screen lock or PIN is " +
    "set up). Set one up, or try another passkey or security key.",
  TypeError: "The server sent something this browser could not read. Reload the page and try again.",
  UnknownError: "Your passkey or security key reported an error. Try again.",
};

// The same reports where the page needs other words (`context` of explain()).
const IN_CONTEXT = {
  // /recover, step 3: the emailed code was accepted; a new passkey is being made.
  recovery: {
    NotAllowedError: "The request was cancelled or timed out. You can try again; you do not need " +
      "a new email code.",
    InvalidStateError: "This device or security key already has a passkey for your ID. If you " +
      "forgot its PIN, delete that passkey first (see “I forgot the PIN” below) and try again, " +
      "or use another one.",
  },
};

/** "in about 5 minutes" for a Retry-After of 300 seconds. */
export function waitPhrase(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0) return "";
  if (seconds < 60) return seconds === 1 ? "in 1 second" : `in ${seconds} seconds`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 60) return minutes === 1 ? "in about a minute" : `in about ${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  return hours === 1 ? "in about an hour" : `in about ${hours} hours`;
}

/** Seconds the server asked to wait: the Retry-After of a 429 or 503, else 0. */
export function retryWait(error) {
  const seconds = error instanceof ApiError && [429, 503].includes(error.status) ? error.retryAfter : null;
  return typeof seconds === "number" && Number.isFinite(seconds) && seconds > 0 ? Math.ceil(seconds) : 0;
}

/**
 * Turn any error from a ceremony or the API into a sentence a person understands: the
 * server's own message when it sent one, else this module's words.
 * `context` ("recovery") picks other words for what the passkey dialog reports.
 * An error from a step-up (see withStepUp) says that nothing was changed.
 * A 429 or 503 with Retry-After adds the wait ("Try again in 5 seconds."); `withWait: false`
 * leaves it out for showError's live countdown (ui.js).
 */
export function explain(error, context = "", { withWait = true } = {}) {
  const wait = retryWait(error);
  let text = explainOne(error, context);
  if (wait && withWait) text = `${text} Try again ${waitPhrase(wait)}.`;
  return error?.stepUp ? `${STEP_UP_FAILED} ${text}` : text;
}

function explainOne(error, context) {
  if (error instanceof ApiError) {
    if (error.fromServer) return error.message;
    if (error.status === 0) return NETWORK;
    return error.status >= 500 ? SERVER_DOWN : SOMETHING;
  }

  if (!isSupported()) {
    return window.isSecureContext === false
      ? "Passkeys need a secure connection. Open this site over https (or on localhost)."
      : "This browser does not support passkeys. Use a recent version of Chrome, Edge, Safari or Firefox.";
  }
  const name = error?.name;
  return own(own(IN_CONTEXT, context), name) ?? own(CEREMONY, name) ?? SOMETHING;
}

function own(table, key) {
  return table && typeof key === "string" && Object.hasOwn(table, key) ? table[key] : undefined;
}
