// Local times for <time datetime> elements. The server renders
// <time datetime="2025-06-01T10:00:00+00:00">2025-06-01</time>; data-format="relative" shows
// "5 minutes ago" for the last month and a date before that; "date" a local date; anything
// else a local date and time. Either way the exact local time goes in the title (a tooltip).

export function parseInstant(value) {
  if (typeof value !== "string") return null;
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

export function relative(date, now = Date.now()) {
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
const TIME = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

/** The text for one instant in one of the formats above ("time": today's time only). */
export function formatInstant(date, style) {
  const recent = Math.abs(Date.now() - date.getTime()) < 30 * 24 * 3600 * 1000;
  if (style === "relative") return recent ? relative(date) : DATE.format(date);
  if (style === "date") return DATE.format(date);
  if (style === "time") return TIME.format(date);
  return MEDIUM.format(date);
}

export function localiseTimes(root = document) {
  for (const element of root.querySelectorAll("time[datetime]")) {
    const date = parseInstant(element.getAttribute("datetime"));
    if (!date) continue;
    element.textContent = formatInstant(date, element.dataset.format);
    element.title = FULL.format(date);
  }
}

/** A <time> element for an ISO timestamp, already in local time. */
export function timeElement(iso, format = "datetime") {
  const element = document.createElement("time");
  element.setAttribute("datetime", iso);
  element.dataset.format = format;
  element.textContent = iso.slice(0, 16).replace("T", " ");
  const date = parseInstant(iso);
  if (date) {
    element.textContent = formatInstant(date, format);
    element.title = FULL.format(date);
  }
  return element;
}
