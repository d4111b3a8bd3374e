// Live notifications on every signed-in page (base.html loads this when signed in).
//
// Polls GET /api/notifications?since=<highest id seen> every `poll_interval` seconds (the
// answer carries it). The database is the source, so this works with any number of server
// workers. Each new notification:
//   - is announced to the page as a cancelable `keystead:notification` event on document
//     (detail: the notification). The account page refreshes its device list; the inbox adds
//     it to its list and cancels the event, so no toast is shown there;
//   - otherwise appears as a toast in #live-notifications: `.live-notification[data-kind]`,
//     with "This wasn't me — block it" (`.live-block`) and a dismiss (`.live-dismiss`) that
//     marks it read.
// The header's #unread-count shows the unread number. A 401 stops polling and says the
// session has ended (`#session-ended`), with a link to sign in.
//
// #live-notifications' data-state tells tests where polling is: "starting" → "polling" →
// "stopped" (signed out or blocked).

import { ApiError, api } from "./webauthn.js";
import { explain } from "./messages.js";
import { localiseTimes } from "./times.js";
import {
  KINDS, blockDevice, canBlock, element, icon, kindTitle, metaLine, subjectLine,
} from "./notices.js";

const region = document.getElementById("live-notifications");
const navCount = document.getElementById("unread-count");
const navCountLabel = document.getElementById("unread-count-label");

const MAX_BACKOFF = 30;
const MAX_TOASTS = 4;
// Toasts shown in this tab and not dismissed yet come back on the next page (sessionStorage).
const TOASTS_KEY = "keystead:live-toasts";

let lastId = 0;
// Seconds between polls: the page's NOTIFICATION_POLL_INTERVAL, then what each answer says.
let interval = Number(region?.dataset.pollInterval) || 1;
let failures = 0;
let timer = null;
let stopped = false;
const unread = new Set();
const notifications = new Map(); // id -> notification, as last seen

const setState = (state) => { if (region) region.dataset.state = state; };

// ---- unread count -----------------------------------------------------------------------------

function renderCount() {
  const count = unread.size;
  const text = count > 99 ? "99+" : String(count);
  for (const badge of [navCount, document.getElementById("notifications-link-count")]) {
    if (!badge) continue;
    badge.textContent = count ? text : "";
    badge.hidden = count === 0;
  }
  if (navCountLabel) navCountLabel.textContent = count ? `, ${count} unread` : "";
  document.dispatchEvent(new CustomEvent("keystead:unread", { detail: { count } }));
}

/** The number of unread notifications of this device that this page knows of. */
export function unreadCount() {
  return unread.size;
}

/** Mark a notification read (POST /api/notifications/<id>/read); updates every view. */
export async function markRead(id, { keepToast = false } = {}) {
  const key = Number(id);
  await api(`/api/notifications/${encodeURIComponent(key)}/read`, { body: {} });
  unread.delete(key);
  const known = notifications.get(key);
  if (known) known.read = true;
  forgetToast(key);
  if (!keepToast) removeToast(key);
  renderCount();
  document.dispatchEvent(new CustomEvent("keystead:notification-read", { detail: { id: key } }));
}

// ---- toasts -----------------------------------------------------------------------------------

const toastsEnabled = () => document.body.dataset.liveToasts !== "off";

function rememberedToasts() {
  try {
    const ids = JSON.parse(sessionStorage.getItem(TOASTS_KEY) ?? "[]");
    return new Set(Array.isArray(ids) ? ids.map(Number) : []);
  } catch {
    return new Set();
  }
}

function saveToasts(ids) {
  try {
    sessionStorage.setItem(TOASTS_KEY, JSON.stringify([...ids].slice(-20)));
  } catch {
    // Storage may be off: toasts then last until the page changes.
  }
}

function rememberToast(id) {
  const ids = rememberedToasts();
  ids.add(id);
  saveToasts(ids);
}

function forgetToast(id) {
  const ids = rememberedToasts();
  if (ids.delete(id)) saveToasts(ids);
}

