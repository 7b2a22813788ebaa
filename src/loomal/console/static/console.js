// Loomal Vault console: the little the pages cannot do without a script.
// Loaded from this origin only (the CSP allows no inline script). Secrets are
// fetched on demand (Reveal, TOTP) and never written to storage or the URL.
"use strict";

(function () {
  var TOTP_WITHHELD = "[use /v0/vault/:name/totp]";  // the API's placeholder for a seed

  // The session's binding, kept per origin (scheme, host and port): a session cookie
  // tossed in by a page on another port or host comes without it, and the server
  // refuses its POSTs. Only a sign-in's own answer page sets it, never a URL.
  var BINDING = "loomal-binding";

  function binding() {
    try { return localStorage.getItem(BINDING) || ""; } catch (e) { return ""; }
  }

  function setUpBinding() {
    var signedIn = document.getElementById("signed-in");
    if (signedIn) {
      try { localStorage.setItem(BINDING, signedIn.dataset.binding); } catch (e) { /* no storage */ }
      location.replace(signedIn.dataset.next);
      return;
    }
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (form.method !== "post") return;
      if (form.getAttribute("action") === "/sign-out") {
        try { localStorage.removeItem(BINDING); } catch (e) { /* no storage */ }
        return;
      }
      var input = form.querySelector('input[name="binding"]');
      if (!input) {
        input = document.createElement("input");
        input.type = "hidden";
        input.name = "binding";
        form.append(input);
      }
      input.value = binding();
    }, true);
  }

  function csrfToken() {
    var input = document.querySelector('input[name="csrf"]');
    return input ? input.value : "";
  }

  function show(element, text) {
    element.textContent = text;
    element.hidden = !text;
  }

  function copyText(text, button) {
    navigator.clipboard.writeText(text).then(
      function () {
        var label = button.textContent;
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = label; }, 1500);
      },
      function () { button.textContent = "Copy failed"; }
    );
  }

  async function callJson(url, options) {
    options = Object.assign({ credentials: "same-origin", cache: "no-store" }, options);
    if (options.method === "POST") {
      options.headers = Object.assign({ "X-Loomal-Binding": binding() }, options.headers);
    }
    var response = await fetch(url, options);
    var body = await response.json().catch(function () { return {}; });
    if (!response.ok) {
      throw new Error(body.message || "The vault refused (" + response.status + ").");
    }
    return body;
  }

  // Show / hide a masked input (password fields, secret text areas).
  function setUpToggles() {
    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-toggle]");
      if (!button) return;
      var field = document.getElementById(button.dataset.toggle);
      var showing = button.getAttribute("aria-pressed") === "true";
      if (field.tagName === "TEXTAREA") {
        field.classList.toggle("masked", showing);
      } else {
        field.type = showing ? "password" : "text";
      }
      button.setAttribute("aria-pressed", String(!showing));
      button.textContent = showing ? "Show" : "Hide";
    });
  }

  // The add form: show the chosen type's fields; hidden ones are disabled, so not sent.
  function setUpTypeSwitch() {
    var select = document.getElementById("type");
    if (!select || select.dataset.locked) return;
    select.addEventListener("change", function () {
      document.querySelectorAll("fieldset.type-fields").forEach(function (set) {
        var chosen = set.dataset.type === select.value;
        set.hidden = !chosen;
        set.disabled = !chosen;
      });
    });
  }

  // CUSTOM: add another key/value row.
  function setUpCustomRows() {
    var add = document.getElementById("add-row");
    if (!add) return;
    add.addEventListener("click", function () {
      var rows = document.querySelectorAll("#custom-rows .kv");
      var last = rows[rows.length - 1];
      var index = rows.length;
      var row = last.cloneNode(true);
      row.querySelectorAll("label").forEach(function (label) {
        label.htmlFor = label.htmlFor.replace(/c-\d+-/, "c-" + index + "-");
        label.textContent = label.textContent.replace(/\d+$/, String(index + 1));
      });
      row.querySelectorAll("input").forEach(function (input) {
        input.id = input.id.replace(/c-\d+-/, "c-" + index + "-");
        input.name = input.name.replace(/custom\.\d+\./, "custom." + index + ".");
        input.value = "";
      });
      row.querySelectorAll("[data-toggle]").forEach(function (button) {
        button.dataset.toggle = "c-" + index + "-v";
        button.setAttribute("aria-label", "Show value " + (index + 1));
        button.setAttribute("aria-pressed", "false");
        button.textContent = "Show";
      });
      add.before(row);
      row.querySelector("input").focus();
    });
  }

  // TOTP seed from a QR image: decoded to grey pixels here, read by the server.
  function setUpQrInputs() {
    document.querySelectorAll("input[data-qr-target]").forEach(function (picker) {
      picker.addEventListener("change", async function () {
        var status = document.getElementById(picker.id + "-status");
        var target = document.getElementById(picker.dataset.qrTarget);
        var file = picker.files[0];
        if (!file) return;
        status.textContent = "Reading the QR code…";
        try {
          var bitmap = await createImageBitmap(file);
          var scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
          var width = Math.max(1, Math.round(bitmap.width * scale));
          var height = Math.max(1, Math.round(bitmap.height * scale));
          var canvas = document.createElement("canvas");
          canvas.width = width;
          canvas.height = height;
          var context = canvas.getContext("2d");
          context.fillStyle = "#fff";
          context.fillRect(0, 0, width, height);
          context.drawImage(bitmap, 0, 0, width, height);
          var rgba = context.getImageData(0, 0, width, height).data;
          var grey = new Uint8Array(width * height);
          for (var i = 0; i < grey.length; i++) {
            grey[i] = (rgba[4 * i] * 299 + rgba[4 * i + 1] * 587 + rgba[4 * i + 2] * 114) / 1000;
          }
          var body = await callJson("/qr?width=" + width + "&height=" + height, {
            method: "POST",
            headers: { "Content-Type": "application/octet-stream", "X-CSRF-Token": csrfToken() },
            body: grey,
          });
          target.value = body.uri;
          status.textContent = "Read an otpauth:// URI from the image.";
        } catch (error) {
          status.textContent = error.message;
        } finally {
          picker.value = "";
        }
      });
    });
  }

  // Credential page: Reveal fetches the secret fields; Hide forgets them.
  function setUpReveal() {
    var section = document.getElementById("secrets");
    if (!section) return;
    var list = document.getElementById("secret-fields");
    var reveal = document.getElementById("reveal");
    var hide = document.getElementById("hide");
    var note = document.getElementById("secret-note");
    var error = document.getElementById("secret-error");
    reveal.addEventListener("click", async function () {
      show(error, "");
      try {
        var body = await callJson("/credentials/" + encodeURIComponent(section.dataset.name) + "/reveal", {
          method: "POST",
          headers: { "X-CSRF-Token": section.dataset.csrf },
        });
        list.replaceChildren();
        Object.keys(body.data).sort().forEach(function (key) {
          var value = body.data[key];
          var term = document.createElement("dt");
          term.textContent = key;
          var detail = document.createElement("dd");
          list.append(term, detail);
          if (value === TOTP_WITHHELD) {
            detail.textContent = "withheld by the vault: see the current code";
            return;
          }
          if (Array.isArray(value) && value.length === 0) {
            detail.textContent = "none";
            return;
          }
          var text = typeof value === "string" ? value
            : Array.isArray(value) ? value.join("\n") : JSON.stringify(value);
          var code = document.createElement("code");
          code.className = "secret";
          code.textContent = text;
          var copy = document.createElement("button");
          copy.type = "button";
          copy.className = "secondary";
          copy.textContent = "Copy";
          copy.setAttribute("aria-label", "Copy " + key);
          copy.addEventListener("click", function () { copyText(text, copy); });
          detail.append(code, " ", copy);
        });
        if (body.hasTOTP) {
          document.getElementById("totp").hidden = false;
          setUpTotp();
        }
        note.hidden = true;
        reveal.hidden = true;
        hide.hidden = false;
        hide.focus();
      } catch (failure) {
        show(error, failure.message);
      }
    });
    hide.addEventListener("click", function () {
      list.replaceChildren();
      note.hidden = false;
      hide.hidden = true;
      reveal.hidden = false;
      reveal.focus();
    });
  }

  // The live TOTP code and a countdown to the next period, at once on the page of
  // any credential holding a seed (a TOTP credential's, or data.totp of another).
  var totpStarted = false;
  function setUpTotp() {
    var section = document.getElementById("totp");
    if (!section || section.hidden || totpStarted) return;
    totpStarted = true;
    var output = document.getElementById("totp-code");
    var progress = document.getElementById("totp-progress");
    var remainingText = document.getElementById("totp-remaining");
    var backup = document.getElementById("totp-backup");
    var error = document.getElementById("totp-error");
    var url = "/credentials/" + encodeURIComponent(section.dataset.name) + "/totp";
    var left = 0;
    async function refresh() {
      try {
        var body = await callJson(url);
        output.textContent = body.code;
        var period = body.period || 30;
        left = body.remaining;
        progress.max = period;
        if (section.dataset.backup) {
          var codes = body.backupCodesRemaining;
          backup.textContent = codes === 1 ? "1 unused backup code" : codes + " unused backup codes";
          var link = document.getElementById("backup-link");
          if (link && codes === 0) link.hidden = true;  // used up meanwhile: nothing to offer
        }
        show(error, "");
        tick();
      } catch (failure) {
        show(error, failure.message);
        left = 0;
      }
    }
    function tick() {
      progress.value = left;
      remainingText.textContent = "valid " + left + " s more";
    }
    setInterval(function () {
      left -= 1;
      if (left <= 0) {
        left = 30;
        refresh();
      } else {
        tick();
      }
    }, 1000);
    document.getElementById("copy-totp").addEventListener("click", function (event) {
      copyText(output.textContent, event.target);
    });
    refresh();
  }

  function setUpCopyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        copyText(document.getElementById(button.dataset.copy).textContent, button);
      });
    });
  }

  // /login#<token>: the token never reaches a server log or a Referer; it is posted once.
  function setUpLoginLink() {
    var form = document.getElementById("login-link");
    if (!form || location.hash.length < 2) return;
    document.getElementById("token").value = decodeURIComponent(location.hash.slice(1));
    history.replaceState(null, "", location.pathname);
    form.submit();
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpBinding();
    setUpToggles();
    setUpTypeSwitch();
    setUpCustomRows();
    setUpQrInputs();
    setUpReveal();
    setUpTotp();
    setUpCopyButtons();
    setUpLoginLink();
  });
})();
