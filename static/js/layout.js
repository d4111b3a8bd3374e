// Loaded on every page by base.html: the header's Sign out button and local times for
// <time datetime> elements. (Signed-in pages also load live.js: live notifications.)

import { api } from "./webauthn.js";
import { showError, whileBusy } from "./ui.js";
import { localiseTimes } from "./times.js";

export { localiseTimes };

const SIGNIN_PATH = "/signin";

// ---- Sign out ------------------------------------------------------------
// The button is disabled in the HTML: before this module runs, a click would do nothing.

for (const button of document.querySelectorAll("[data-action='signout']")) {
  button.addEventListener("click", async () => {
    try {
      await whileBusy(button, () => api("/api/logout", { method: "POST" }));
      window.location.assign(button.dataset.next || SIGNIN_PATH);
    } catch (error) {
      showError(error);
    }
  });
  button.disabled = false;
}

// ---- Times -----------------------------------------------------------------

localiseTimes();
