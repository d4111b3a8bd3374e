// Notifications in plain words, shared by the live toasts (live.js) and the inbox
// (notifications.js): what each kind means, the device's details, and the
// "This wasn't me — block it" action.

import { api, describeUserAgent, signalUnknownCredential, withStepUp } from "./webauthn.js";
import { timeElement } from "./times.js";

/** How each notification kind looks: `tone` picks the colour, `icon` the drawing. What it
 * says comes from the server (`notification.title`, owned by notify/notices.py). */
export const KINDS = {
  device_added: { tone: "warning", icon: "plus" },
  device_restored: { tone: "warning", icon: "plus" },
  device_duplicated: { tone: "warning", icon: "plus" },
  device_paired: { tone: "warning", icon: "plus" },
  device_blocked: { tone: "danger", icon: "block" },
  device_unblocked: { tone: "warning", icon: "warning" },
  device_removed: { tone: "neutral", icon: "trash" },
  device_flagged: { tone: "danger", icon: "warning" },
  new_device_sign_in: { tone: "warning", icon: "signin" },
  email_changed: { tone: "warning", icon: "warning" },
  website_connected: { tone: "warning", icon: "signin" },
  sessions_ended_by_admin: { tone: "neutral", icon: "signout" },
  user_deactivated: { tone: "danger", icon: "block" },
  user_reactivated: { tone: "neutral", icon: "warning" },
  backup_code_reissued: { tone: "warning", icon: "warning" },
};

/** Kinds after which the account page's device list has changed. */
export const DEVICE_KINDS = new Set([
  "device_added", "device_paired", "device_blocked", "device_removed", "device_restored",
  "device_duplicated", "device_flagged",
]);

/** What happened, in the server's words. */
export function kindTitle(notification) {
  return notification?.title || "Something happened";
}

/** True when "This wasn't me — block it" makes sense for this notification. */
export function canBlock(notification) {
  const device = notification?.device;
  return Boolean(device && device.id != null && (device.status === "active" || device.status === "pending"));
}

// ---- icons (the same drawings as the templates' icon macro) ---------------------------------

const PATHS = {
  plus: ["M12 5v14M5 12h14"],
  block: ["M5.6 5.6l12.8 12.8", { circle: [12, 12, 9] }],
  trash: ["M4 7h16M10 11v6M14 11v6M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12M9 7V4.5A1.5 1.5 0 0 1 10.5 3h3A1.5 1.5 0 0 1 15 4.5V7"],
  warning: ["M10.3 3.9 2.4 17.5A2 2 0 0 0 4.1 20.5h15.8a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0Z", "M12 9v4.5M12 17h.01"],
  signin: ["M14 4h4a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-4", "M4 12h11M11 8l4 4-4 4"],
  signout: ["M10 4H6a2 2 0 0 0-2 2v12a2 2 0 0 0 2 2h4", "M9 12h11M16 8l4 4-4 4"],
  close: ["M6 6l12 12M18 6 6 18"],
  check: ["m5 12.5 4.5 4.5L19 7.5"],
};

const SVG = "http://www.w3.org/2000/svg";

export function icon(name, className = "icon") {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", className);
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "20");
  svg.setAttribute("height", "20");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const part of PATHS[name] ?? []) {
    if (typeof part === "string") {
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", part);
      svg.append(path);
    } else {
      const [cx, cy, r] = part.circle;
      const circle = document.createElementNS(SVG, "circle");
      circle.setAttribute("cx", cx);
      circle.setAttribute("cy", cy);
      circle.setAttribute("r", r);
      svg.append(circle);
    }
  }
  return svg;
}

export function element(tag, className = "", text = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

/**
 * "When · IP · browser" for a notification, as a <p> with a local <time>.
 * The full user agent goes in the browser part's tooltip.
 */
export function metaLine(notification, className = "notice-meta") {
  const line = element("p", className);
  const parts = [];
  if (notification.created_at) {
    const when = element("span", "notice-meta__when");
    when.append(timeElement(notification.created_at, "relative"));
    parts.push(when);
  }
  if (notification.ip) {
    const ip = element("span", "notice-meta__ip");
    ip.append("IP ", element("span", "mono", notification.ip));
    parts.push(ip);
  }
  if (notification.user_agent) {
    const browser = element("span", "notice-meta__browser", describeUserAgent(notification.user_agent) || "Unknown browser");
    browser.title = notification.user_agent;
    parts.push(browser);
  }
  parts.forEach((part, index) => {
    if (index) line.append(element("span", "notice-meta__sep", " · "));
    line.append(part);
  });
  return line;
}

/** The device line: its name, and what kind of passkey it is when known. */
export function deviceLine(notification, className = "notice-device") {
  const device = notification.device ?? {};
  const line = element("p", className);
  line.append(element("strong", "notice-device__name", device.name || "A device"));
  if (device.authenticator) line.append(element("span", "notice-device__model", device.authenticator));
  if (device.status === "blocked") line.append(element("span", "badge badge--danger notice-device__status", "Blocked"));
  else if (device.status === "gone") line.append(element("span", "badge notice-device__status", "Removed"));
  else if (device.status === "pending") line.append(element("span", "badge badge--warning notice-device__status", "Waiting for approval"));
  return line;
}

/** What a notice is about: the website (name and address) of a website's notice, else its device. */
export function subjectLine(notification) {
  const website = notification.website;
  if (!website) return deviceLine(notification, "notice-device");
  const line = element("p", "notice-device notice-website");
  line.append(
    element("strong", "notice-website__name", website.name),
    element("span", "notice-device__model notice-website__origin", website.origin),
  );
  return line;
}

// ---- actions --------------------------------------------------------------------------------

/**
 * Block a device (POST /api/devices/<id>/block), with a step-up when the server asks for one.
 * Afterwards the browser is told its passkey is gone (Signal API) and the page is told the
 * devices changed (the account page refreshes its list). Resolves to the blocked device.
 */
export async function blockDevice(deviceId, { onStepUp } = {}) {
  const answer = await withStepUp(
    () => api(`/api/devices/${encodeURIComponent(deviceId)}/block`, { body: {} }),
    { onStepUp },
  );
  const device = answer?.device ?? { id: deviceId, status: "blocked" };
  if (device.credential_id) signalUnknownCredential(device.credential_id);
  document.dispatchEvent(new CustomEvent("keystead:devices-changed", { detail: { device, action: "block" } }));
  return device;
}
