// <keystead-signin>: "Sign in with Keystead" for any website. Served as GET /embed.js (any
// origin may load it); load it as a module from the Keystead server the website is registered
// with:
//
//   <script type="module" src="https://id.example.com/embed.js"></script>
//   <keystead-signin client-id="…" redirect-uri="https://shop.example/callback"
//                    scope="openid profile" code-challenge="…" mode="popup"></keystead-signin>
//
// Attributes: client-id, redirect-uri, scope (default "openid"), state (made up when absent),
// nonce, code-challenge (PKCE S256; required from public clients), mode: "popup" (default)
// or "inline".
//
// popup:  the button opens Keystead's authorization endpoint in a popup with
//         response_mode=web_message; its last page posts the result back to this page.
// inline: the button is replaced by Keystead's sign-in frame (/embed/signin), which may be
//         framed only by the website's registered origins. When the browser cannot run the
//         passkey sign-in there (it does not tell which page the frame is in), the frame asks
//         for the popup and the button comes back.
//
// Results arrive as events that bubble out of the shadow DOM:
//   keystead-signin  detail {code, state, iss}: send the code to the website's server, which
//                    redeems it at the token endpoint (with the PKCE verifier) and checks
//                    that `state` is the one it expected;
//   keystead-error   detail {error, error_description, state}.
// Only messages from Keystead's origin, from this element's own popup or frame, with this
// element's state, are taken.
//
// Styling: CSS custom properties --keystead-button-bg, --keystead-button-color,
// --keystead-button-border, --keystead-radius, --keystead-font, --keystead-frame-height,
// --keystead-focus; or ::part(button) and ::part(frame).

const RP_NAME = "Keystead";
const KEYSTEAD = new URL(import.meta.url).origin;
const SIGNIN = "keystead-signin";
const FALLBACK = "keystead-fallback";
const RESIZE = "keystead-resize";
const MAX_FRAME_HEIGHT = 640;
const POPUP = { width: 600, height: 700 };

const STYLE = `
:host { display: inline-block; }
:host([hidden]) { display: none; }
:host([data-mode="inline"]) { display: block; }
button {
  display: inline-flex;
  align-items: center;
  justify-content: center;
  gap: 0.5em;
  min-height: 2.75rem;
  padding: 0.55em 1.1em;
  font: var(--keystead-font, inherit);
  font-weight: 600;
  color: var(--keystead-button-color, #fff);
  background: var(--keystead-button-bg, #4f46e5);
  border: var(--keystead-button-border, 0);
  border-radius: var(--keystead-radius, 10px);
  cursor: pointer;
}
button:hover:not(:disabled) { filter: brightness(1.08); }
button:focus-visible { outline: 3px solid var(--keystead-focus, #4f46e5); outline-offset: 2px; }
button:disabled { cursor: progress; opacity: 0.7; }
svg { width: 1.25em; height: 1.25em; flex: none; }
iframe {
  display: block;
  width: 100%;
  height: var(--keystead-frame-height, 9rem);
  border: 0;
  border-radius: var(--keystead-radius, 10px);
}
`;

const ICON = `<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false" fill="none"
  stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">
  <circle cx="9" cy="7.5" r="3.75"/><path d="M2.75 19.5c0-3.6 2.8-6 6.25-6 1.3 0 2.5.3 3.5.9"/>
  <circle cx="17.5" cy="12.75" r="2.5"/><path d="M17.5 15.25V21l1.5-1.25-1.5-1.25 1.5-1.25"/>
</svg>`;

/** 128 random bits, base64url: a state nobody can guess. */
function randomState() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

function styles(root) {
  if ("adoptedStyleSheets" in root && typeof CSSStyleSheet.prototype.replaceSync === "function") {
    // A constructed sheet: no inline <style>, so a page's strict style-src does not block it.
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLE);
    root.adoptedStyleSheets = [sheet];
  } else {
    const style = document.createElement("style");
    style.textContent = STYLE;
    root.append(style);
  }
}

class KeysteadSignin extends HTMLElement {
  static observedAttributes = [
    "client-id", "redirect-uri", "scope", "state", "nonce", "code-challenge", "mode",
  ];

