// The popup's last page (response_mode=web_message, templates/embed/web_message.html): hands
// the website the code or the error, then closes. The message goes to the window that opened
// the popup, at exactly the redirect URI's origin (the browser drops it for any other page),
// and the website's component checks that it came from Keystead and from this popup.
//
// main#web-message's data-posted says what happened, for tests: "opener" or "no-opener".

const page = document.getElementById("web-message");
const message = JSON.parse(document.getElementById("message").textContent);
const targetOrigin = page.dataset.targetOrigin;

if (window.opener && targetOrigin) {
  window.opener.postMessage(message, targetOrigin);
  page.dataset.posted = "opener";
  window.close();
} else {
  // Opened some other way (or the website's page is gone): the page already says to close it.
  page.dataset.posted = "no-opener";
}
