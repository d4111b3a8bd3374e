// What the admin pages' modules share: reading /api/admin, running a change with the step-up
// (on 401 reauth_required the passkey is asked for, then the call is retried once), a card's
// own live region, small DOM builders and the pager. Words for errors come from the server
// (messages.js explain()); nothing here is a copy of a server rule.

import { ApiError, api, withStepUp } from "../webauthn.js";
import { explain } from "../messages.js";
import { whileBusy } from "../ui.js";
import { timeElement } from "../times.js";

export const STEP_UP = "For your safety, confirm it's you with your passkey or security key…";

/** GET a JSON answer of the admin API. */
export function load(path) {
  return api(path, { method: "GET" });
}

/** Write `message` into a live region (`region`: an element or its id); "" clears it. */
export function say(region, message, tone = "info") {
  const element = typeof region === "string" ? document.getElementById(region) : region;
  if (!element) return;
  element.textContent = "";
  delete element.dataset.tone;
  if (!message) return;
  const text = document.createElement("p");
  text.textContent = message;
  element.append(text);
  element.dataset.tone = tone;
}

/** Show an API error (the server's own message) in `region`. */
export function sayError(region, error) {
  say(region, explain(error), "error");
}

/**
 * A change: `call` (returning an api() promise) with `button` busy, the step-up when the
 * server asks for it (`region` says why the passkey prompt appears), then `done(answer)`.
 * Errors are shown in `region`; resolves to the answer, or undefined after an error.
 */
export async function change(button, region, call, done) {
  say(region, "");
  return whileBusy(button, async () => {
    try {
      const answer = await withStepUp(call, { onStepUp: () => say(region, STEP_UP, "progress") });
      if (done) await done(answer);
      return answer;
    } catch (error) {
      sayError(region, error);
      return undefined;
    }
  });
}

/**
 * A request with a body that is not JSON (a CSV file, an image), answered in JSON: the same
 * errors as api() (ApiError with the server's message).
 */
export async function sendRaw(path, { method = "POST", body, type }) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": type, Accept: "application/json" },
      body,
    });
  } catch {
    throw new ApiError(0, "network_error", null);
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, data?.error || `http_${response.status}`, data?.message || null);
  }
  return data;
}

/** An element: el("td", {class: "x"}, "text", child…). `attrs` values false/null are left out. */
export function el(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "text") element.textContent = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** A <time> in local time, or "Never". */
export function when(iso, format = "relative") {
  return iso ? timeElement(iso, format) : el("span", { class: "muted" }, "Never");
}

/** A row spanning the whole table, with a message (loading, empty, an error). */
export function messageRow(tbody, text, tone = "muted") {
  const columns = tbody.closest("table")?.querySelectorAll("thead th").length || 1;
  tbody.replaceChildren(el("tr", {}, el("td", { colspan: columns, class: tone }, text)));
}

/** "KEY_NAME" → "Key name". */
export function humanise(key) {
  const words = String(key).replace(/[_-]+/g, " ").trim().toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * The pager under a list: "Page 2 of 5", Previous and Next. `go(page)` loads a page.
 */
export function pager({ nav, info, previous, next, go }) {
  let current = 1;
  previous.addEventListener("click", () => go(current - 1));
  next.addEventListener("click", () => go(current + 1));
  return function show({ page, per_page: perPage, total }) {
    current = page;
    const pages = Math.max(1, Math.ceil(total / perPage));
    nav.hidden = pages <= 1 && page <= 1;
    info.textContent = `Page ${page} of ${pages}`;
    previous.disabled = page <= 1;
    next.disabled = page >= pages;
  };
}

/** The page's query (?a=1&b=) as a plain object, empty values left out. */
export function queryOf(form) {
  const query = {};
  for (const [name, value] of new FormData(form)) {
    if (typeof value === "string" && value.trim()) query[name] = value.trim();
  }
  return query;
}

/** Fill `form`'s fields from the address bar's query (a bookmarked or shared search). */
export function fillFromLocation(form) {
  const params = new URLSearchParams(window.location.search);
  for (const [name, value] of params) {
    const field = form.elements.namedItem(name);
    if (field?.type === "checkbox") field.checked = field.value === value;
    else if (field && "value" in field) field.value = value;
  }
  return params;
}

/** Keep the address bar in step with the list shown, so Back and a bookmark show it again. */
export function rememberQuery(query) {
  const search = new URLSearchParams(query).toString();
  const url = `${window.location.pathname}${search ? `?${search}` : ""}`;
  if (url !== `${window.location.pathname}${window.location.search}`) {
    window.history.replaceState(null, "", url);
  }
}

/** Copy text to the clipboard; false when the browser refuses. */
export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** Open a <dialog> modally and focus `focus` (or its first field). */
export function openDialog(dialog, focus) {
  if (!dialog.open) dialog.showModal();
  (focus ?? dialog.querySelector("input, button"))?.focus();
}

/** Close it and give focus back to `back` (the control that opened it, if still there). */
export function closeDialog(dialog, back) {
  if (dialog.open) dialog.close();
  if (back?.isConnected && !back.disabled) back.focus();
}
