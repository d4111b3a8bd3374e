// /account/notifications: this device's inbox. New notifications arrive through live.js's
// poll and are added to the list (no toast on this page); "This wasn't me — block it"
// (.block-device) blocks with a step-up when needed; "Mark read" and "Mark all read".
// After a sign-in (?after_signin=1&next=…) the page shows "While you were away" first, and
// Continue marks what was shown as read.

import { ApiError, api } from "./webauthn.js";
import { explain } from "./messages.js";
import { setStatus, showError, whileBusy, safeLocalPath } from "./ui.js";
import { localiseTimes } from "./times.js";
import { markRead } from "./live.js";
import {
  KINDS, blockDevice, canBlock, element, icon, kindTitle, metaLine, subjectLine,
} from "./notices.js";

const list = document.getElementById("notification-list");
const empty = document.getElementById("no-notifications");
const unreadBadge = document.getElementById("inbox-unread");
const markAllButton = document.getElementById("mark-all-read");
const away = document.getElementById("after-signin");

const itemOf = (node) => node.closest("[data-notification-id]");
const itemById = (id) => list.querySelector(`[data-notification-id="${Number(id)}"]`);
const unreadItems = () => [...list.querySelectorAll("[data-notification-id][data-read='false']")];

function updateUnread() {
  const count = unreadItems().length;
  unreadBadge.textContent = `${count} new`;
  unreadBadge.dataset.count = String(count);
  unreadBadge.hidden = count === 0;
  markAllButton.disabled = count === 0;
  empty.hidden = list.querySelector("[data-notification-id]") !== null;
}

function showResult(item, text, tone) {
  const result = item.querySelector(".notification__result");
  result.textContent = text;
  result.dataset.tone = tone;
  result.hidden = false;
}

// ---- read ---------------------------------------------------------------------------------

function showRead(item) {
  if (!item || item.dataset.read === "true") return;
  item.dataset.read = "true";
  item.classList.remove("notification--unread");
  const badge = item.querySelector(".notification__new");
  if (badge) badge.hidden = true;
  const button = item.querySelector(".mark-read");
  if (button) {
    if (document.activeElement === button) item.querySelector(".block-device, .notification__kind")?.focus?.();
    button.remove();
  }
  const actions = item.querySelector(".notification__actions");
  if (actions && !actions.children.length) actions.remove();
  updateUnread();
}

async function read(item) {
  try {
    await markRead(item.dataset.notificationId);
    showRead(item);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      item.remove();
      updateUnread();
      return;
    }
    throw error;
  }
}

document.addEventListener("keystead:notification-read", (event) => showRead(itemById(event.detail?.id)));

markAllButton.addEventListener("click", async () => {
  await whileBusy(markAllButton, async () => {
    try {
      // One request for all of this device's notifications, not one per item.
      await api("/api/notifications/read", { body: {} });
      for (const item of unreadItems()) showRead(item);
      setStatus("All notifications are marked read.", "success");
    } catch (error) {
      showError(error);
    }
  });
  updateUnread();
});

// ---- block --------------------------------------------------------------------------------

/** Every item about this device shows it blocked; none offers to block it any more. */
function showBlocked(deviceId) {
  for (const item of list.querySelectorAll(`[data-device-id="${Number(deviceId)}"]`)) {
    item.querySelector(".block-device")?.remove();
    const line = item.querySelector(".notice-device");
    line?.querySelector(".notice-device__status")?.remove();
    line?.append(element("span", "badge badge--danger notice-device__status", "Blocked"));
    const actions = item.querySelector(".notification__actions");
    if (actions && !actions.children.length) actions.remove();
  }
}

async function block(item, button) {
  const name = item.querySelector(".notification__device")?.textContent.trim() || "the device";
  const deviceId = button.dataset.deviceId;
  let done = false;
  await whileBusy(button, async () => {
    try {
      await blockDevice(deviceId, {
        onStepUp: () => showResult(item, "For your safety, confirm it's you with your passkey or security key…", "progress"),
      });
      done = true;
    } catch (error) {
      showResult(item, explain(error), "error");
    }
  });
  if (!done) return;
  showBlocked(deviceId);
  showResult(item, `Blocked “${name}”. It is signed out and can never sign in to your ID again.`, "success");
  item.querySelector(".notification__kind")?.setAttribute("tabindex", "-1");
  item.querySelector(".notification__kind")?.focus();
  read(item).catch(() => {});
}

