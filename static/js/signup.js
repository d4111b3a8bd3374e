// /signup: username, email, display name → the browser's create dialog → /account, or back to
// the page's data-next (a website waiting for the new ID to sign in). An invitation link
// (/signup?invitation=<token>) sends its token as "invitation"; the server fills in the
// invited address (and username). When no ID can be created from here (registration closed,
// or invitation-only without a valid link) the server renders its own message instead of the
// form, and this module has nothing to do.

import {
  ApiError, api, createCredential, defaultDeviceName, isSupported,
} from "./webauthn.js";
import { explain } from "./messages.js";
import {
  LEAVING, clearErrorOnInput, clearStatus, safeLocalPath, setFieldError, setStatus, showError,
  usernameProblem, whileBusy,
} from "./ui.js";

const form = document.getElementById("signup-form");
if (form) start(form);

function start(form) {
  const nextUrl = safeLocalPath(form.dataset.next, "/account");
  const invitation = new URLSearchParams(window.location.search).get("invitation");
  const fields = {
    username: document.getElementById("username"),
    email: document.getElementById("email"),
    display_name: document.getElementById("display_name"),
    device_name: document.getElementById("device_name"),
  };
  const createButton = document.getElementById("create-id");

  const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

  function validate() {
    const problems = [];
    const usernameIssue = usernameProblem(fields.username);
    problems.push([fields.username, usernameIssue === "Enter your username." ? "Choose a username." : usernameIssue]);

    const email = fields.email.value.trim();
    problems.push([fields.email, !email ? "Enter your email address."
      : EMAIL.test(email) && email.length <= fields.email.maxLength ? "" : "Enter an email address like name@example.com."]);

    let first = null;
    for (const [input, message] of problems) {
      setFieldError(input, message);
      if (message && !first) first = input;
    }
    return first;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearStatus();
    const invalid = validate();
    if (invalid) {
      invalid.focus();
      setStatus("Please correct the highlighted fields.", "error");
      return;
    }

    const account = {
      username: fields.username.value.trim(),
      email: fields.email.value.trim(),
    };
    const displayName = fields.display_name.value.trim();
    if (displayName) account.display_name = displayName;
    if (invitation) account.invitation = invitation;
    const deviceName = fields.device_name.value.trim() || defaultDeviceName();

    await whileBusy(createButton, async () => {
      try {
        const options = await api("/api/register/begin", { body: account });
        setStatus("Follow your browser's prompt to create a passkey…", "progress");
        const credential = await createCredential(options);
        setStatus("Saving your passkey…", "progress");
        const answer = await api("/api/register/complete", {
          body: { ...credential, device_name: deviceName },
        });
        if (answer?.backup_required === true) {
          // Policy on_enrollment: backup comes next, before anything else (then on to `next`).
          setStatus("Your ID is ready. Next, set up its backup…", "success");
          const query = new URLSearchParams({ prompt: "1" });
          if (nextUrl !== "/account") query.set("next", nextUrl);
          window.location.assign(`/account/backup?${query}`);
        } else if (nextUrl !== "/account") {
          // A website is waiting for this sign-in.
          setStatus("Your ID is ready. Taking you back…", "success");
          window.location.assign(nextUrl);
        } else {
          setStatus("Your ID is ready. Taking you to your account…", "success");
          window.location.assign("/account");
        }
        return LEAVING;
      } catch (error) {
        showError(error);
        if (error instanceof ApiError && error.code === "username_taken") {
          setFieldError(fields.username, error.message);
          fields.username.focus();
          fields.username.select();
        }
        return undefined;
      }
    });
  });

  clearErrorOnInput(...Object.values(fields));

  if (!isSupported()) {
    setStatus(explain(new Error("unsupported")), "error");
  } else {
    if (!fields.device_name.value) fields.device_name.value = defaultDeviceName();
    createButton.disabled = false;
  }
}
