/* Upload an election configuration: paste or pick a JSON file, POST it to the API, show its errors. */
(function () {
  "use strict";
  var ES = window.ES;
  var form = document.getElementById("upload-form");
  var text = document.getElementById("config-text");
  var file = document.getElementById("config-file");
  var errors = document.getElementById("upload-errors");

  function showErrors(lines) {
    errors.textContent = "";
    var intro = document.createElement("p");
    intro.textContent = "The configuration was not accepted; nothing was created:";
    var list = document.createElement("ul");
    lines.forEach(function (line) {
      var item = document.createElement("li");
      item.textContent = line;
      list.appendChild(item);
    });
    errors.appendChild(intro);
    errors.appendChild(list);
    errors.hidden = false;
    errors.focus();
  }

  file.addEventListener("change", function () {
    if (!file.files.length) { return; }
    var reader = new FileReader();
    reader.onload = function () { text.value = reader.result; };
    reader.readAsText(file.files[0]);
  });

  errors.tabIndex = -1;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    errors.hidden = true;
    var config;
    try {
      config = JSON.parse(text.value);
    } catch (e) {
      showErrors(["Not valid JSON: " + e.message]);
      return;
    }
    ES.api("POST", form.getAttribute("data-api-url"), config).then(function (res) {
      if (res.status === 201) {
        window.location.assign(form.getAttribute("data-dashboard-url").replace("/0/", "/" + res.data.id + "/"));
        return;
      }
      var lines = ES.flattenErrors(res.data);
      showErrors(lines.length ? lines : ["The server answered HTTP " + res.status + "."]);
    }).catch(function () { showErrors(["Could not reach the server; try again."]); });
  });
})();
