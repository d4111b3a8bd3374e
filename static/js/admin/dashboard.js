// /admin/: the dashboard's figures from GET /api/admin/stats, each linking to the list behind it
// (the answer names the link).
//   {at, users: {total, active, deactivated}, devices: {active, blocked, flagged},
//    backup: {with_backup, of, percent, link}, sign_ins: {last_24h, last_30d},
//    recoveries: {last_24h, last_30d}, mail: {pending, failed}}, each figure {value, link}
// A group or figure the page has no words for is shown by its name, so a new one appears.

import { el, humanise, load, sayError, when } from "./common.js";

const figures = document.getElementById("figures");
const card = document.getElementById("figures-card");

const GROUPS = {
  users: "IDs",
  devices: "Devices",
  backup: "Backup",
  sign_ins: "Sign-ins",
  recoveries: "Recoveries",
  mail: "Undelivered mail",
};
// Figures in this order within a group (the server's JSON sorts its keys by name).
const NAMES = {
  total: "All",
  active: "Active",
  deactivated: "Deactivated",
  blocked: "Blocked",
  flagged: "Flagged (maybe cloned)",
  last_24h: "Last 24 hours",
  last_30d: "Last 30 days",
  pending: "Waiting or retrying",
  failed: "Given up",
};

function figure(name, value, link, key) {
  const label = el("span", { class: "figure__label" }, name);
  return el(
    "div",
    { class: "figure", dataset: { key } },
    el("span", { class: "figure__value" }, value),
    link ? el("a", { href: link }, label) : label,
  );
}

/** Known names first, in the order above; others after them, as they came. */
function ordered(entries, known) {
  const rank = (name) => {
    const index = Object.keys(known).indexOf(name);
    return index < 0 ? Infinity : index;
  };
  return [...entries].sort(([a], [b]) => rank(a) - rank(b));
}

const isFigure = (value) => value && typeof value === "object" && typeof value.value === "number";

function group(key, value) {
  const title = GROUPS[key] ?? humanise(key);
  let items;
  if (key === "backup" && typeof value?.percent === "number") {
    items = [figure(`IDs with backup: ${value.with_backup} of ${value.of}`, `${value.percent} %`, value.link, "backup")];
  } else if (isFigure(value)) {
    items = [figure(title, String(value.value), value.link, key)];
  } else if (value && typeof value === "object") {
    items = ordered(Object.entries(value), NAMES)
      .filter(([, item]) => isFigure(item))
      .map(([name, item]) => figure(NAMES[name] ?? humanise(name), String(item.value), item.link, `${key}.${name}`));
  } else {
    return null;
  }
  const id = `group-${key}`;
  return el(
    "section",
    { class: "figure-group", "aria-labelledby": id },
    el("h3", { id, class: "figure-group__title" }, title),
    el("div", { class: "figures" }, ...items),
  );
}

load("/api/admin/stats").then((answer) => {
  const groups = ordered(Object.entries(answer ?? {}), GROUPS)
    .filter(([key]) => key !== "at")
    .map(([key, value]) => group(key, value))
    .filter(Boolean);
  figures.replaceChildren(...groups);
  if (answer?.at) figures.append(el("p", { class: "muted" }, "Counted ", when(answer.at, "datetime"), "."));
  if (!groups.length) figures.replaceChildren(el("p", { class: "muted" }, "No figures yet."));
  card.setAttribute("aria-busy", "false");
}, (error) => {
  figures.replaceChildren();
  card.setAttribute("aria-busy", "false");
  sayError("status", error);
});
