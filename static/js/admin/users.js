// /admin/users: search and filter IDs, page through them; each row links to the ID's page.
//   GET /api/admin/users?q=&status=&role=&backup=&flagged=&page=&per_page= → {users, total, page, per_page}

import {
  el, fillFromLocation, load, messageRow, pager, queryOf, rememberQuery, say, sayError, when,
} from "./common.js";

const PER_PAGE = 20;
const form = document.getElementById("user-search");
const rows = document.getElementById("user-rows");
const total = document.getElementById("user-total");
const summary = document.getElementById("results-summary");
const heading = document.getElementById("results-title");

function row(user) {
  const link = el("a", { href: `/admin/users/${encodeURIComponent(user.id)}`, class: "mono user-link" }, user.username);
  const status = el(
    "span",
    { class: `badge ${user.status === "active" ? "badge--ok" : "badge--warning"}`, dataset: { status: user.status } },
    user.status === "active" ? "Active" : "Deactivated",
  );
  return el(
    "tr",
    { dataset: { userId: String(user.id) } },
    el("td", {}, link),
    el("td", {}, user.display_name || el("span", { class: "muted" }, "No name"), el("br"), el("span", { class: "muted" }, user.email)),
    el("td", {}, status),
    el("td", { class: "user-roles" }, user.roles.length ? user.roles.join(", ") : el("span", { class: "muted" }, "None")),
    el("td", { class: "user-backup" }, user.backup_active ? "Active" : "Not active"),
    el("td", { class: "user-devices" }, String(user.device_count)),
    el("td", {}, when(user.last_sign_in_at)),
  );
}

let page = 1;

async function search(wanted = 1, { focus = false } = {}) {
  const query = { ...queryOf(form) };
  if (wanted > 1) query.page = String(wanted);
  rememberQuery(query);
  const params = new URLSearchParams({ ...query, per_page: String(PER_PAGE) });
  say(summary, "Searching…", "progress");
  try {
    const answer = await load(`/api/admin/users?${params}`);
    page = answer.page;
    rows.replaceChildren(...answer.users.map(row));
    if (!answer.users.length) messageRow(rows, "No ID matches.");
    total.textContent = String(answer.total);
    say(summary, answer.total === 1 ? "1 ID found." : `${answer.total} IDs found.`);
    showPager(answer);
    if (focus) heading.focus();
  } catch (error) {
    messageRow(rows, "");
    sayError(summary, error);
  }
}

const showPager = pager({
  nav: document.getElementById("user-pager"),
  info: document.getElementById("page-info"),
  previous: document.getElementById("prev-page"),
  next: document.getElementById("next-page"),
  go: (wanted) => search(wanted, { focus: true }),
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  search(1, { focus: true });
});
for (const control of form.querySelectorAll("select, input[type='checkbox']")) {
  control.addEventListener("change", () => search(1));
}

const start = fillFromLocation(form);
page = Number(start.get("page")) || 1;
search(page);
