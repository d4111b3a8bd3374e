// /admin/audit: the audit log with filters and pages; "Export CSV" downloads the same filtered
// view (GET /api/admin/audit.csv with the same query).
//   GET /api/admin/audit?user_id=&kind=&actor_id=&ip=&since=&until=&page=&per_page=
//     → {events: [{id, at, kind, user_id, actor_id, actor, device_id, ip, user_agent, details}], total, page, per_page}

import {
  el, fillFromLocation, humanise, load, messageRow, pager, queryOf, rememberQuery, say, sayError, when,
} from "./common.js";

const PER_PAGE = 50;
const $ = (id) => document.getElementById(id);
const form = $("audit-filters");
const rows = $("event-rows");
const exportLink = $("audit-export");

/** The form's query, its local times sent as UTC instants. */
function filters() {
  const query = queryOf(form);
  for (const name of ["since", "until"]) {
    if (query[name]) {
      const date = new Date(query[name]);
      if (!Number.isNaN(date.getTime())) query[name] = date.toISOString();
    }
  }
  return query;
}

function details(value) {
  if (!value || (typeof value === "object" && !Object.keys(value).length)) return "";
  if (typeof value !== "object") return String(value);
  return Object.entries(value).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join("; ");
}

/** Who acted: the administrator, the command line or a system actor, else the ID itself. */
function by(event) {
  if (event.actor) return event.actor;
  if (event.actor_id) return `#${event.actor_id}`;
  if (typeof event.details?.actor === "string") return event.details.actor;
  return el("span", { class: "muted" }, event.user_id ? "The ID itself" : "—");
}

function row(event) {
  return el(
    "tr",
    { dataset: { eventId: String(event.id), kind: event.kind } },
    el("td", {}, when(event.at, "datetime")),
    el("td", {}, humanise(event.kind), el("br"), el("span", { class: "mono muted" }, event.kind)),
    el("td", {}, event.user_id ? el("a", { href: `/admin/users/${encodeURIComponent(event.user_id)}` }, `#${event.user_id}`) : ""),
    el("td", {}, by(event)),
    el("td", { class: "mono" }, event.ip || ""),
    el("td", { class: "audit-details" }, details(event.details)),
  );
}

async function show(page = 1, { focus = false } = {}) {
  const query = filters();
  if (page > 1) query.page = String(page);
  rememberQuery(queryOf(form));
  const { page: _, ...exported } = query;
  exportLink.href = `/api/admin/audit.csv${Object.keys(exported).length ? `?${new URLSearchParams(exported)}` : ""}`;
  say("events-summary", "Loading…", "progress");
  try {
    const answer = await load(`/api/admin/audit?${new URLSearchParams({ ...query, per_page: String(PER_PAGE) })}`);
    rows.replaceChildren(...answer.events.map(row));
    if (!answer.events.length) messageRow(rows, "No events match.");
    $("event-total").textContent = String(answer.total);
    say("events-summary", answer.total === 1 ? "1 event." : `${answer.total} events.`);
    showPager(answer);
    if (focus) $("events-title").focus();
  } catch (error) {
    messageRow(rows, "");
    sayError("events-summary", error);
  }
}

const showPager = pager({
  nav: $("event-pager"),
  info: $("page-info"),
  previous: $("prev-page"),
  next: $("next-page"),
  go: (page) => show(page, { focus: true }),
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  show(1, { focus: true });
});

const start = fillFromLocation(form);
show(Number(start.get("page")) || 1);
