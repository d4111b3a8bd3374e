// Loaded on every page by base.html: the header's Sign out button and local
// times for <time datetime> elements.

import { api, explain } from "./webauthn.js";
import { setStatus, whileBusy } from "./ui.js";

const SIGNIN_PATH = "/signin";

// ---- Sign out ------------------------------------------------------------

for (const button of document.querySelectorAll("[data-action='signout']")) {
  button.addEventListener("click", async () => {
    try {
      await whileBusy(button, () => api("/api/logout", { method: "POST" }));
      window.location.assign(button.dataset.next || SIGNIN_PATH);
    } catch (error) {
      setStatus(explain(error), "error");
    }
  });
}

// ---- Times -----------------------------------------------------------------
// The server renders <time datetime="2025-06-01T10:00:00+00:00">2025-06-01</time>.
// data-format="relative" shows "5 minutes ago" for the last month and a date before
// that; "date" a local date; anything else a local date and time.
// Either way the exact local time goes in the title (a tooltip).

function parseInstant(value) {
  // An ISO timestamp without a zone is taken as UTC, as the server stores it.
  const hasZone = /([zZ]|[+-]\d\d:?\d\d)$/.test(value);
  const isDateOnly = /^\d{4}-\d\d-\d\d$/.test(value);
  const date = new Date(hasZone || isDateOnly ? value : `${value}Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}

const UNITS = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

function relative(date, now = Date.now()) {
  const seconds = Math.round((date.getTime() - now) / 1000);
  if (Math.abs(seconds) < 45) return "just now";
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size * 0.9 || unit === "minute") {
      return format.format(Math.round(seconds / size), unit);
    }
  }
  return format.format(Math.round(seconds / 60), "minute");
}

const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });
const MEDIUM = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

export function localiseTimes(root = document) {
  for (const element of root.querySelectorAll("time[datetime]")) {
    const date = parseInstant(element.getAttribute("datetime"));
    if (!date) continue;
    const style = element.dataset.format;
    const recent = Math.abs(Date.now() - date.getTime()) < 30 * 24 * 3600 * 1000;
    element.textContent = style === "relative" ? (recent ? relative(date) : DATE.format(date))
      : style === "date" ? DATE.format(date)
        : MEDIUM.format(date);
    element.title = FULL.format(date);
  }
}

localiseTimes();
