/* My calendar: "Copy the URL" copies the field named by data-copy-from (selected too, to copy by hand). */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy-from]");
    if (!button) { return; }
    var field = document.getElementById(button.getAttribute("data-copy-from"));
    field.select();
    var done = function () { window.ES.notify("Calendar URL copied.", "info"); };
    var byHand = function () { window.ES.notify("Selected: copy it with Ctrl+C (⌘C).", "info"); };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(field.value).then(done, byHand);
    } else {
      byHand();
    }
  });
})();
