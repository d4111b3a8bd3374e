// /embed/signin: the sign-in a website embeds (<keystead-signin mode="inline">, static/embed.js).
//
// On a click: POST /api/embed/begin (the website's request, from the page) → the browser's
// passkey prompt → POST /api/embed/complete with the transaction. The code goes to the
// website's page with postMessage, targeted at exactly the origin the server verified (the
// browser's topOrigin, one of the website's registered origins), never "*". A website that is
// not trusted first gets the consent question (POST /api/embed/consent).
//
// When the browser does not say which page the frame is in (no topOrigin in the client data,
// e.g. Safari), or the server refuses that page, the frame asks the component to use the
// popup instead: {type: "keystead-fallback"} posted to each of the website's registered
// origins (the browser drops it for every origin but the page's).
//
// main#frame's data-step tells tests where it is: "sign-in" → "consent" → "done", or
// "fallback".

import { ApiError, api, fromBase64url, getCredential, isSupported } from "./webauthn.js";
import { explain } from "./messages.js";
import { LEAVING, clearStatus, setStatus, showError, whileBusy } from "./ui.js";

const SIGNIN = "keystead-signin";
const FALLBACK = "keystead-fallback";
const RESIZE = "keystead-resize";

const frame = document.getElementById("frame");
const request = JSON.parse(document.getElementById("embed-request").textContent);
const origins = JSON.parse(document.getElementById("embed-origins").textContent);
const signInButton = document.getElementById("passkey-signin");
const consentForm = document.getElementById("consent");
const allowButton = document.getElementById("consent-allow");
const denyButton = document.getElementById("consent-deny");

let consentTransaction = null;
let stopWatching = () => {};

function show(step) {
  frame.dataset.step = step;
  for (const id of ["sign-in", "consent", "done"]) {
    document.getElementById(id).hidden = id !== step;
  }
}

/** The page the browser says the frame runs in (clientData topOrigin), or null. */
function topOriginOf(credential) {
  try {
    const bytes = fromBase64url(credential.response.clientDataJSON);
    const clientData = JSON.parse(new TextDecoder().decode(bytes));
    return typeof clientData.topOrigin === "string" ? clientData.topOrigin : null;
  } catch {
    return null;
  }
}

/**
 * Tell the website's page something that is no secret (before the server has verified which
 * page it is): posted to each of the website's registered origins, so only its own page,
 * whichever it is, hears it.
 */
function toEveryOrigin(message) {
  if (window.parent === window) return;
  for (const origin of origins) {
    try {
      window.parent.postMessage(message, origin);
    } catch {
      // Not a valid target: the next one may be.
    }
  }
}

/** Ask the component to use the popup. */
function fallBack() {
  frame.dataset.step = "fallback";
  toEveryOrigin({ type: FALLBACK });
  setStatus("Continue in the window that opens from the website's button.", "info");
}

// The component sizes the frame to its content (the consent question is taller).
new ResizeObserver(() => {
  toEveryOrigin({ type: RESIZE, height: document.body.getBoundingClientRect().height });
}).observe(document.body);

/** The code (or the refusal) to the website's page at the origin the server verified. */
function deliver(answer) {
  const message = { type: SIGNIN, state: answer.state ?? null, iss: answer.iss };
  if (typeof answer.code === "string") {
    message.code = answer.code;
  } else {
    message.error = answer.error;
  }
  window.parent.postMessage(message, answer.origin);
  clearStatus();
  document.getElementById("done-text").textContent = message.code
    ? "Signed in." : "You did not allow it. Nothing was shared.";
  show("done");
  return LEAVING;
}

// ---- consent ----------------------------------------------------------------------

/**
 * The consent buttons work only while they are seen whole, and only after a moment: a page
 * that hides, fades or covers the frame (clickjacking) gets no click through. Where the
 * browser can tell (IntersectionObserver v2), "seen" means nothing covers or fades them.
 * Returns a function that stops watching.
 */
function armWhileVisible(buttons) {
  const enable = (on) => { for (const button of buttons) button.disabled = !on; };
  enable(false);
  if (typeof window.IntersectionObserver !== "function") {
    const timer = setTimeout(() => enable(true), 800);
    return () => clearTimeout(timer);
  }
  let timer = null;
  const observer = new IntersectionObserver((entries) => {
    const entry = entries[entries.length - 1];
    const visible = entry.isIntersecting && ("isVisible" in entry ? entry.isVisible : true);
    clearTimeout(timer);
    enable(false);
    if (visible) timer = setTimeout(() => enable(true), 500);
  }, { threshold: [1.0], trackVisibility: true, delay: 100 });
  // The buttons' row, not a button: a disabled button is drawn faded, which counts as not
  // visible.
  observer.observe(buttons[0].parentElement);
  return () => {
    clearTimeout(timer);
    observer.disconnect();
  };
}

function askConsent(answer) {
  consentTransaction = answer.transaction;
  const { website, origin, scopes } = answer.consent;
  document.getElementById("consent-website").textContent = website;
  document.getElementById("consent-origin").textContent = origin;
  const list = document.getElementById("consent-scopes");
  list.replaceChildren(...scopes.map((scope) => {
    const item = document.createElement("li");
    item.textContent = scope.text;
    item.dataset.scope = scope.name;
    return item;
  }));
  clearStatus();
  show("consent");
  stopWatching = armWhileVisible([allowButton, denyButton]);
  allowButton.focus();
  return LEAVING;
}

consentForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const button = event.submitter === denyButton ? denyButton : allowButton;
  const other = button === allowButton ? denyButton : allowButton;
  if (button.disabled) return;
  stopWatching();
  clearStatus();
  whileBusy(button, async () => {
    try {
      const answer = await api("/api/embed/consent", {
        body: { transaction: consentTransaction, decision: button.value },
      });
      return deliver(answer);
    } catch (error) {
      showError(error);
      return undefined;
    }
  }, { others: [other] });
});

// ---- sign in ----------------------------------------------------------------------

signInButton.addEventListener("click", () => {
  clearStatus();
  whileBusy(signInButton, async () => {
    setStatus("Follow your browser's prompt to use your passkey or security key…", "progress");
    try {
      const begun = await api("/api/embed/begin", { body: request });
      const credential = await getCredential(begun);
      if (!topOriginOf(credential)) {
        fallBack();
        return undefined;
      }
      setStatus("Signing you in…", "progress");
      const answer = await api("/api/embed/complete", {
        body: { ...credential, transaction: begun.transaction },
      });
      return answer.consent ? askConsent(answer) : deliver(answer);
    } catch (error) {
      if (error instanceof ApiError && error.code === "embed_origin_refused") {
        fallBack();
        return undefined;
      }
      showError(error);
      return undefined;
    }
  });
});

// ---- start ------------------------------------------------------------------------

if (window.parent === window) {
  // Opened on its own, not in a website's page: there is nobody to hand a code to.
  setStatus("Open this sign-in from the website's page.", "info");
} else if (!isSupported()) {
  setStatus(explain(new Error("unsupported")), "error");
  fallBack();
} else {
  signInButton.disabled = false;
}