const toastOf = (id) => region?.querySelector(`.live-notification[data-notification-id="${Number(id)}"]`);

function removeToast(id) {
  toastOf(id)?.remove();
  updateOverflow();
}

function updateOverflow() {
  if (!region) return;
  const toasts = [...region.querySelectorAll(".live-notification")];
  toasts.forEach((toast, index) => { toast.hidden = index >= MAX_TOASTS; });
  let more = region.querySelector(".live-more");
  const hidden = toasts.length - MAX_TOASTS;
  if (hidden <= 0) {
    more?.remove();
    return;
  }
  if (!more) {
    more = element("a", "live-more");
    more.href = "/account/notifications";
    region.append(more);
  }
  more.textContent = hidden === 1 ? "1 more notification" : `${hidden} more notifications`;
}

function toast(notification) {
  if (!region || toastOf(notification.id)) return;
  const kind = KINDS[notification.kind] ?? { tone: "neutral", icon: "warning" };
  const item = element("article", `live-notification live-notification--${kind.tone}`);
  item.dataset.kind = notification.kind;
  item.dataset.notificationId = String(notification.id);
  if (notification.device?.id != null) item.dataset.deviceId = String(notification.device.id);
  const titleId = `live-notification-${notification.id}-title`;
  item.setAttribute("aria-labelledby", titleId);

  const badge = element("div", "live-notification__icon");
  badge.append(icon(kind.icon));

  const body = element("div", "live-notification__body");
  const title = element("p", "live-notification__title", kindTitle(notification));
  title.id = titleId;
  body.append(title, subjectLine(notification), metaLine(notification, "notice-meta"));

  const result = element("p", "live-notification__result");
  result.hidden = true;

  const actions = element("div", "live-notification__actions");
  if (canBlock(notification)) {
    const block = element("button", "btn btn-danger btn-sm live-block");
    block.type = "button";
    block.append(icon("block", "icon icon--sm"), element("span", "", "This wasn't me — block it"));
    block.addEventListener("click", () => blockFromToast(notification, item, block, result));
    actions.append(block);
  }
  const dismiss = element("button", "btn btn-ghost btn-sm live-dismiss", "Dismiss");
  dismiss.type = "button";
  dismiss.addEventListener("click", () => dismissToast(notification, item, dismiss, result));
  actions.append(dismiss);
  body.append(actions, result);

  item.append(badge, body);
  region.prepend(item);
  rememberToast(notification.id);
  updateOverflow();
}

function showResult(result, text, tone) {
  result.textContent = text;
  result.dataset.tone = tone;
  result.hidden = false;
}

async function dismissToast(notification, item, button, result) {
  if (item.dataset.blocked === "true") {
    removeToast(notification.id);
    return;
  }
  button.disabled = true;
  try {
    await markRead(notification.id);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      removeToast(notification.id);
      forgetToast(notification.id);
      return;
    }
    button.disabled = false;
    showResult(result, explain(error), "error");
  }
}

async function blockFromToast(notification, item, button, result) {
  const buttons = [...item.querySelectorAll("button")];
  for (const each of buttons) each.disabled = true;
  button.classList.add("is-busy");
  const name = notification.device?.name || "the device";
  try {
    await blockDevice(notification.device.id, {
      onStepUp: () => showResult(result, "For your safety, confirm it's you with your passkey or security key…", "progress"),
    });
    button.remove();
    item.classList.add("live-notification--done");
    item.dataset.blocked = "true";
    showResult(result, `Blocked “${name}”. It is signed out and can never sign in to your ID again.`, "success");
    // Handled: read, but the toast stays until dismissed so the result can be read.
    await markRead(notification.id, { keepToast: true }).catch(() => {});
    for (const each of buttons) if (each.isConnected) each.disabled = false;
  } catch (error) {
    showResult(result, explain(error), "error");
    for (const each of buttons) if (each.isConnected) each.disabled = false;
  } finally {
    button.classList.remove("is-busy");
  }
}

