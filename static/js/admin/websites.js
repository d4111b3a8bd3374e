// /admin/websites: the websites that sign in with Keystead (OpenID Connect clients): add, edit
// redirect URIs and origins, rotate the secret (shown here once), delete.
// A website is named by its client_id.
//   GET /api/admin/websites → {websites: [{client_id, name, public, trusted, redirect_uris, origins, created_at, …}]}
//   POST /api/admin/websites {name, redirect_uris, origins, public, trusted} → 201 {website, client_secret?}
//   PATCH /api/admin/websites/<client_id> {…} → {website}; DELETE … → 204
//   POST /api/admin/websites/<client_id>/secret → {website, client_secret}

import { api } from "../webauthn.js";
import { setFieldError } from "../ui.js";
import {
  change, closeDialog, copy, el, load, messageRow, openDialog, say, sayError, when,
} from "./common.js";

const $ = (id) => document.getElementById(id);
const form = $("site-form");
const rows = $("site-rows");
const once = $("secret-once");
let websites = [];

const lines = (text) => text.split("\n").map((line) => line.trim()).filter(Boolean);
const siteUrl = (id) => `/api/admin/websites/${encodeURIComponent(id)}`;

function row(site) {
  const name = site.name;
  const hidden = (text) => [text, el("span", { class: "visually-hidden" }, ` ${name}`)];
  return el(
    "tr",
    { dataset: { clientId: site.client_id } },
    el("th", { scope: "row" }, el("span", { class: "site-name" }, name), el("br"), el("span", { class: "mono muted" }, site.client_id ?? "")),
    el(
      "td",
      {},
      el("ul", { class: "plain-list" }, ...(site.redirect_uris ?? []).map((uri) => el("li", { class: "mono" }, uri))),
      (site.origins ?? []).length ? el("p", { class: "muted" }, "Embedded on: ", (site.origins ?? []).join(", ")) : null,
      site.trusted ? el("p", { class: "muted" }, "First-party: no consent screen") : null,
    ),
    el("td", {}, when(site.created_at, "date")),
    el(
      "td",
      { class: "row-actions" },
      el("button", { type: "button", class: "btn btn-ghost btn-sm edit" }, ...hidden("Edit")),
      site.public ? null : el("button", { type: "button", class: "btn btn-ghost btn-sm rotate" }, ...hidden("New secret")),
      el("button", { type: "button", class: "btn btn-ghost btn-sm btn-danger-text delete" }, ...hidden("Delete")),
    ),
  );
}

async function list() {
  try {
    const answer = await load("/api/admin/websites");
    websites = answer?.websites ?? [];
    rows.replaceChildren(...websites.map(row));
    if (!websites.length) messageRow(rows, "No websites yet.");
    $("site-count").textContent = String(websites.length);
  } catch (error) {
    messageRow(rows, "");
    sayError("sites-status", error);
  }
}

function showSecret(site, secret) {
  if (!secret) return;
  $("secret-site").textContent = site?.name ?? "";
  $("secret-client-id").textContent = site?.client_id ?? "";
  $("secret-value").textContent = secret;
  once.hidden = false;
  once.focus();
}

function editing(site) {
  form.dataset.editing = site ? site.client_id : "";
  $("site-form-title").textContent = site ? `Edit “${site.name}”` : "Add a website";
  $("site-save").textContent = site ? "Save changes" : "Add website";
  $("site-cancel").hidden = !site;
  $("site-name").value = site?.name ?? "";
  $("site-redirects").value = (site?.redirect_uris ?? []).join("\n");
  $("site-origins").value = (site?.origins ?? []).join("\n");
  $("site-trusted").checked = Boolean(site?.trusted);
  $("site-public").checked = Boolean(site?.public);
  $("site-public").disabled = Boolean(site); // chosen when the website is added
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("site-name");
  setFieldError(name, "");
  if (!name.value.trim()) {
    setFieldError(name, "Give the website a name.");
    name.focus();
    return;
  }
  const body = {
    name: name.value.trim(),
    redirect_uris: lines($("site-redirects").value),
    origins: lines($("site-origins").value),
    trusted: $("site-trusted").checked,
  };
  const id = form.dataset.editing;
  if (!id) body.public = $("site-public").checked;
  const call = id ? () => api(siteUrl(id), { method: "PATCH", body }) : () => api("/api/admin/websites", { body });
  await change($("site-save"), "site-status", call, async (answer) => {
    const site = answer?.website;
    say("site-status", id ? `Saved “${body.name}”.` : `Added “${body.name}”.`, "success");
    editing(null);
    await list();
    if (!id) showSecret(site, answer?.client_secret ?? site?.client_secret);
  });
});

$("site-cancel").addEventListener("click", () => {
  editing(null);
  $("sites-title").focus();
});

$("secret-copy").addEventListener("click", async () => {
  say("site-status", (await copy($("secret-value").textContent)) ? "Secret copied." : "Copy the secret by hand: the browser refused.");
});
$("secret-done").addEventListener("click", () => {
  $("secret-value").textContent = "";
  once.hidden = true;
  $("sites-title").focus();
});

let deleting = null;
rows.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  const tr = button?.closest("[data-client-id]");
  if (!tr) return;
  const site = websites.find((w) => w.client_id === tr.dataset.clientId);
  if (button.classList.contains("edit")) {
    editing(site);
    $("site-form-title").focus();
  } else if (button.classList.contains("rotate")) {
    change(button, "sites-status", () => api(`${siteUrl(site.client_id)}/secret`), (answer) => {
      say("sites-status", `“${site.name}” has a new secret; the old one no longer works.`, "success");
      showSecret(site, answer?.client_secret);
    });
  } else if (button.classList.contains("delete")) {
    deleting = { site, button };
    $("site-delete-name").textContent = site.name;
    say("site-delete-progress", "");
    openDialog($("site-delete-dialog"), $("site-delete-cancel"));
  }
});
$("site-delete-cancel").addEventListener("click", () => closeDialog($("site-delete-dialog"), deleting?.button));
$("site-delete-confirm").addEventListener("click", () => {
  const { site } = deleting;
  change($("site-delete-confirm"), "site-delete-progress", () => api(siteUrl(site.client_id), { method: "DELETE" }), async () => {
    closeDialog($("site-delete-dialog"));
    await list();
    say("sites-status", `Deleted “${site.name}”.`, "success");
    $("sites-title").focus();
  });
});

$("site-save").disabled = false;
list();
