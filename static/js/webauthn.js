// The ceremony client: talks JSON to Keystead's API and drives navigator.credentials.
//
// The server sends options as the W3C WebAuthn Level 3 JSON forms wrapped as
// {"publicKey": {...}} and accepts what credential.toJSON() returns. Browsers that
// have the native JSON helpers use them; older ones get the small base64url
// fallback below. Nothing here touches the page: the per-page modules do that.

/** An error answer from Keystead's JSON API: {"error": code, "message": text}. */
export class ApiError extends Error {
  constructor(status, code, message, { retryAfter = null } = {}) {
    super(message || `Request failed (${status})`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    /** Seconds from the answer's Retry-After header (429, 503), or null. */
    this.retryAfter = retryAfter;
  }
}

/** Retry-After as seconds: either a number of seconds or an HTTP date. */
function retryAfterSeconds(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, Math.round((when - Date.now()) / 1000));
}

/**
 * Call the JSON API. Resolves to the parsed body, or null for 204 No Content.
 * A non-2xx answer throws ApiError; a network failure throws ApiError with
 * status 0 and code "network_error".
 *
 * fetch() keeps its default "cors" mode on purpose: with any other mode and the
 * page's `Referrer-Policy: no-referrer`, browsers send `Origin: null`, and the
 * server's CSRF check needs the real origin.
 */
export async function api(path, { method = "POST", body } = {}) {
  const init = {
    method,
    credentials: "same-origin",
    cache: "no-store",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
  };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
  } else if (["POST", "PUT", "PATCH"].includes(method.toUpperCase())) {
    init.body = "{}";
  }

  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network_error", "Could not reach the server.");
  }
  if (response.status === 204) return null;

  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    throw new ApiError(
      response.status,
      (data && typeof data.error === "string" && data.error) || `http_${response.status}`,
      (data && typeof data.message === "string" && data.message) || response.statusText,
      { retryAfter: retryAfterSeconds(response.headers.get("Retry-After")) },
    );
  }
  return data;
}

/** True when this browser can do passkey ceremonies at all. */
export function isSupported() {
  return typeof window.PublicKeyCredential === "function" && !!navigator.credentials;
}

/** True when the browser can offer passkeys in the username field's autofill. */
export async function isConditionalAvailable() {
  if (!isSupported()) return false;
  try {
    return (await window.PublicKeyCredential.isConditionalMediationAvailable?.()) === true;
  } catch {
    return false;
  }
}

function unsupported() {
  return new DOMException("This browser does not support passkeys.", "NotSupportedError");
}

// ---- base64url ------------------------------------------------------------

export function toBase64url(buffer) {
  const bytes = buffer instanceof ArrayBuffer ? new Uint8Array(buffer)
    : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64url(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*={0,2}$/.test(text)) {
    throw new TypeError("Invalid base64url value in the server's options.");
  }
  const base64 = text.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "===".slice((base64.length + 3) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

// ---- options: JSON -> what navigator.credentials wants ------------------------

// Drop null members: WebIDL would turn a null string member into "null".
function withoutNulls(value) {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value && typeof value === "object") {
    const out = {};
    for (const [key, item] of Object.entries(value)) {
      if (item !== null && item !== undefined) out[key] = withoutNulls(item);
    }
    return out;
  }
  return value;
}

function unwrap(optionsJSON) {
  if (!optionsJSON || typeof optionsJSON !== "object") {
    throw new TypeError("The server sent no options.");
  }
  return withoutNulls(optionsJSON.publicKey ?? optionsJSON);
}

function descriptorsFromJSON(list) {
  return (list ?? []).map((descriptor) => ({ ...descriptor, id: fromBase64url(descriptor.id) }));
}

function creationOptions(optionsJSON) {
  const json = unwrap(optionsJSON);
  const native = window.PublicKeyCredential.parseCreationOptionsFromJSON;
  if (typeof native === "function") return native.call(window.PublicKeyCredential, json);
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: descriptorsFromJSON(json.excludeCredentials),
  };
}

function requestOptions(optionsJSON) {
  const json = unwrap(optionsJSON);
  const native = window.PublicKeyCredential.parseRequestOptionsFromJSON;
  if (typeof native === "function") return native.call(window.PublicKeyCredential, json);
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    allowCredentials: descriptorsFromJSON(json.allowCredentials),
  };
}

// ---- credential -> JSON to POST -------------------------------------------