// A device blocked anywhere on this page (a toast, the account page, the inbox): its other
// toasts lose their block button.
document.addEventListener("keystead:devices-changed", (event) => {
  const device = event.detail?.device;
  if (!region || device?.id == null || device.status !== "blocked") return;
  for (const item of region.querySelectorAll(`.live-notification[data-device-id="${Number(device.id)}"]`)) {
    if (item.dataset.blocked !== "true") item.querySelector(".live-block")?.remove();
  }
});

// ---- session ended ----------------------------------------------------------------------------

/** The session ended (a 401 while polling): say so in the server's words, with a sign-in link. */
function sessionEnded(message) {
  stopped = true;
  clearTimeout(timer);
  setState("stopped");
  document.dispatchEvent(new CustomEvent("keystead:session-ended"));
  if (!region || document.getElementById("session-ended")) return;
  const box = element("div", "live-ended");
  box.id = "session-ended";
  box.setAttribute("role", "alert");
  const text = element("p", "live-ended__text");
  text.append(element("strong", "", message));
  const link = element("a", "btn btn-primary btn-sm live-ended__link", "Sign in");
  const here = window.location.pathname + window.location.search;
  link.href = `/signin?next=${encodeURIComponent(here)}`;
  box.append(icon("signin"), text, link);
  region.prepend(box);
  for (const signout of document.querySelectorAll("[data-action='signout']")) signout.hidden = true;
}

// ---- polling ----------------------------------------------------------------------------------

function schedule(seconds) {
  clearTimeout(timer);
  if (!stopped) timer = setTimeout(poll, Math.max(1, seconds) * 1000);
}

function take(answer, { first }) {
  if (Number.isFinite(answer?.poll_interval) && answer.poll_interval > 0) interval = answer.poll_interval;
  const items = Array.isArray(answer?.notifications) ? answer.notifications : [];
  // Oldest first, so the newest toast ends on top.
  const fresh = items.filter((n) => Number(n.id) > lastId).sort((a, b) => a.id - b.id);
  const remembered = first ? rememberedToasts() : null;
  for (const notification of fresh) {
    const id = Number(notification.id);
    lastId = Math.max(lastId, id);
    notifications.set(id, notification);
    if (!notification.read) unread.add(id);
    if (first) {
      // Already there when the page loaded: only toasts this tab showed and nobody dismissed
      // come back (the inbox lists the rest).
      if (!notification.read && toastsEnabled() && remembered.has(id)) toast(notification);
      continue;
    }
    const event = new CustomEvent("keystead:notification", { detail: notification, cancelable: true });
    const shown = document.dispatchEvent(event);
    if (shown && toastsEnabled()) toast(notification);
  }
  if (first && remembered) {
    // Forget toasts whose notification was read elsewhere.
    saveToasts([...remembered].filter((id) => unread.has(id)));
  }
  if (fresh.length) localiseTimes(region ?? document);
  if (!first && fresh.some((n) => !n.read)) navCount?.classList.remove("nav-count--new");
  renderCount();
  if (!first && fresh.some((n) => !n.read) && navCount) {
    void navCount.offsetWidth; // restart the animation
    navCount.classList.add("nav-count--new");
  }
}

async function poll({ first = false } = {}) {
  if (stopped) return;
  try {
    const answer = await api(`/api/notifications?since=${lastId}`, { method: "GET" });
    failures = 0;
    take(answer, { first });
    setState("polling");
    schedule(interval);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      sessionEnded(explain(error));
      return;
    }
    // Network trouble or a busy server: try again, less often.
    failures += 1;
    schedule(Math.min(MAX_BACKOFF, interval * 2 ** Math.min(failures, 4)));
  }
}

/** Poll now (for example right after an action), instead of waiting for the next tick. */
export function pollNow() {
  if (!stopped) poll();
}

if (region) {
  setState("starting");
  // Relative times ("just now") in toasts age while the page is open.
  setInterval(() => localiseTimes(region), 30 * 1000);
  poll({ first: true });
}