document.addEventListener("keystead:devices-changed", (event) => {
  const device = event.detail?.device;
  if (device?.status === "blocked") showBlocked(device.id);
});

// ---- one listener for the list ---------------------------------------------------------------

list.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  const item = button && itemOf(button);
  if (!item || button.disabled) return;
  if (button.classList.contains("block-device")) {
    block(item, button);
  } else if (button.classList.contains("mark-read")) {
    whileBusy(button, () => read(item).catch((error) => showResult(item, explain(error), "error")));
  }
});

// ---- live: new notifications join the list ----------------------------------------------------

function buildItem(notification) {
  const kind = KINDS[notification.kind] ?? { tone: "neutral", icon: "warning" };
  const item = element("li", `notification notification--${kind.tone}`);
  item.dataset.notificationId = String(notification.id);
  item.dataset.kind = notification.kind;
  item.dataset.read = notification.read ? "true" : "false";
  if (!notification.read) item.classList.add("notification--unread", "notification--fresh");
  if (notification.device?.id != null) item.dataset.deviceId = String(notification.device.id);
  const titleId = `notification-${notification.id}-title`;
  item.setAttribute("aria-labelledby", titleId);

  const badge = element("div", "notification__icon");
  badge.setAttribute("aria-hidden", "true");
  badge.append(icon(kind.icon));

  const body = element("div", "notification__body");
  const top = element("div", "notification__top");
  const title = element("h3", "notification__kind", kindTitle(notification));
  title.id = titleId;
  const fresh = element("span", "badge badge--accent notification__new");
  const dot = element("span", "dot");
  dot.setAttribute("aria-hidden", "true");
  fresh.append(dot, "New");
  fresh.hidden = Boolean(notification.read);
  top.append(title, fresh);

  const device = subjectLine(notification);
  device.querySelector(".notice-device__name")?.classList.add("notification__device");
  const result = element("p", "notification__result");
  result.hidden = true;
  body.append(top, device, metaLine(notification, "notice-meta"), result);

  const actions = element("div", "notification__actions");
  if (canBlock(notification)) {
    const blockButton = element("button", "btn btn-danger btn-sm block-device");
    blockButton.type = "button";
    blockButton.dataset.deviceId = String(notification.device.id);
    blockButton.append(icon("block", "icon icon--sm"), element("span", "", "This wasn't me — block it"));
    actions.append(blockButton);
  }
  if (!notification.read) {
    const readButton = element("button", "btn btn-ghost btn-sm mark-read", "Mark read");
    readButton.type = "button";
    actions.append(readButton);
  }
  if (actions.children.length) body.append(actions);
  item.append(badge, body);
  return item;
}

document.addEventListener("keystead:notification", (event) => {
  const notification = event.detail;
  event.preventDefault(); // shown here, not as a toast
  if (!notification || itemById(notification.id)) return;
  list.prepend(buildItem(notification));
  localiseTimes(list);
  updateUnread();
  const about = notification.website?.name || notification.device?.name;
  setStatus(`New: ${kindTitle(notification)}${about ? ` — ${about}` : ""}.`, "info");
});

// ---- after a sign-in: "While you were away" ----------------------------------------------------

if (away) {
  const continueLink = document.getElementById("after-signin-continue");
  const next = safeLocalPath(away.dataset.next, "/account"); // the server's verdict on ?next=
  continueLink.href = next;
  // What was shown is read once the person moves on (blocking is done here, or not at all).
  const shown = unreadItems();
  continueLink.addEventListener("click", async (event) => {
    event.preventDefault();
    continueLink.classList.add("is-busy");
    continueLink.setAttribute("aria-disabled", "true");
    await Promise.race([
      Promise.allSettled(shown.filter((item) => item.isConnected).map((item) => read(item))),
      new Promise((resolve) => { setTimeout(resolve, 3000); }),
    ]);
    window.location.assign(next);
  });
}

// ---- start --------------------------------------------------------------------------------------

for (const button of list.querySelectorAll(".block-device, .mark-read")) button.disabled = false;
updateUnread();