function credentialToJSON(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();

  const response = credential.response;
  const json = {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    clientExtensionResults: credential.getClientExtensionResults?.() ?? {},
    response: { clientDataJSON: toBase64url(response.clientDataJSON) },
  };
  if (credential.authenticatorAttachment) {
    json.authenticatorAttachment = credential.authenticatorAttachment;
  }
  if ("attestationObject" in response) {
    json.response.attestationObject = toBase64url(response.attestationObject);
    json.response.transports = response.getTransports?.() ?? [];
    const authenticatorData = response.getAuthenticatorData?.();
    if (authenticatorData) json.response.authenticatorData = toBase64url(authenticatorData);
    const publicKey = response.getPublicKey?.();
    if (publicKey) json.response.publicKey = toBase64url(publicKey);
    const algorithm = response.getPublicKeyAlgorithm?.();
    if (typeof algorithm === "number") json.response.publicKeyAlgorithm = algorithm;
  } else {
    json.response.authenticatorData = toBase64url(response.authenticatorData);
    json.response.signature = toBase64url(response.signature);
    if (response.userHandle) json.response.userHandle = toBase64url(response.userHandle);
  }
  return json;
}

// ---- ceremonies ------------------------------------------------------------

/**
 * Create a credential from the server's {"publicKey": ...} creation options.
 * Resolves to RegistrationResponseJSON, ready to POST.
 */
export async function createCredential(optionsJSON, { signal } = {}) {
  if (!isSupported()) throw unsupported();
  const publicKey = creationOptions(optionsJSON);
  const credential = await navigator.credentials.create({ publicKey, signal });
  if (!credential) throw new DOMException("No credential was created.", "NotAllowedError");
  return credentialToJSON(credential);
}

/**
 * Get an assertion from the server's {"publicKey": ...} request options.
 * `mediation: "conditional"` offers passkeys in the username field's autofill;
 * `signal` aborts a pending request. Resolves to AuthenticationResponseJSON.
 */
export async function getCredential(optionsJSON, { mediation, signal } = {}) {
  if (!isSupported()) throw unsupported();
  const publicKey = requestOptions(optionsJSON);
  const request = { publicKey };
  if (mediation) request.mediation = mediation;
  if (signal) request.signal = signal;
  const credential = await navigator.credentials.get(request);
  if (!credential) throw new DOMException("No passkey was chosen.", "NotAllowedError");
  return credentialToJSON(credential);
}

// ---- step-up: confirm it's you before a sensitive action ------------------------------

/**
 * A fresh user verification for this session: POST /api/reauth/begin, the browser's passkey
 * prompt (user verification required, this ID's active devices), POST /api/reauth/complete.
 * Afterwards, for a few minutes, the server accepts sensitive actions from this session.
 */
export async function stepUp({ signal } = {}) {
  const options = await api("/api/reauth/begin", { body: {} });
  const assertion = await getCredential(options, { signal });
  await api("/api/reauth/complete", { body: assertion });
}

/**
 * Run `action` (a function returning a promise, usually an api() call). When the server
 * answers 401 reauth_required (no user verification in this session within REAUTH_MAX_AGE),
 * confirm it's the person with a passkey (stepUp), then run the action once more.
 *
 * `onStepUp` is called just before the passkey prompt, so the page can say why it appears.
 * An error during the step-up itself is rethrown with `stepUp = true`: explain() then says
 * that nothing was changed.
 */
export async function withStepUp(action, { onStepUp } = {}) {
  try {
    return await action();
  } catch (error) {
    if (!(error instanceof ApiError && error.code === "reauth_required")) throw error;
  }
  onStepUp?.();
  try {
    await stepUp();
  } catch (error) {
    try {
      error.stepUp = true;
    } catch {
      // A frozen error object: the plain explanation will do.
    }
    throw error;
  }
  return action();
}

// ---- Signal API: keep password managers in step with the server -------------------------
// Chrome and others can hide or delete passkeys the server no longer accepts. Best effort:
// any failure (or a browser without the API) is ignored.

let knownRpId = null;

/** GET /api/me's `signal` ({rpId, userId, allAcceptedCredentialIds}), or null. */
async function fetchSignal() {
  try {
    const me = await api("/api/me", { method: "GET" });
    if (me?.signal?.rpId) knownRpId = me.signal.rpId;
    return me?.signal ?? null;
  } catch {
    return null;
  }
}

