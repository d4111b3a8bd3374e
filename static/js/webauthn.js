// The ceremony client: talks JSON to Keystead's API and drives navigator.credentials.
//
// The server sends options as the W3C WebAuthn Level 3 JSON forms wrapped as
// {"publicKey": {...}} and accepts what credential.toJSON() returns. Browsers that
// have the native JSON helpers use them; older ones get the small base64url
// fallback below. Nothing here touches the page: the per-page modules do that.

/**
 * An error answer from Keystead's JSON API: {"error": code, "message": text}. The server's
 * message is what the person reads (messages.js explain() shows it as it is); `fromServer`
 * is false when there was none (no connection, an answer that was not Keystead's JSON).
 */
export class ApiError extends Error {
  constructor(status, code, message, { retryAfter = null } = {}) {
    super(message || `Request failed (${status})`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fromServer = Boolean(message);
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
    throw new ApiError(0, "network_error", null);
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
      (data && typeof data.message === "string" && data.message) || null,
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
 * An error during the step-up itself is rethrown with `stepUp = true`: explain() (messages.js)
 * then says that nothing was changed.
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
