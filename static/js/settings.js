/* An election's settings page: the delete confirmation (it names the children and pending events). */
(function () {
  "use strict";
  var dialog = document.getElementById("delete-dialog");
  var opener = document.getElementById("delete-open");
  if (!dialog || !opener) { return; }
  opener.addEventListener("click", function () {
    dialog.showModal();
    document.getElementById("delete-cancel").focus();
  });
  document.getElementById("delete-cancel").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () { opener.focus(); });
})();
