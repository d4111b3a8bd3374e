// /admin/users/<id>: one ID as an administrator sees it, and what may be done to it. Every
// change needs a fresh verification: on 401 reauth_required the passkey is asked for, then
// the call is retried once (common.js change()). After a change the page reads the ID again
// (GET /api/admin/users/<id>), so what it shows is what the server holds.
//   devices   POST /api/admin/devices/<id>/block | /unblock, DELETE /api/admin/devices/<id>
//   sessions  DELETE /api/admin/users/<id>/sessions/<session id>, POST …/sessions/end
//   the ID    POST …/deactivate | …/reactivate, DELETE /api/admin/users/<id> {confirm: username}
//   backup    POST …/backup-code {deliver: "email" | "display"}
//   roles     PUT …/roles {roles}
//   trail     GET /api/admin/audit?user_id=<id>

import { api } from "../webauthn.js";
import { renderCode } from "../backupcode.js";
import {
  change, closeDialog, el, humanise, load, messageRow, openDialog, say, sayError, when,
} from "./common.js";

const root = document.getElementById("user-page");
const userId = root.dataset.userId;
const base = `/api/admin/users/${encodeURIComponent(userId)}`;
const $ = (id) => document.getElementById(id);
let detail = null;

// ---- showing the ID ----------------------------------------------------------------------

function badge(text, tone = "", data = {}) {
  return el("span", { class: `badge${tone ? ` badge--${tone}` : ""}`, dataset: data }, text);
}

function kindOf(device) {
  if (device.backed_up) return "Synced passkey";
  if (device.backup_eligible) return "Can sync";
  return "Device-bound";
}

const STATUS = { active: ["Active", "ok"], blocked: ["Blocked", "danger"], pending: ["Waiting for approval", "warning"] };

function deviceRow(device) {
  const [label, tone] = STATUS[device.status] ?? [humanise(device.status), ""];
  const name = el("span", { class: "device-name" }, device.name);
  const actions = el("td", { class: "row-actions" });
  const named = (text) => [text, el("span", { class: "visually-hidden" }, ` ${device.name}`)];
  if (device.status === "blocked") {
    actions.append(el("button", { type: "button", class: "btn btn-secondary btn-sm unblock" }, ...named("Unblock")));
  } else {
    actions.append(el("button", { type: "button", class: "btn btn-ghost btn-sm btn-danger-text block" }, ...named("Block")));
  }
  actions.append(el("button", { type: "button", class: "btn btn-ghost btn-sm btn-danger-text unpair" }, ...named("Unpair")));
  return el(
    "tr",
    { dataset: { deviceId: String(device.id), status: device.status }, class: "device-row" },
    el("th", { scope: "row" }, name, device.authenticator ? [el("br"), el("span", { class: "muted" }, device.authenticator)] : null),
    el("td", {}, when(device.created_at, "date")),
    el("td", {}, when(device.last_used_at)),
    el("td", {}, kindOf(device)),
    el(
      "td",
      {},
      badge(label, tone, { state: device.status }),
      device.flagged ? [" ", badge("Flagged: possible clone", "warning", { flagged: "true" })] : null,
    ),
    actions,
  );
}

function sessionRow(session) {
  const label = [session.device || "A removed device", session.browser].filter(Boolean).join(" · ");
  return el(
    "tr",
    { dataset: { sessionId: String(session.id) } },
    el("th", { scope: "row" }, label),
    el("td", { class: "mono" }, session.ip),
    el("td", {}, when(session.created_at, "datetime")),
    el("td", {}, when(session.last_seen_at)),
    el(
      "td",
      { class: "row-actions" },
      el("button", { type: "button", class: "btn btn-ghost btn-sm end-session" }, "End", el("span", { class: "visually-hidden" }, ` the session of ${label}`)),
    ),
  );
}

