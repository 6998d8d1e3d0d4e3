/* Upload an election configuration: paste or pick a JSON file, POST it to the API, show every error
 * of its 400 next to its path (the API checks the whole configuration in one pass, at most 50). */
(function () {
  "use strict";
  var ES = window.ES;
  var form = document.getElementById("upload-form");
  var text = document.getElementById("config-text");
  var file = document.getElementById("config-file");
  var errors = document.getElementById("upload-errors");
  var maxElections = Number(form.getAttribute("data-max-elections"));

  /** ``lines``: [{path, message}] (path may be ""); ``note``: a sentence after the list. */
  function showErrors(lines, intro, note) {
    errors.textContent = "";
    var head = document.createElement("p");
    head.textContent = intro || (lines.length > 1
      ? "The configuration was not accepted; nothing was created. " + lines.length + " problems:"
      : "The configuration was not accepted; nothing was created:");
    var list = document.createElement("ul");
    lines.forEach(function (line) {
      var item = document.createElement("li");
      if (line.path) {
        var code = document.createElement("code");
        code.className = "error-path";
        code.textContent = line.path;
        item.appendChild(code);
        item.appendChild(document.createTextNode(" "));
      }
      item.appendChild(document.createTextNode(ES.plainWords(line.message, true)));
      list.appendChild(item);
    });
    errors.appendChild(head);
    errors.appendChild(list);
    if (note) {
      var after = document.createElement("p");
      after.textContent = note;
      errors.appendChild(after);
    }
    errors.hidden = false;
    errors.focus();
  }

  /** How many elections the configuration holds (it and every child, any depth), without recursion. */
  function countElections(config) {
    var count = 0, stack = [config];
    while (stack.length) {
      var node = stack.pop();
      if (!node || typeof node !== "object" || Array.isArray(node)) { continue; }
      count += 1;
      if (Array.isArray(node.children)) { stack.push.apply(stack, node.children.slice(0, maxElections + 1)); }
      if (count > maxElections) { break; }
    }
    return count;
  }

  function tooMany(config) {
    var children = Array.isArray(config.children) ? config.children.length : 0;
    showErrors([{ path: "children", message:
      "This configuration holds more than " + maxElections.toLocaleString("en-US") + " elections, the most one " +
      "upload may create. Nothing was created." }],
      "Too many elections for one upload:",
      "Split it: upload the top election with its first " + Math.min(children, maxElections - 1).toLocaleString("en-US") +
      " children or fewer, then upload the other children in further configurations, each with \"parent\": " +
      "the id of the election just created (it is in the address of its page, /elections/<id>/).");
  }

  /** [{path, message}] from a DRF error body, paths as children[3].scheduled_events.… */
  function linesOf(data, path) {
    var out = [];
    if (data === null || data === undefined) { return out; }
    if (typeof data === "string") { return [{ path: path, message: data }]; }
    if (Array.isArray(data)) {
      data.forEach(function (item) { out = out.concat(linesOf(item, path)); });
      return out;
    }
    Object.keys(data).forEach(function (key) {
      var sub = key === "detail" || key === "non_field_errors" ? path
        : /^\d+$/.test(key) ? path + "[" + key + "]" : (path ? path + "." + key : key);
      out = out.concat(linesOf(data[key], sub));
    });
    return out;
  }

  function isTooMany(lines) {
    return lines.some(function (line) { return /Too many elections in one configuration/.test(line.message); });
  }

  // --- the parent field: a search over the elections the user may edit (20 at a time) -------------
  var parentField = document.getElementById("parent-search");
  var parentOptions = document.getElementById("parent-options");
  var searchTimer = null, lastQuery = null;
  function searchParents() {
    var query = parentField.value.trim();
    if (query === lastQuery || /\(#\d+\)$/.test(query)) { return; }
    lastQuery = query;
    ES.api("GET", parentField.getAttribute("data-search-url") + "?q=" + encodeURIComponent(query)).then(function (res) {
      if (!res.ok || parentField.value.trim() !== query) { return; }
      parentOptions.textContent = "";
      res.data.results.forEach(function (result) {
        var option = document.createElement("option");
        option.value = result.label;
        parentOptions.appendChild(option);
      });
    });
  }
  parentField.addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(searchParents, 200);
  });
  parentField.addEventListener("focus", searchParents);

  /** The id chosen in the parent field ("General (#12)", "#12" or "12"); null when empty; NaN if unclear. */
  function chosenParent() {
    var value = parentField.value.trim();
    if (!value) { return null; }
    var match = /\(#(\d+)\)$/.exec(value) || /^#?(\d+)$/.exec(value);
    return match ? Number(match[1]) : NaN;
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
      showErrors([{ path: "", message: "Not valid JSON: " + e.message }]);
      return;
    }
    var parent = chosenParent();
    if (Number.isNaN(parent)) {
      showErrors([{ path: "parent", message: "Choose the parent from the suggestions (they end with its #id), or leave the field empty." }]);
      parentField.focus();
      return;
    }
    if (parent !== null && config && typeof config === "object" && !Array.isArray(config)) { config.parent = parent; }
    if (config && typeof config === "object" && countElections(config) > maxElections) {
      tooMany(config);
      return;
    }
    ES.api("POST", form.getAttribute("data-api-url"), config).then(function (res) {
      if (res.status === 201) {
        window.location.assign(form.getAttribute("data-dashboard-url").replace("/0/", "/" + res.data.id + "/"));
        return;
      }
      var lines = linesOf(res.data, "");
      if (isTooMany(lines)) { tooMany(config); return; }
      if (!lines.length) { lines = [{ path: "", message: "The server answered HTTP " + res.status + "." }]; }
      // the API's cap: "… and 4,812 more errors; fix these first." is said after the list
      var more = lines.filter(function (line) { return !line.path && /^… and [\d,]+ more errors/.test(line.message); });
      lines = lines.filter(function (line) { return more.indexOf(line) < 0; });
      showErrors(lines, null, more.length ? more[0].message : "");
    }).catch(function () { showErrors([{ path: "", message: "Could not reach the server; try again." }]); });
  });
})();
