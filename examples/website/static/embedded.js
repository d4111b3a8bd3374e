// The embedded sign-in: Keystead's <keystead-signin> element fires a "keystead-signin" event
// whose detail is {code, state, iss}; this site's server checks the state and the issuer and
// redeems the code. A "keystead-error" event ({error, error_description, state}) says why
// there is no code (the person declined, the popup was blocked).
const button = document.querySelector("keystead-signin");
const status = document.getElementById("status");

button.addEventListener("keystead-signin", async (event) => {
  const { code, state, iss } = event.detail;
  status.textContent = "Signing you in…";
  let response;
  try {
    response = await fetch("/embedded/complete", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code, state, iss }),
      credentials: "same-origin",
    });
  } catch {
    status.textContent = "This site could not be reached. Reload the page to try again.";
    return;
  }
  if (response.ok) {
    window.location.assign("/");
    return;
  }
  // Each page load's state serves one attempt: a new one needs a reload.
  const body = await response.json().catch(() => ({}));
  status.textContent = `Sign-in failed (${body.error || response.status}). Reload the page to try again.`;
});

button.addEventListener("keystead-error", (event) => {
  const { error } = event.detail;
  status.textContent = error === "popup_blocked"
    ? "Your browser blocked the sign-in window: allow popups for this site, then try again."
    : `Sign-in did not complete (${error}).`;
});