  #root;
  #popup = null;
  #popupWatch = null;
  #frame = null;
  #state = null;
  #fallback = false;
  #connected = false;
  #renderQueued = false;
  #onMessage = (event) => this.#receive(event);

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: "open" });
    styles(this.#root);
  }

  connectedCallback() {
    window.addEventListener("message", this.#onMessage);
    this.#connected = true;
    this.#render();
  }

  disconnectedCallback() {
    window.removeEventListener("message", this.#onMessage);
    this.#connected = false;
    clearInterval(this.#popupWatch);
  }

  attributeChangedCallback(_name, before, after) {
    // Attributes set one after another (or all at once on upgrade) draw the element once.
    if (!this.#connected || before === after || this.#renderQueued) return;
    this.#renderQueued = true;
    queueMicrotask(() => {
      this.#renderQueued = false;
      if (this.#connected) this.#render();
    });
  }

  /** "inline" only when asked for and the frame has not asked for the popup. */
  get mode() {
    return this.getAttribute("mode") === "inline" && !this.#fallback ? "inline" : "popup";
  }

  /** The authorization request's parameters, with a new state unless the page set one. */
  #request() {
    this.#state = this.getAttribute("state") || randomState();
    const params = new URLSearchParams({
      client_id: this.getAttribute("client-id") ?? "",
      redirect_uri: this.getAttribute("redirect-uri") ?? "",
      scope: this.getAttribute("scope") || "openid",
      state: this.#state,
    });
    // On a page with a Content-Security-Policy the browser hides the nonce attribute
    // (getAttribute gives ""; only the element's nonce property keeps it).
    const nonce = this.nonce || this.getAttribute("nonce");
    if (nonce) params.set("nonce", nonce);
    const challenge = this.getAttribute("code-challenge");
    if (challenge) {
      params.set("code_challenge", challenge);
      params.set("code_challenge_method", "S256");
    }
    return params;
  }

  #render() {
    const mode = this.mode;
    this.dataset.mode = mode;
    for (const node of [...this.#root.childNodes]) {
      if (node.nodeName !== "STYLE") node.remove();
    }
    this.#frame = null;
    if (mode === "inline") {
      const frame = document.createElement("iframe");
      frame.setAttribute("part", "frame");
      frame.title = `Sign in with ${RP_NAME}`;
      frame.allow = `publickey-credentials-get ${KEYSTEAD}`;
      frame.referrerPolicy = "no-referrer";
      frame.src = `${KEYSTEAD}/embed/signin?${this.#request()}`;
      this.#frame = frame;
      this.#root.append(frame);
      return;
    }
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("part", "button");
    button.innerHTML = ICON;
    const label = document.createElement("span");
    label.textContent = `Sign in with ${RP_NAME}`;
    button.append(label);
    button.addEventListener("click", () => this.#openPopup(button));
    this.#root.append(button);
  }

  #openPopup(button) {
    const url = new URL("/oauth/authorize", KEYSTEAD);
    url.search = this.#request().toString();
    url.searchParams.set("response_type", "code");
    url.searchParams.set("response_mode", "web_message");
    const left = Math.max(0, window.screenX + (window.outerWidth - POPUP.width) / 2);
    const top = Math.max(0, window.screenY + (window.outerHeight - POPUP.height) / 2);
    const features = `popup,width=${POPUP.width},height=${POPUP.height},left=${left},top=${top}`;
    this.#popup = window.open(url, "keystead-signin", features);
    if (!this.#popup) {
      this.#emit("keystead-error", {
        error: "popup_blocked",
        error_description: "The browser blocked the sign-in window.",
        state: this.#state,
      });
      return;
    }
    button.disabled = true;
    clearInterval(this.#popupWatch);
    // The person may close the popup without signing in: the button works again.
    this.#popupWatch = setInterval(() => {
      if (!this.#popup || this.#popup.closed) {
        clearInterval(this.#popupWatch);
        this.#popup = null;
        button.disabled = false;
      }
    }, 500);
  }

  #receive(event) {
    if (event.origin !== KEYSTEAD) return;
    const fromFrame = this.#frame !== null && event.source === this.#frame.contentWindow;
    const fromPopup = this.#popup !== null && event.source === this.#popup;
    if (!fromFrame && !fromPopup) return;
    const data = event.data;
    if (!data || typeof data !== "object") return;
    if (data.type === RESIZE && fromFrame) {
      const height = Number(data.height);
      if (Number.isFinite(height) && height > 0) {
        this.#frame.style.height = `${Math.min(Math.ceil(height), MAX_FRAME_HEIGHT)}px`;
      }
      return;
    }
    if (data.type === FALLBACK && fromFrame) {
      this.#fallback = true;
      this.#render();
      return;
    }
    if (data.type !== SIGNIN || data.state !== this.#state) return;
    const state = this.#state;
    if (typeof data.code === "string") {
      this.#emit("keystead-signin", { code: data.code, state, iss: data.iss });
    } else {
      this.#emit("keystead-error", {
        error: typeof data.error === "string" ? data.error : "server_error",
        error_description: data.error_description ?? null,
        state,
      });
    }
  }

  #emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }
}

if (!customElements.get("keystead-signin")) {
  customElements.define("keystead-signin", KeysteadSignin);
}
