// /admin/: the dashboard's figures from GET /api/admin/stats, each linking to the list behind it
// where there is one. Figures are shown as the API names them, so a new one appears by itself.

import { el, humanise, load, sayError } from "./common.js";

const figures = document.getElementById("figures");
const card = document.getElementById("figures-card");

// The list behind a figure, where one exists.
const LINKS = {
  users: "/admin/users",
  ids: "/admin/users",
  blocked_devices: "/admin/audit?kind=device_blocked",
  flagged_devices: "/admin/audit?kind=device_flagged",
  sign_ins: "/admin/audit?kind=signed_in",
  recoveries: "/admin/audit?kind=recovery_completed",
};

function linkFor(key, given) {
  if (typeof given === "string" && given.startsWith("/")) return given;
  const base = key.replace(/_(24h|30d|last_.*|today)$/, "");
  return LINKS[key] ?? LINKS[base] ?? null;
}

function figure(key, value, links) {
  const shown = typeof value === "number" && !Number.isInteger(value) ? `${Math.round(value * 1000) / 10} %` : String(value);
  const label = el("span", { class: "figure__label" }, humanise(key));
  const href = linkFor(key, links?.[key]);
  return el(
    "div",
    { class: "figure", dataset: { key } },
    el("span", { class: "figure__value" }, shown),
    href ? el("a", { href }, label) : label,
  );
}

/** Every number in the answer, nested groups named "group: figure". */
function flatten(answer, prefix = "") {
  const found = [];
  for (const [key, value] of Object.entries(answer ?? {})) {
    if (key === "links") continue;
    const name = prefix ? `${prefix}_${key}` : key;
    if (typeof value === "number") found.push([name, value]);
    else if (value && typeof value === "object" && !Array.isArray(value)) found.push(...flatten(value, name));
  }
  return found;
}

load("/api/admin/stats").then((answer) => {
  const stats = answer?.stats ?? answer;
  const shown = flatten(stats);
  figures.replaceChildren(...shown.map(([key, value]) => figure(key, value, answer?.links)));
  if (!shown.length) figures.replaceChildren(el("p", { class: "muted" }, "No figures yet."));
  card.setAttribute("aria-busy", "false");
}, (error) => {
  figures.replaceChildren();
  card.setAttribute("aria-busy", "false");
  sayError("status", error);
});
