// /admin/invitations: invite one person (the link mailed, or shown here once as a link and QR
// code), import a CSV of many (all or none: one bad row invites nobody), list and revoke.
//   POST /api/admin/invitations {email, username?, role?, deliver} → 201 {invitation: {id, email, expires_at, url, qr_svg}}
//   GET /api/admin/invitations, DELETE /api/admin/invitations/<id>
//   POST /api/admin/invitations/import (text/csv) → {results: [{row, ok, error?}], created}

import { api } from "../webauthn.js";
import { setFieldError } from "../ui.js";
import {
  change, copy, el, humanise, load, messageRow, say, sayError, sendRaw, when,
} from "./common.js";

const $ = (id) => document.getElementById(id);
const form = $("invite-form");
const once = $("invite-once");

// The server's status names (pending, used, expired, revoked), in words.
const STATUS_WORDS = { pending: "Waiting to be used", used: "Used", expired: "Expired", revoked: "Revoked" };

function row(invitation) {
  const state = STATUS_WORDS[invitation.status] ?? humanise(invitation.status ?? "");
  const open = invitation.status === "pending";
  return el(
    "tr",
    { dataset: { invitationId: String(invitation.id) } },
    el("th", { scope: "row" }, invitation.email),
    el("td", { class: "mono" }, invitation.username || ""),
    el("td", {}, invitation.role ? humanise(invitation.role) : el("span", { class: "muted" }, "None")),
    el("td", { class: "invitation-status", dataset: { status: invitation.status ?? "" } }, state),
    el("td", {}, when(invitation.expires_at, "datetime")),
    el(
      "td",
      { class: "row-actions" },
      open ? el("button", { type: "button", class: "btn btn-ghost btn-sm btn-danger-text revoke" }, "Revoke", el("span", { class: "visually-hidden" }, ` the invitation of ${invitation.email}`)) : null,
    ),
  );
}

async function list() {
  const rows = $("invitation-rows");
  try {
    const answer = await load("/api/admin/invitations");
    const invitations = answer?.invitations ?? [];
    rows.replaceChildren(...invitations.map(row));
    if (!invitations.length) messageRow(rows, "No invitations yet.");
    $("invitation-count").textContent = String(answer?.total ?? invitations.length);
  } catch (error) {
    messageRow(rows, "");
    sayError("list-status", error);
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const email = $("invite-email");
  setFieldError(email, "");
  if (!email.value.trim() || !email.checkValidity()) {
    setFieldError(email, "Enter the email address to invite.");
    email.focus();
    return;
  }
  const data = new FormData(form);
  const body = { email: email.value.trim(), deliver: data.get("deliver") };
  if (data.get("username")?.trim()) body.username = data.get("username").trim();
  if (data.get("role")) body.role = data.get("role");
  once.hidden = true;
  await change($("invite-send"), "invite-status", () => api("/api/admin/invitations", { body }), async (answer) => {
    const invitation = answer.invitation;
    if (invitation.url) {
      $("invite-once-email").textContent = invitation.email;
      $("invite-url").textContent = invitation.url;
      const qr = $("invite-qr");
      qr.hidden = !invitation.qr_svg;
      if (invitation.qr_svg) qr.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(invitation.qr_svg)}`;
      once.hidden = false;
      say("invite-status", `Invitation made for ${invitation.email}.`, "success");
      once.focus();
    } else {
      say("invite-status", `Invitation mailed to ${invitation.email}.`, "success");
      email.focus();
    }
    form.reset();
    await list();
  });
});

$("invite-copy").addEventListener("click", async () => {
  say("invite-status", (await copy($("invite-url").textContent)) ? "Link copied." : "Copy the link by hand: the browser refused.");
});
$("invite-done").addEventListener("click", () => {
  $("invite-url").textContent = "";
  $("invite-qr").removeAttribute("src");
  once.hidden = true;
  $("invite-email").focus();
});

$("invitation-rows").addEventListener("click", (event) => {
  const button = event.target.closest("button.revoke");
  const tr = button?.closest("[data-invitation-id]");
  if (!tr) return;
  const url = `/api/admin/invitations/${encodeURIComponent(tr.dataset.invitationId)}`;
  change(button, "list-status", () => api(url, { method: "DELETE" }), async () => {
    await list();
    say("list-status", "Invitation revoked: its link no longer works.", "success");
    $("list-title").focus();
  });
});

$("import-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("import-file");
  const file = input.files?.[0];
  setFieldError(input, "");
  if (!file) {
    setFieldError(input, "Choose a CSV file.");
    input.focus();
    return;
  }
  const text = await file.text();
  const call = () => sendRaw("/api/admin/invitations/import", { body: text, type: "text/csv" });
  await change($("import-send"), "import-status", call, async (answer) => {
    const results = answer?.results ?? [];
    $("import-rows").replaceChildren(...results.map((result) => el(
      "tr",
      { dataset: { ok: String(result.ok) } },
      el("th", { scope: "row" }, String(result.row)),
      el("td", { class: result.ok ? "" : "field-error" }, result.ok ? "Invited" : result.error || "Refused"),
    )));
    $("import-results-wrap").hidden = results.length === 0;
    const created = answer?.created ?? results.filter((r) => r.ok).length;
    const bad = results.filter((r) => !r.ok).length;
    say(
      "import-status",
      bad ? `Nobody was invited: ${bad} ${bad === 1 ? "row needs" : "rows need"} correcting (below).` : `${created} invited.`,
      bad ? "error" : "success",
    );
    await list();
  });
});

for (const id of ["invite-send", "import-send"]) $(id).disabled = false;
list();
