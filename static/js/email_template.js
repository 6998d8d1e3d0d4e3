/* The email template editor: a live preview of the unsaved parts, rendered by the server for the
 * chosen election (POST /api/email-templates/{name}/preview/); errors go beside the field they name.
 * The HTML goes into a sandboxed iframe's srcdoc: it never runs in this page's origin. */
(function () {
  "use strict";
  var form = document.getElementById("template-form");
  if (!form) { return; }
  var url = form.getAttribute("data-preview-url");
  var select = document.getElementById("preview-election");
  var status = document.getElementById("preview-status");
  var PARTS = ["subject", "text", "html"];
  var FIELDS = PARTS.concat(["election"]);
  var timer = null;
  var sequence = 0;

  function field(name) { return document.getElementById("field-" + name); }

  function showErrors(errors) {
    FIELDS.forEach(function (name) {
      var box = document.getElementById("field-" + name + "-error");
      var lines = errors[name];
      box.textContent = lines ? ES.flattenErrors(lines).join(" ") : "";
      var input = name === "election" ? select : field(name);
      if (lines) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
    });
  }

  function refresh() {
    var body = { election: select.value ? Number(select.value) : null };
    PARTS.forEach(function (name) { body[name] = field(name).value; });
    var mine = ++sequence;
    status.textContent = "Rendering…";
    ES.api("POST", url, body).then(function (response) {
      if (mine !== sequence) { return; }  // a newer edit is on its way
      if (response.ok) {
        showErrors({});
        document.getElementById("preview-subject").textContent = response.data.subject;
        document.getElementById("preview-text").textContent = response.data.text;
        document.getElementById("preview-html").srcdoc = response.data.html;
        status.textContent = "Preview updated: as you would receive it (not saved yet).";
      } else if (response.status === 400 && response.data && typeof response.data === "object") {
        var known = FIELDS.some(function (name) { return name in response.data; });
        showErrors(response.data);
        status.textContent = known ? "The preview shows the last version that rendered; see the error beside the field."
          : ES.messagesOf(response.data).join(" ");
      } else {
        status.textContent = "Could not render the preview (" + response.status + "): " + ES.messagesOf(response.data).join(" ");
      }
    }, function () {
      if (mine === sequence) { status.textContent = "Could not reach the server for the preview."; }
    });
  }

  function soon() { clearTimeout(timer); timer = setTimeout(refresh, 300); }

  PARTS.forEach(function (name) { field(name).addEventListener("input", soon); });
  select.addEventListener("change", function () {
    document.getElementById("test-election").value = select.value;
    refresh();
  });
  // With scripts the "Show" button is not needed: the preview follows the choice and the edits.
  var button = document.getElementById("preview-refresh");
  if (button) { button.hidden = true; }
})();
