// /admin/policies: a form made from GET /api/admin/policy (each policy's key, documentation,
// accepted values, configured and effective value); PATCH /api/admin/policy sends only the
// keys changed here (null: back to the configured value). A refusal is the server's message,
// shown on the field of the key it names.

import { api } from "../webauthn.js";
import { setFieldError } from "../ui.js";
import { change, el, humanise, load, say, sayError } from "./common.js";

const form = document.getElementById("policy-form");
const fields = document.getElementById("policy-fields");
const save = document.getElementById("save-policies");
const changedCount = document.getElementById("changed-count");
let details = [];

/** `code` spans in the server's documentation, as <code>. */
function docText(text) {
  return String(text ?? "").split("`").map((part, i) => (i % 2 ? el("code", {}, part) : part));
}

/** How a policy is edited: its type, choices and range as the server declares them
 * (core/config.py, sent by GET /api/admin/policy). */
function kindOf(detail) {
  const choices = detail.choices ?? [];
  if (detail.type === "bool") return { kind: "bool" };
  if (detail.type === "list") return choices.length ? { kind: "multi", choices } : { kind: "list" };
  if (detail.type === "int") return { kind: "int", min: detail.min ?? undefined, max: detail.max ?? undefined };
  if (choices.length) return { kind: "choice", choices };
  return { kind: "text" };
}

function shown(value) {
  if (value === null || value === undefined) return "not set";
  if (Array.isArray(value)) return value.length ? value.join(", ") : "none";
  return String(value);
}

function input(detail, id) {
  const { kind, choices, min, max } = kindOf(detail);
  const value = detail.effective;
  let control;
  if (kind === "bool") {
    control = el("input", { type: "checkbox", id });
    control.checked = value === true;
  } else if (kind === "int") {
    control = el("input", { type: "number", id, step: "1", min: min ?? null, max: max ?? null, inputmode: "numeric" });
    control.value = value ?? "";
  } else if (kind === "multi") {
    // A list of some of the choices: one checkbox each, in a group named by the field's label.
    control = el(
      "div",
      { id, role: "group", tabindex: "-1", "aria-labelledby": `${id}-label`, class: "policy-choices" },
      ...choices.map((choice) => {
        const box = el("input", { type: "checkbox", value: choice, id: `${id}-${choice}` });
        box.checked = (value ?? []).includes(choice);
        return el("label", { class: "check", for: box.id }, box, ` ${choice}`);
      }),
    );
  } else if (kind === "list") {
    control = el("textarea", { id, rows: "3", spellcheck: "false" });
    control.value = (value ?? []).join("\n");
  } else if (kind === "choice") {
    control = el("select", { id }, ...choices.map((choice) => el("option", { value: choice }, choice)));
    control.value = value ?? "";
  } else {
    control = el("input", { type: "text", id, spellcheck: "false" });
    control.value = value ?? "";
  }
  control.dataset.kind = kind;
  control.dataset.key = detail.key;
  control.classList.add("policy-input");
  return control;
}

/** The control's value as JSON, as the API takes it; undefined when it cannot be one. */
function valueOf(control) {
  switch (control.dataset.kind) {
    case "bool":
      return control.checked;
    case "int":
      return control.value.trim() === "" || !/^-?\d+$/.test(control.value.trim()) ? undefined : Number(control.value);
    case "multi":
      return [...control.querySelectorAll("input:checked")].map((box) => box.value);
    case "list":
      return control.value.split("\n").map((line) => line.trim()).filter(Boolean);
    default:
      return control.value;
  }
}

