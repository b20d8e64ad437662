// After a new login asked for by a decision (fresh_login.html, then login.html), put back what
// the person had typed in the page's form. login.js keeps it in this tab's sessionStorage until
// the page it was typed on opens again; it is used once, and only on that page.
"use strict";
(function () {
  var kept;
  try { kept = JSON.parse(window.sessionStorage.getItem("zorgid-kept") || "null"); } catch (e) { return; }
  if (!kept || kept.path !== window.location.pathname) { return; }
  window.sessionStorage.removeItem("zorgid-kept");
  document.addEventListener("DOMContentLoaded", function () {
    Object.keys(kept.fields || {}).forEach(function (name) {
      Array.prototype.forEach.call(document.getElementsByName(name), function (field) {
        var typed = field.tagName === "TEXTAREA" ||
          (field.tagName === "INPUT" && (field.type === "text" || field.type === "url"));
        if (typed) { field.value = String(kept.fields[name]); }
      });
    });
  });
})();
