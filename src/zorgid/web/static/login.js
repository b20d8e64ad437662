// QR login in the browser: draw the QR, follow the login's state by server-sent events (polling
// when EventSource is not available or keeps failing), send the code, and take the session.
"use strict";
(function () {
  var box = document.getElementById("login");
  if (!box) { return; }
  var id = box.dataset.login;
  var texts = document.getElementById("texts").dataset;
  var statusLine = document.getElementById("status");
  var codeForm = document.getElementById("code-form");
  var codeError = document.getElementById("code-error");
  var completeForm = document.getElementById("complete-form");
  var again = document.getElementById("again");
  var finished = false;
  var pollTimer = null;

  var qr = qrcode(0, "M");
  qr.addData(box.dataset.qr);
  qr.make();
  document.getElementById("qr").innerHTML = qr.createSvgTag({ cellSize: 6, margin: 4, scalable: true });

  function show(state) {
    box.dataset.state = state;
    if (texts[state]) { statusLine.textContent = texts[state]; }
    if (state === "scanned") { document.getElementById("code").focus(); }
    if (state === "approved") { finish(); }
    if (state === "declined" || state === "failed" || state === "expired") {
      finished = true;
      codeForm.hidden = true;
      again.hidden = false;
      stop();
    }
  }

  function finish() {
    if (finished) { return; }
    finished = true;
    stop();
    fetch(completeForm.action, {
      method: "POST", body: new FormData(completeForm), credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (r) {
      if (!r.ok) { completeForm.hidden = false; return; }
      return r.json().then(function (body) {
        // Only a path of this site (the service sends "/" or a back-office page).
        var next = typeof body.next === "string" && /^\/[A-Za-z0-9._~%\/-]*$/.test(body.next) &&
          body.next.indexOf("//") < 0 ? body.next : "/";
        var kept = document.getElementById("kept");
        if (kept && kept.dataset.path === next) {
          // What the person typed before this login, for kept.js to put back on that page.
          window.sessionStorage.setItem("zorgid-kept", JSON.stringify({ path: next, fields: JSON.parse(kept.dataset.fields) }));
        }
        window.location.assign(next);
      });
    }).catch(function () { completeForm.hidden = false; });
  }

  var source = null;
  var failures = 0;
  function stop() {
    if (source) { source.close(); source = null; }
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  }

  function poll() {
    if (pollTimer) { return; }
    pollTimer = setInterval(function () {
      fetch("/login/" + id + "/status", { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (body) { if (body.state) { show(body.state); } else if (body.error) { show("failed"); } })
        .catch(function () { statusLine.textContent = texts.offline; });
    }, 2000);
  }

  if (window.EventSource) {
    source = new EventSource("/login/" + id + "/events");
    source.addEventListener("state", function (e) { failures = 0; show(JSON.parse(e.data).state); });
    source.onerror = function () {
      failures += 1;
      if (failures >= 3 && !finished) { stop(); poll(); }
    };
  } else {
    poll();
  }

  codeForm.addEventListener("submit", function (e) {
    e.preventDefault();
    codeError.textContent = "";
    fetch(codeForm.action, {
      method: "POST", body: new FormData(codeForm), credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (r) {
      return r.json().then(function (body) {
        if (r.ok) { show(body.state); return; }
        codeError.textContent = body.error ? body.error.message : "";
        if (body.error && (body.error.code === "login_failed" || body.error.code === "login_expired")) { show("failed"); }
      });
    }).catch(function () { codeError.textContent = texts.offline; });
  });

  setTimeout(function () { if (!finished && box.dataset.state === "pending") { show("expired"); } },
             (parseInt(box.dataset.expiresIn, 10) || 120) * 1000);
})();