/** The RP ID (GET /api/me's signal.rpId), remembered once known. */
export async function relyingPartyId() {
  if (!knownRpId) await fetchSignal();
  return knownRpId;
}

/** Tell the browser this passkey no longer signs in here (after a remove or block). */
export async function signalUnknownCredential(credentialId, rpId = null) {
  try {
    const signal = window.PublicKeyCredential?.signalUnknownCredential;
    if (typeof signal !== "function" || !credentialId) return false;
    const id = rpId ?? (await relyingPartyId());
    if (!id) return false;
    await signal.call(window.PublicKeyCredential, { rpId: id, credentialId });
    return true;
  } catch {
    return false;
  }
}

/**
 * Tell the browser which of this ID's passkeys still sign in: GET /api/me's `signal`
 * (fetched now unless given). Also remembers the RP ID for signalUnknownCredential, which
 * may run after this session has ended (removing this device's own passkey).
 */
export async function signalAcceptedCredentials(signalData = null) {
  try {
    const signal = window.PublicKeyCredential?.signalAllAcceptedCredentials;
    if (typeof signal !== "function") return false;
    const data = signalData ?? (await fetchSignal());
    if (!data?.rpId || !data.userId || !Array.isArray(data.allAcceptedCredentialIds)) return false;
    knownRpId ??= data.rpId;
    await signal.call(window.PublicKeyCredential, {
      rpId: data.rpId,
      userId: data.userId,
      allAcceptedCredentialIds: data.allAcceptedCredentialIds,
    });
    return true;
  } catch {
    return false;
  }
}

// ---- words for people ---------------------------------------------------------

const API_MESSAGES = {
  username_taken: "That username is already taken. Please choose another one.",
  registration_failed:
    "Your passkey or security key could not be registered. Try again, or use a different one.",
  authentication_failed:
    "That passkey did not sign you in. Make sure you chose the right one for this site, then try again.",
  rate_limited: "Too many attempts in a short time. Wait a minute, then try again.",
  last_device:
    "This is the only passkey or security key that can sign in to your ID. " +
    "Add another one first, so you are not locked out.",
  csrf_failed:
    "Your browser sent this request without proof it came from this site, so it was refused. " +
    "Reload the page and try again.",
  network_error: "Could not reach the server. Check your connection and try again.",
  recovery_failed:
    "That did not match, or this recovery attempt has ended. Check what you entered and try again, " +
    "or start again with your backup code.",
  too_many_attempts:
    "Too many attempts. For your safety this is paused for a while. Try again later.",
  invalid_code:
    "That code is wrong or has expired. Check the newest email from us and try again, or send a new code.",
  backup_disabled:
    "Backup is turned off by your administrator, so it cannot be activated or changed here.",
  backup_active: "Backup is already active on your ID. Reload the page to see it.",
  reauth_required: "For your safety, confirm it's you with your passkey or security key first, then try again.",
  too_many_pairings:
    "You already have 3 pairing codes waiting. Finish adding those devices, or wait a few minutes " +
    "until their codes expire, then try again.",
  not_signed_in: "Your session has ended. Please sign in again.",
};

// Codes whose message the server words for the person (the page shows it as it is).
const SERVER_WORDED = new Set(["device_blocked", "device_removed"]);

