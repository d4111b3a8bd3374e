// /admin/authenticators: the models the loaded FIDO metadata knows (GET /api/admin/authenticators)
// and the allow-list (the policy ALLOWED_AUTHENTICATORS, a list of AAGUIDs), saved with
// PATCH /api/admin/policy. A compromised model is refused whatever the list says. A newer BLOB
// is loaded with POST /api/admin/authenticators/blob {blob} (verified as the CLI does).

import { api } from "../webauthn.js";
import { setFieldError } from "../ui.js";
import { change, el, load, messageRow, say, sayError, when } from "./common.js";

const KEY = "ALLOWED_AUTHENTICATORS";
const $ = (id) => document.getElementById(id);
const form = $("allow-form");
const rows = $("model-rows");
let allowed = new Set();

function statusOf(model) {
  const status = model.status ?? model.statuses?.[0] ?? "";
  return String(status || "—").replaceAll("_", " ").toLowerCase();
}

function row(model) {
  const id = `allow-${model.aaguid}`;
  const box = el("input", { type: "checkbox", id, value: model.aaguid, class: "allow" });
  box.checked = allowed.has(model.aaguid);
  if (model.compromised) box.disabled = true;
  return el(
    "tr",
    { dataset: { aaguid: model.aaguid, name: String(model.name ?? "").toLowerCase() } },
    el("td", {}, box),
    el("th", { scope: "row" }, el("label", { for: id }, model.name || model.description || model.aaguid)),
    el("td", { class: "mono" }, model.aaguid),
    el("td", { class: model.compromised ? "field-error" : "" }, statusOf(model)),
  );
}

function countAllowed() {
  const count = rows.querySelectorAll("input.allow:checked").length;
  $("allowed-count").textContent = count ? `${count} allowed` : "No allow-list: any model may be registered";
}

function showBlob(answer) {
  const blob = answer?.blob;
  const info = $("blob-info");
  if (!blob) {
    info.replaceChildren("No metadata loaded: authenticator models are only what devices claim.");
  } else {
    info.replaceChildren(
      `BLOB number ${blob.no} with ${blob.entries} models, loaded `,
      when(blob.loaded_at, "datetime"),
      `; the next is published on ${blob.next_update}.`,
    );
  }
  $("attestation-info").textContent = answer?.attestation_required
    ? "Verified attestation is required (ATTESTATION_REQUIRED): the allow-list applies to every new passkey."
    : "Verified attestation is not required (ATTESTATION_REQUIRED, on the Policies page): the allow-list applies only to passkeys whose attestation is verified.";
}

function showModels(models) {
  const list = models?.authenticators ?? [];
  rows.replaceChildren(...list.map(row));
  if (!list.length) messageRow(rows, "No metadata loaded yet: load a BLOB above, or run flask --app app mds load FILE.");
  $("model-count").textContent = String(list.length);
  showBlob(models);
}

async function start() {
  messageRow(rows, "Loading…");
  try {
    const [models, policy] = await Promise.all([load("/api/admin/authenticators"), load("/api/admin/policy")]);
    allowed = new Set(policy.policy?.[KEY] ?? []);
    showModels(models);
    $("save-allowed").disabled = false;
    $("blob-load").disabled = false;
    countAllowed();
  } catch (error) {
    messageRow(rows, "");
    sayError("status", error);
  } finally {
    form.setAttribute("aria-busy", "false");
  }
}

$("model-filter").addEventListener("input", (event) => {
  const wanted = event.target.value.trim().toLowerCase();
  for (const tr of rows.querySelectorAll("tr[data-aaguid]")) {
    tr.hidden = Boolean(wanted) && !tr.dataset.name.includes(wanted) && !tr.dataset.aaguid.includes(wanted);
  }
});
rows.addEventListener("change", countAllowed);

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const chosen = [...rows.querySelectorAll("input.allow:checked")].map((box) => box.value);
  change($("save-allowed"), "status", () => api("/api/admin/policy", { method: "PATCH", body: { [KEY]: chosen } }), (answer) => {
    allowed = new Set(answer.policy?.[KEY] ?? chosen);
    const count = chosen.length === 1 ? "1 model" : `${chosen.length} models`;
    say("status", chosen.length ? `Saved: only ${count} may be registered.` : "Saved: any model may be registered.", "success");
  });
});

$("blob-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("blob-file");
  const file = input.files?.[0];
  setFieldError(input, "");
  if (!file) {
    setFieldError(input, "Choose the metadata BLOB file.");
    input.focus();
    return;
  }
  const blob = (await file.text()).trim();
  change($("blob-load"), "blob-status", () => api("/api/admin/authenticators/blob", { body: { blob } }), (answer) => {
    showModels(answer);
    countAllowed();
    say("blob-status", "Metadata loaded and verified.", "success");
  });
});

start();