function show(answer) {
  detail = answer;
  const { user, devices, sessions, websites, backup } = answer;
  $("user-heading").textContent = user.display_name || user.username;
  document.title = `${user.username} · ${document.title.split(" · ").slice(1).join(" · ")}`;
  $("user-username").textContent = user.username;
  $("user-email").textContent = user.email;
  $("user-display-name").replaceChildren(user.display_name || el("span", { class: "muted" }, "Not set"));
  $("user-created").replaceChildren(when(user.created_at, "date"));
  $("user-last-sign-in").replaceChildren(when(user.last_sign_in_at));
  $("user-roles").replaceChildren(user.roles.length ? user.roles.map(humanise).join(", ") : el("span", { class: "muted" }, "None"));
  const status = $("user-status");
  status.dataset.status = user.status;
  status.className = `badge ${user.status === "active" ? "badge--ok" : "badge--warning"}`;
  status.textContent = user.status === "active" ? "Active" : "Deactivated";
  $("deactivate").hidden = user.status !== "active";
  $("reactivate").hidden = user.status === "active";

  $("device-rows").replaceChildren(...devices.map(deviceRow));
  $("device-count").textContent = String(devices.length);
  $("no-devices").hidden = devices.length > 0;
  $("device-table").hidden = devices.length === 0;

  $("session-rows").replaceChildren(...sessions.map(sessionRow));
  $("session-count").textContent = String(sessions.length);
  $("no-sessions").hidden = sessions.length > 0;
  $("session-table").hidden = sessions.length === 0;
  $("end-all-sessions").disabled = sessions.length === 0;

  $("website-list").replaceChildren(
    ...websites.map((site) => el(
      "li",
      {},
      el("strong", {}, site.website),
      " ",
      el("span", { class: "mono muted" }, site.origin),
      " · last used ",
      when(site.last_used_at),
    )),
  );
  $("website-count").textContent = String(websites.length);
  $("no-websites").hidden = websites.length > 0;

  const state = $("backup-state");
  state.className = `badge ${backup.active ? "badge--ok" : "badge--warning"}`;
  state.textContent = backup.active ? "Active" : "Not active";
  state.dataset.state = backup.active ? "active" : "inactive";
  $("backup-text").replaceChildren(
    ...(backup.active
      ? ["Active", backup.activated_at ? [" since ", when(backup.activated_at, "date")] : [], ". Administrators never see the code."].flat()
      : ["Backup is not active: this ID has no backup code."]),
  );

  const rolesForm = $("roles-form");
  if (rolesForm) {
    for (const box of rolesForm.querySelectorAll("input[name='role']")) box.checked = user.roles.includes(box.value);
  }
  if ($("delete-username")) $("delete-username").textContent = user.username;
}

async function refresh() {
  try {
    show(await load(base));
    root.setAttribute("aria-busy", "false");
    enable();
  } catch (error) {
    root.setAttribute("aria-busy", "false");
    sayError("status", error);
  }
}

function enable() {
  for (const id of ["deactivate", "reactivate", "delete-open", "reissue", "save-roles"]) {
    const control = $(id);
    if (control) control.disabled = false;
  }
  $("end-all-sessions").disabled = (detail?.sessions.length ?? 0) === 0;
}

/** After a change that re-rendered a row: focus the control now in its place. */
function focusRow(selector, fallback) {
  const target = document.querySelector(selector);
  (target ?? fallback)?.focus();
}

// ---- devices -----------------------------------------------------------------------------

const deviceUrl = (id) => `/api/admin/devices/${encodeURIComponent(id)}`;
const deviceName = (row) => row.querySelector(".device-name").textContent;

$("device-rows").addEventListener("click", (event) => {
  const button = event.target.closest("button");
  const row = button?.closest("[data-device-id]");
  if (!row || button.disabled) return;
  const id = row.dataset.deviceId;
  const name = deviceName(row);
  if (button.classList.contains("block")) {
    change(button, "devices-status", () => api(`${deviceUrl(id)}/block`), async () => {
      await refresh();
      say("devices-status", `Blocked “${name}”. It is signed out and cannot sign in; the owner is told.`, "success");
      focusRow(`[data-device-id="${id}"] .unblock`, $("devices-title"));
    });
  } else if (button.classList.contains("unblock")) {
    change(button, "devices-status", () => api(`${deviceUrl(id)}/unblock`), async () => {
      await refresh();
      say("devices-status", `Unblocked “${name}”. It can sign in again.`, "success");
      focusRow(`[data-device-id="${id}"] .block`, $("devices-title"));
    });
  } else if (button.classList.contains("unpair")) {
    unpairing = { id, name, button };
    $("unpair-name").textContent = name;
    say("unpair-progress", "");
    openDialog($("unpair-dialog"), $("unpair-cancel"));
  }
});

let unpairing = null;
$("unpair-cancel").addEventListener("click", () => closeDialog($("unpair-dialog"), unpairing?.button));
$("unpair-confirm").addEventListener("click", async () => {
  const { id, name } = unpairing;
  await change($("unpair-confirm"), "unpair-progress", () => api(deviceUrl(id), { method: "DELETE" }), async () => {
    closeDialog($("unpair-dialog"));
    await refresh();
    say("devices-status", `Unpaired “${name}”. It can no longer sign in to this ID.`, "success");
    $("devices-title").focus();
  });
});

// ---- sessions ----------------------------------------------------------------------------

$("session-rows").addEventListener("click", (event) => {
  const button = event.target.closest("button.end-session");
  const row = button?.closest("[data-session-id]");
  if (!row || button.disabled) return;
  const url = `${base}/sessions/${encodeURIComponent(row.dataset.sessionId)}`;
  change(button, "sessions-status", () => api(url, { method: "DELETE" }), async () => {
    await refresh();
    say("sessions-status", "Session ended. That browser has to sign in again.", "success");
    $("sessions-title").focus();
  });
});

