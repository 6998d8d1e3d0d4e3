/* The global automations page: after the rule editor saves, the list is read again from the server
 * (the page itself, so the sentences and next runs are the server's) and replaced in place. */
(function () {
  "use strict";
  document.addEventListener("automation:saved", function () {
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("global-list");
        var list = document.getElementById("global-list");
        if (fresh && list) { list.replaceWith(fresh); }
      })
      .catch(function () { window.location.reload(); });
  });
})();