function field(detail) {
  const id = `policy-${detail.key}`;
  const control = input(detail, id);
  const hint = el("p", { class: "field-hint", id: `${id}-hint` }, ...docText(detail.doc));
  const origin = el(
    "p",
    { class: "field-hint policy-origin", id: `${id}-origin` },
    detail.stored === null || detail.stored === undefined
      ? `Configured value (${shown(detail.configured)}).`
      : `Changed here; the configured value is ${shown(detail.configured)}.`,
  );
  control.setAttribute("aria-describedby", `${hint.id} ${origin.id}`);
  const reset = detail.stored === null || detail.stored === undefined ? null : el(
    "button",
    { type: "button", class: "btn btn-ghost btn-sm policy-reset", dataset: { key: detail.key } },
    "Use the configured value",
    el("span", { class: "visually-hidden" }, ` for ${humanise(detail.key)}`),
  );
  const name = [humanise(detail.key), " ", el("span", { class: "mono muted policy-key" }, detail.key)];
  const label = control.dataset.kind === "multi"
    ? el("span", { class: "label", id: `${id}-label` }, ...name)
    : el("label", { for: id, id: `${id}-label` }, ...name);
  const body = detail.type === "bool" || control.dataset.kind === "bool"
    ? [el("div", { class: "check" }, control, label)]
    : [label, control];
  return el("div", { class: "field policy", dataset: { key: detail.key } }, ...body, hint, origin, reset);
}

function render(answer) {
  details = answer.details;
  fields.replaceChildren(...details.map(field));
  form.setAttribute("aria-busy", "false");
  save.disabled = false;
  countChanges();
}

function changes() {
  const found = {};
  for (const detail of details) {
    const control = document.getElementById(`policy-${detail.key}`);
    if (!control) continue;
    if (control.dataset.reset === "true") {
      found[detail.key] = null;
      continue;
    }
    const value = valueOf(control);
    if (value === undefined || JSON.stringify(value) !== JSON.stringify(detail.effective)) {
      found[detail.key] = value === undefined ? control.value : value;
    }
  }
  return found;
}

function countChanges() {
  const count = Object.keys(changes()).length;
  changedCount.textContent = count ? `${count} unsaved ${count === 1 ? "change" : "changes"}` : "";
}

form.addEventListener("input", (event) => {
  const control = event.target.closest(".policy-input");
  if (control) {
    delete control.dataset.reset;
    setFieldError(control, "");
  }
  countChanges();
});

fields.addEventListener("click", (event) => {
  const button = event.target.closest(".policy-reset");
  if (!button) return;
  const detail = details.find((d) => d.key === button.dataset.key);
  const control = document.getElementById(`policy-${detail.key}`);
  const back = { ...detail, effective: detail.configured };
  const fresh = input(back, control.id);
  fresh.setAttribute("aria-describedby", control.getAttribute("aria-describedby"));
  fresh.dataset.reset = "true";
  control.replaceWith(fresh);
  say("status", `${humanise(detail.key)} goes back to the configured value when you save.`);
  countChanges();
  fresh.focus();
});

/** The field of the key the server's message names (the longest key that appears in it). */
function fieldNamed(message) {
  const keys = details.map((d) => d.key).sort((a, b) => b.length - a.length);
  const key = keys.find((k) => String(message).includes(k));
  return key ? document.getElementById(`policy-${key}`) : null;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  for (const control of fields.querySelectorAll(".policy-input")) setFieldError(control, "");
  const wanted = changes();
  const keys = Object.keys(wanted);
  if (!keys.length) {
    say("status", "Nothing was changed.");
    return;
  }
  const answer = await change(save, "status", () => api("/api/admin/policy", { method: "PATCH", body: wanted }));
  if (answer) {
    render(answer);
    say("status", `Saved: ${keys.join(", ")}. It applies at once.`, "success");
    return;
  }
  // Refused (the status region says why): mark the field the message names.
  const message = document.getElementById("status").textContent;
  const control = fieldNamed(message);
  if (control) {
    setFieldError(control, message);
    control.focus();
  }
});

load("/api/admin/policy").then(render, (error) => {
  fields.replaceChildren();
  form.setAttribute("aria-busy", "false");
  sayError("status", error);
});
