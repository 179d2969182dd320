// rcmbot console: behaviour shared by every page. The CSP forbids inline script, so pages load
// their scripts from /static (with defer) and post through rcmbot.post, which sends the CSRF header.
"use strict";

window.rcmbot = {
  /** This page's CSRF token (base.html puts it in <meta name="csrf-token">). */
  csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  },

  /** POST `body` to `url` as this user: FormData or URLSearchParams as a form, anything else as JSON. */
  post(url, body) {
    const headers = { "X-CSRF-Token": window.rcmbot.csrfToken() };
    let payload = body;
    if (!(body instanceof FormData) && !(body instanceof URLSearchParams)) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body === undefined ? {} : body);
    }
    return fetch(url, { method: "POST", headers, body: payload, credentials: "same-origin" });
  },
};