// Texts for a 404 that depend on what the page was doing.
const NOT_FOUND_MESSAGES = {
  pairing:
    "This pairing code is not valid any more: it expired, was already used by another device, " +
    "or was cancelled. Ask your other device for a new QR code.",
  device: "That device is no longer on your ID. Reload the page to see the current list.",
  notification: "That notification is no longer there. Reload the page.",
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
 * Turn any error from a ceremony or the API into a sentence a person understands.
 * `context` ("pairing", "device", "notification") picks the words for a 404.
 * An error from a step-up (see withStepUp) says that nothing was changed.
 * A 429 or 503 with Retry-After is the server's message and the wait ("Try again in 5
 * seconds."); `withWait: false` leaves the wait out for showError's live countdown (ui.js).
 */
export function explain(error, context = "", { withWait = true } = {}) {
  const wait = retryWait(error);
  let text = wait ? error.message : explainOne(error, context);
  if (wait && withWait) text = `${text} Try again ${waitPhrase(wait)}.`;
  return error?.stepUp ? `We could not confirm it's you, so nothing was changed. ${text}` : text;
}

function explainOne(error, context) {
  if (error instanceof ApiError) {
    if (error.code === "not_found" && NOT_FOUND_MESSAGES[context]) return NOT_FOUND_MESSAGES[context];
    // The server says why this passkey cannot sign in (blocked or removed) and what to do.
    if (SERVER_WORDED.has(error.code) && error.message) return error.message;
    if (error.code === "invalid_input") {
      return error.message && error.message !== "Bad Request"
        ? error.message
        : "Some of the details are not valid. Check them and try again.";
    }
    if (API_MESSAGES[error.code]) return API_MESSAGES[error.code];
    if (error.status === 401) return "Your session has ended. Please sign in again.";
    if (error.status >= 500) {
      return "Something went wrong on the server. Please try again in a moment.";
    }
    return error.message || "Something went wrong. Please try again.";
  }

  if (!isSupported()) {
    return window.isSecureContext === false
      ? "Passkeys need a secure connection. Open this site over https (or on localhost)."
      : "This browser does not support passkeys. Use a recent version of Chrome, Edge, Safari or Firefox.";
  }

  switch (error?.name) {
    case "NotAllowedError":
      return "The request was cancelled or timed out. Try again.";
    case "AbortError":
      return "The request was cancelled.";
    case "InvalidStateError":
      return "This passkey or security key is already registered. " +
        "Use a different one, or sign in with it instead.";
    case "SecurityError":
      return "Your browser refused because this page's address does not match the server's settings. " +
        "Open the site at its usual address and try again.";
    case "NotSupportedError":
      return "This passkey or security key does not support what this site needs. Try another one.";
    case "ConstraintError":
      return "Your device could not verify it's you (for example, no screen lock or PIN is set up). " +
        "Set one up, or try another passkey or security key.";
    case "TypeError":
      return "The server sent something this browser could not read. Reload the page and try again.";
    case "UnknownError":
      return "Your passkey or security key reported an error. Try again.";
    default:
      return "Something went wrong. Please try again.";
  }
}

// ---- a name for this device ----------------------------------------------------

function browserName(ua) {
  if (/Edg(e|A|iOS)?\//.test(ua)) return "Edge";
  if (/OPR\/|Opera/.test(ua)) return "Opera";
  if (/SamsungBrowser\//.test(ua)) return "Samsung Internet";
  if (/Firefox\/|FxiOS\//.test(ua)) return "Firefox";
  if (/Chrome\/|CriOS\//.test(ua)) return /Chromium\//.test(ua) ? "Chromium" : "Chrome";
  if (/Safari\//.test(ua)) return "Safari";
  return "";
}

function platformName(ua) {
  if (/iPhone|iPod/.test(ua)) return "iPhone";
  if (/iPad/.test(ua)) return "iPad";
  if (/Macintosh/.test(ua)) return navigator.maxTouchPoints > 1 ? "iPad" : "Mac";
  if (/Android/.test(ua)) return "Android";
  if (/CrOS/.test(ua)) return "ChromeOS";
  if (/Windows/.test(ua)) return "Windows";
  if (/Linux/.test(ua)) return "Linux";
  return "";
}

/** "Chrome on Linux" for a user agent string (another browser's, e.g. from a notification). */
export function describeUserAgent(ua) {
  if (!ua) return "";
  const browser = browserName(ua);
  const platform = /Macintosh/.test(ua) ? "Mac" : platformName(ua);
  if (browser && platform) return `${browser} on ${platform}`;
  return browser || platform || "";
}

const PLATFORMS = { macOS: "Mac", "Chrome OS": "ChromeOS", "Chromium OS": "ChromeOS" };
const BRANDS = {
  "Google Chrome": "Chrome",
  "Microsoft Edge": "Edge",
  HeadlessChrome: "Chrome",
  Chromium: "Chromium",
};

/** A readable default name for the passkey made here, e.g. "Chrome on Linux". */
export function defaultDeviceName() {
  const ua = navigator.userAgent || "";
  let browser = browserName(ua);
  let platform = platformName(ua);

  const data = navigator.userAgentData;
  if (data) {
    const brands = (data.brands ?? [])
      .map((entry) => entry.brand)
      .filter((brand) => !/not.?a.?brand/i.test(brand));
    const best = brands.find((brand) => brand !== "Chromium") ?? brands[0];
    if (best) browser = BRANDS[best] ?? best.replace(/^(Google|Microsoft) /, "");
    if (data.platform) platform = PLATFORMS[data.platform] ?? data.platform;
  }

  if (browser && platform) return `${browser} on ${platform}`;
  return browser || platform || "This device";
}