$("end-all-sessions").addEventListener("click", () => {
  const button = $("end-all-sessions");
  change(button, "sessions-status", () => api(`${base}/sessions/end`), async (answer) => {
    await refresh();
    const ended = answer?.ended ?? 0;
    say("sessions-status", ended === 1 ? "Ended 1 session." : `Ended ${ended} sessions.`, "success");
    $("sessions-title").focus();
  });
});

// ---- the ID: deactivate, reactivate, delete ---------------------------------------------

for (const [id, verb, done] of [
  ["deactivate", "deactivate", "Deactivated: it cannot sign in or recover, and its sessions ended. Its data is kept."],
  ["reactivate", "reactivate", "Reactivated: it can sign in again."],
]) {
  $(id).addEventListener("click", () => {
    change($(id), "status", () => api(`${base}/${verb}`), async () => {
      await refresh();
      say("status", done, "success");
      $(id === "deactivate" ? "reactivate" : "deactivate").focus();
    });
  });
}

// Deleting an ID is an administrator's (a helpdesk's page has no Delete).
const deleteDialog = $("delete-dialog");
if (deleteDialog) {
  $("delete-open").addEventListener("click", () => {
    $("delete-confirm").value = "";
    say("delete-progress", "");
    openDialog(deleteDialog, $("delete-confirm"));
  });
  $("delete-cancel").addEventListener("click", () => closeDialog(deleteDialog, $("delete-open")));
  $("delete-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const typed = $("delete-confirm").value.trim();
    if (!detail || typed !== detail.user.username) {
      say("delete-progress", "Type the username exactly as shown to delete this ID.", "error");
      $("delete-confirm").focus();
      return;
    }
    const body = { confirm: typed }; // the server checks it too
    await change($("delete-confirm-button"), "delete-progress", () => api(base, { method: "DELETE", body }), () => {
      window.location.assign("/admin/users");
    });
  });
}

// ---- backup code -------------------------------------------------------------------------

$("reissue-form")?.addEventListener("submit", (event) => {
  event.preventDefault();
  const deliver = new FormData(event.target).get("deliver");
  change($("reissue"), "backup-status", () => api(`${base}/backup-code`, { body: { deliver } }), async (answer) => {
    if (answer?.backup_code) {
      renderCode($("code-value"), answer.backup_code); // wraps between groups, as on /account/backup
      say("backup-status", "A new backup code was made. The old one no longer works.", "success");
      openDialog($("code-dialog"), $("code-value"));
    } else {
      say("backup-status", "A new backup code was mailed to the ID's backup address. The old one no longer works.", "success");
    }
    await refresh();
  });
});
$("code-close").addEventListener("click", () => {
  $("code-value").textContent = ""; // shown once: gone from the page when closed
  closeDialog($("code-dialog"), $("reissue"));
});
$("code-dialog").addEventListener("close", () => {
  $("code-value").textContent = "";
});

// ---- roles (admins only) -----------------------------------------------------------------

$("roles-form")?.addEventListener("submit", (event) => {
  event.preventDefault();
  const roles = [...event.target.querySelectorAll("input[name='role']:checked")].map((box) => box.value);
  change($("save-roles"), "roles-status", () => api(`${base}/roles`, { method: "PUT", body: { roles } }), async () => {
    await refresh();
    say("roles-status", roles.length ? `Roles saved: ${roles.map(humanise).join(", ")}.` : "Roles saved: none.", "success");
  });
});

// ---- the ID's audit trail ----------------------------------------------------------------

async function trail() {
  const rows = $("trail-rows");
  if (!rows || root.dataset.mayViewAudit !== "true") return;
  messageRow(rows, "Loading…");
  try {
    const answer = await load(`/api/admin/audit?${new URLSearchParams({ user_id: userId, per_page: "20" })}`);
    rows.replaceChildren(...answer.events.map((event) => el(
      "tr",
      { dataset: { kind: event.kind } },
      el("td", {}, when(event.at, "datetime")),
      el("td", {}, humanise(event.kind)),
      el("td", {}, event.actor || event.details?.actor || el("span", { class: "muted" }, "The ID itself")),
      el("td", { class: "mono" }, event.ip || ""),
    )));
    if (!answer.events.length) messageRow(rows, "Nothing recorded yet.");
    say("trail-note", answer.total > answer.events.length ? `The latest ${answer.events.length} of ${answer.total} events.` : "");
  } catch (error) {
    messageRow(rows, "");
    sayError("trail-note", error);
  }
}

refresh();
trail();
