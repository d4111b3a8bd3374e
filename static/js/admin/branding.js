// /admin/branding: the organisation's name and accent colour (GET, PATCH /api/admin/branding
// → {branding: {name, accent_color, logo: {url} | null, …}})
// and its logo (PUT /api/admin/branding/logo with the image's own content type: the server
// checks its type and size and re-encodes it; its refusal is shown as it says).

import { api } from "../webauthn.js";
import { setFieldError } from "../ui.js";
import { change, load, say, sayError, sendRaw } from "./common.js";

const $ = (id) => document.getElementById(id);
const form = $("brand-form");

function show(answer) {
  const brand = answer?.branding ?? answer ?? {};
  $("brand-name").value = brand.name ?? "";
  if (/^#[0-9a-fA-F]{6}$/.test(brand.accent_color ?? "")) $("brand-color").value = brand.accent_color;
  const preview = $("logo-preview");
  const logo = brand.logo?.url; // changes with the image: no cache-busting needed
  preview.hidden = !logo;
  if (logo) preview.src = logo;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  // An empty name puts the configured one back (null).
  const body = { name: $("brand-name").value.trim() || null, accent_color: $("brand-color").value };
  change($("brand-save"), "brand-status", () => api("/api/admin/branding", { method: "PATCH", body }), (answer) => {
    show(answer);
    say("brand-status", "Saved. Pages show it from their next load.", "success");
  });
});

$("logo-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("logo-file");
  const file = input.files?.[0];
  setFieldError(input, "");
  if (!file) {
    setFieldError(input, "Choose a PNG or JPEG image.");
    input.focus();
    return;
  }
  const call = () => sendRaw("/api/admin/branding/logo", { method: "PUT", body: file, type: file.type || "application/octet-stream" });
  change($("logo-save"), "logo-status", call, (answer) => {
    show(answer);
    say("logo-status", "Logo uploaded.", "success");
  });
});

load("/api/admin/branding").then((answer) => {
  show(answer);
  $("brand-save").disabled = false;
  $("logo-save").disabled = false;
  form.setAttribute("aria-busy", "false");
}, (error) => {
  form.setAttribute("aria-busy", "false");
  sayError("status", error);
});
