// The embedded sign-in: Keystead's <keystead-signin> element fires a "keystead-signin" event
// whose detail is {code, state}; this site's server checks the state and redeems the code.
const button = document.querySelector("keystead-signin");
const status = document.getElementById("status");

button.addEventListener("keystead-signin", async (event) => {
  const { code, state } = event.detail;
  status.textContent = "Signing you in…";
  let response;
  try {
    response = await fetch("/embedded/complete", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code, state }),
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
