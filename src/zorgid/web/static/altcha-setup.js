// The public form's proof of work: the vendored ALTCHA widget (its build without inline styles
// or bundled workers, so that the page's CSP holds: script-src, worker-src and style-src 'self').
// This registers the one algorithm the service uses with its worker from /static, and the
// widget's texts from the page (translated by the service, in the page's language).
import "/static/vendor/altcha-3.2.2/altcha.min.js";

const WORKER = "/static/vendor/altcha-3.2.2/workers/pbkdf2.js";
const altcha = globalThis.$altcha;
altcha.algorithms.set("PBKDF2/SHA-256", () => new Worker(WORKER));
const strings = document.getElementById("altcha-strings");
if (strings) {
  const own = JSON.parse(strings.textContent);
  altcha.i18n.set(document.documentElement.lang, { ...(altcha.i18n.get("en") || {}), ...own });
}
