// Sign in with Microsoft, for the panel in a CRM's iframe (web/oidc.go).
// The panel opens a popup, where the sign-in happens at the top level; the
// popup's last page posts a one-time code back to the panel, which trades
// it for its session cookie and reloads.
(function () {
  "use strict";
  var MESSAGE = "parley-signin";

  // In the panel: the button, and the code coming back.
  var button = document.getElementById("oidc-signin");
  if (button) {
    var status = document.getElementById("oidc-status");
    var popup = null;
    button.addEventListener("click", function () {
      // A popup, because Microsoft's sign-in refuses to be framed.
      popup = window.open(button.dataset.start, "parley-signin", "popup,width=520,height=680");
      status.textContent = popup ? button.dataset.waiting : button.dataset.blocked;
    });
    window.addEventListener("message", function (e) {
      // Only our own popup, on our own origin.
      if (e.origin !== window.location.origin || !popup || e.source !== popup) {
        return;
      }
      var d = e.data;
      if (!d || d.type !== MESSAGE || typeof d.code !== "string") {
        return;
      }
      popup = null;
      fetch("/auth/oidc/session", { method: "POST", body: new URLSearchParams({ code: d.code }), credentials: "same-origin" })
        .then(function (r) {
          if (r.ok) {
            window.location.reload();
          } else {
            status.textContent = button.dataset.failed;
          }
        })
        .catch(function () { status.textContent = button.dataset.failed; });
    });
  }

  // In the popup: hand the code to the panel that opened it, and close.
  var done = document.getElementById("oidc-done");
  if (done && done.dataset.code) {
    if (window.opener) {
      // Targeted at our origin: a page of another origin that opened
      // this window gets nothing.
      window.opener.postMessage({ type: MESSAGE, code: done.dataset.code }, window.location.origin);
      window.close();
    } else {
      done.textContent = done.dataset.noOpener;
    }
  }
})();
