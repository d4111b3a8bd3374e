// The backup code, shown once: fills the #code-card block (templates/recovery/_macros.html)
// and wires Copy, Download as text, Print and the "I have saved my backup code" checkbox
// that enables the continue button. Used by /recover and /account/backup.
//
// The code lives only in this page's memory and DOM. It is never written to
// localStorage, sessionStorage, cookies or the URL.

let current = null; // { code, username, rpName, created: Date }
let wired = false;
let feedbackTimer = 0;

const $ = (id) => document.getElementById(id);

/** Split "K7QM-3WXD-…" into groups so a long code wraps between groups, not inside one. */
export function renderCode(element, code) {
  element.textContent = "";
  const groups = code.split("-");
  groups.forEach((group, index) => {
    if (index > 0) {
      const sep = document.createElement("span");
      sep.className = "code-sep";
      sep.textContent = "-";
      element.append(sep, document.createElement("wbr"));
    }
    const span = document.createElement("span");
    span.className = "code-group";
    span.textContent = group;
    element.append(span);
  });
}

function feedback(message, tone = "success") {
  const region = $("code-feedback");
  if (!region) return;
  window.clearTimeout(feedbackTimer);
  region.dataset.tone = tone;
  region.textContent = "";
  if (!message) return;
  const text = document.createElement("span");
  text.textContent = message;
  region.append(text);
  feedbackTimer = window.setTimeout(() => { region.textContent = ""; }, 12000);
}

function selectCode() {
  const value = $("backup-code-value");
  const selection = window.getSelection();
  if (!value || !selection) return;
  const range = document.createRange();
  range.selectNodeContents(value);
  selection.removeAllRanges();
  selection.addRange(range);
}

async function copyCode() {
  if (!current) return;
  const button = $("backup-copy");
  const label = button.querySelector(".btn-label");
  try {
    if (!navigator.clipboard?.writeText) throw new Error("no clipboard");
    await navigator.clipboard.writeText(current.code);
    feedback("Copied. Paste it into your password manager or another safe place.");
    if (label) {
      label.textContent = "Copied";
      window.setTimeout(() => { label.textContent = "Copy"; }, 2500);
    }
  } catch {
    selectCode();
    feedback("Could not copy automatically. The code is selected: press Ctrl+C (⌘C on a Mac) to copy it.", "error");
  }
}

const slug = (text) => String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "") || "id";

function recoverUrl() {
  return `${window.location.origin}/recover`;
}

function textFile() {
  const { code, username, rpName, created } = current;
  const when = new Intl.DateTimeFormat(undefined, { dateStyle: "long", timeStyle: "short" }).format(created);
  return [
    `${rpName} backup code`,
    "",
    `Username:     ${username}`,
    `Created:      ${when}`,
    `Backup code:  ${code}`,
    "",
    "How to use it: if you lose your passkeys or security keys, open",
    `${recoverUrl()} , enter your username and this backup code,`,
    "then the code we email to you. Each backup code works once; afterwards",
    "you get a new one, and this one stops working.",
    "",
    "Keep this private and away from your devices, for example in a password",
    "manager or printed in a drawer. Together with access to your email, it",
    "lets someone into your ID.",
    "",
  ].join("\r\n");
}

function downloadCode() {
  if (!current) return;
  const blob = new Blob([textFile()], { type: "text/plain;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = `${slug(current.rpName)}-backup-code-${slug(current.username)}.txt`;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 30000);
  feedback("Downloaded. Move the file somewhere safe, away from this device if you can.");
}

let continueHandler = () => window.location.assign("/account");

function wire() {
  if (wired) return;
  wired = true;
  const saved = $("backup-saved");
  const next = $("backup-continue");
  $("backup-copy").addEventListener("click", copyCode);
  $("backup-download").addEventListener("click", downloadCode);
  $("backup-print").addEventListener("click", () => window.print());
  saved.addEventListener("change", () => {
    next.disabled = !saved.checked;
  });
  next.addEventListener("click", () => {
    if (next.disabled) return;
    next.disabled = true;
    next.classList.add("is-busy");
    continueHandler();
  });
}

/**
 * Show a backup code once.
 *   code       the grouped code, or null when it was emailed instead
 *   username   the ID's username (shown, and used in the download's name)
 *   replaced   true: also say that the old backup code no longer works
 *   emailedTo  with code null: the masked address it went to, if known
 *   onContinue called when the person has confirmed they saved it and continues
 * Returns the card's heading, for the caller to focus.
 */
export function showBackupCode({ code, username, replaced = false, emailedTo = "", onContinue }) {
  const card = $("code-card");
  const rpName = card.dataset.rpName || document.title.split(" · ").pop() || "Keystead";
  const name = username || card.dataset.username || "";
  const created = new Date();

  for (const element of card.querySelectorAll(".code-username")) element.textContent = name;
  for (const element of card.querySelectorAll(".code-recover-url")) element.textContent = recoverUrl();
  $("code-date").textContent = new Intl.DateTimeFormat(undefined, { dateStyle: "long" }).format(created);
  $("backup-old-void").hidden = !replaced;

  const shown = typeof code === "string" && code.length > 0;
  $("code-box").hidden = !shown;
  $("code-actions").hidden = !shown;
  $("code-saved-field").hidden = !shown;
  $("backup-code-emailed").hidden = shown;
  $("code-card-lead").hidden = !shown;
  $("code-usage").hidden = !shown;
  $("code-card-title").textContent = shown ? "Your backup code" : "Your backup code was emailed";

  const saved = $("backup-saved");
  const next = $("backup-continue");
  saved.checked = false;
  feedback("");
  if (shown) {
    current = { code, username: name, rpName, created };
    renderCode($("backup-code-value"), code);
    next.disabled = true;
    document.body.classList.add("has-backup-code");
  } else {
    current = null;
    $("backup-code-value").textContent = "";
    $("code-emailed-to").textContent = emailedTo || "your email address";
    next.disabled = false;
    document.body.classList.remove("has-backup-code");
  }
  if (onContinue) continueHandler = onContinue;
  wire();
  return $("code-card-title");
}
