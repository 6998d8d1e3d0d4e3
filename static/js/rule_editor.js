/* The rule editor (templates/automations/_editor.html): create or change an automation in a dialog.
 *
 * Contract with the pages: any button with data-rule-editor-new (create) or
 * data-rule-editor-edit="<automation id>" (edit), with data-election="<election id>" (absent or
 * empty: a global automation), opens it. After a save it dispatches
 * document "automation:saved" with detail {id, election} (election: a number, or null).
 *
 * The preview under the form asks POST /api/automations/preview/ (debounced) for the next five
 * runs, their plain words and the DST notes. Errors from the API show beside the field whose path
 * they name (data-error-for); the dialog saves and closes only when the API accepts the rule.
 */
(function () {
  "use strict";

  var dialog = document.getElementById("rule-editor");
  if (!dialog) { return; }
  var form = document.getElementById("rule-form");
  var $ = function (id) { return document.getElementById(id); };
  var DEBOUNCE_MS = 350;
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  var DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  var FLAGS = Array.prototype.map.call(form.querySelectorAll("input[name=flag]"), function (el) { return el.value; });

  var state = {
    scope: "election", election: null, automationId: null, zone: "UTC",
    opener: null, extraCron: {}, chosen: { users: [], groups: [] }, previewSeq: 0, previewTimer: null,
    saving: false
  };

  function pad(n) { return String(n).padStart(2, "0"); }

  // --- time zones: a wall clock in a named zone <-> an instant (Intl, no library) ---------------

  function wallParts(date, zone) {
    var parts = {};
    new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit"
    }).formatToParts(date).forEach(function (p) { parts[p.type] = p.value; });
    return { y: +parts.year, mo: +parts.month, d: +parts.day, h: +parts.hour % 24, mi: +parts.minute, s: +parts.second };
  }

  /** Minutes east of UTC of ``zone`` at the instant ``date``. */
  function offsetAt(date, zone) {
    var w = wallParts(date, zone);
    return Math.round((Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) - date.getTime()) / 60000);
  }

  /** The instant a wall clock ("2027-03-28T02:30") means in ``zone``: {instant, offset, exists}.
   *  A time that happens twice gives its first instant; one in a gap gives ``exists: false``. */
  function wallToInstant(value, zone) {
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value || "");
    if (!m) { return null; }
    var naive = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
    var day = 36 * 3600 * 1000;  // the offsets either side of a change near this wall time
    var offsets = [offsetAt(new Date(naive - day), zone), offsetAt(new Date(naive), zone), offsetAt(new Date(naive + day), zone)];
    var found = [];
    offsets.forEach(function (offset) {
      var instant = naive - offset * 60000;
      var back = wallParts(new Date(instant), zone);
      if (Date.UTC(back.y, back.mo - 1, back.d, back.h, back.mi) === naive &&
          !found.some(function (f) { return f.offset === offset; })) {
        found.push({ instant: new Date(instant), offset: offset, exists: true });
      }
    });
    if (!found.length) { return { instant: new Date(naive - offsets[0] * 60000), offset: offsets[0], exists: false }; }
    found.sort(function (a, b) { return a.instant - b.instant; });
    return found[0];
  }

  function offsetText(minutes) {
    var sign = minutes < 0 ? "-" : "+";
    var abs = Math.abs(minutes);
    return sign + pad(Math.floor(abs / 60)) + ":" + pad(abs % 60);
  }

  function knownZone(zone) {
    try { new Intl.DateTimeFormat("en-US", { timeZone: zone }); return true; } catch (e) { return false; }
  }

  /** "Sun 28 Mar 2027 03:00" from an ISO wall clock with its offset ("2027-03-28T03:00:00+02:00"). */
  function wallWords(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(iso || "");
    if (!m) { return iso; }
    var day = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])).getUTCDay();
    var time = m[4] + ":" + m[5] + (m[6] && m[6] !== "00" ? ":" + m[6] : "");
    return DAYS[day] + " " + (+m[3]) + " " + MONTHS[+m[2] - 1] + " " + m[1] + " " + time;
  }

  // --- errors beside the fields ------------------------------------------------------------------

  function visible(el) {
    for (var node = el; node && node !== dialog; node = node.parentElement) {
      if (node.hidden) { return false; }
    }
    return true;
  }

  function errorSlots(path) {
    return Array.prototype.filter.call(form.querySelectorAll("[data-error-for]"), function (el) {
      return el.getAttribute("data-error-for").split(" ").indexOf(path) !== -1;
    });
  }

  /** The error slot for ``path`` (or its nearest parent path) on a visible part of the form. */
  function slotFor(path) {
    for (var p = path; p; p = p.indexOf(".") === -1 ? "" : p.slice(0, p.lastIndexOf("."))) {
      var slots = errorSlots(p);
      var shown = slots.filter(visible);
      if (shown.length) { return shown[0]; }
      if (slots.length && slots[0].closest("details")) { return slots[0]; }
    }
    return null;
  }

  /** The inputs a slot describes (aria-describedby names it). */
  function inputsOf(slot) {
    return Array.prototype.filter.call(form.querySelectorAll("[aria-describedby]"), function (el) {
      return el.getAttribute("aria-describedby").split(" ").indexOf(slot.id) !== -1;
    });
  }

  function clearErrors(paths) {
    form.querySelectorAll("[data-error-for]").forEach(function (slot) {
      if (paths && !slot.getAttribute("data-error-for").split(" ").some(function (p) {
        return paths.some(function (prefix) { return p === prefix || p.indexOf(prefix + ".") === 0; });
      })) { return; }
      slot.textContent = "";
      inputsOf(slot).forEach(function (el) { el.removeAttribute("aria-invalid"); });
    });
    if (!paths) { showFormError(""); }
  }

  function showFormError(message) {
    var box = $("rule-form-error");
    box.textContent = message;
    box.hidden = !message;
  }

  /** Show ``errors`` ({path: [message]}) beside their fields; the first field shown, or null. */
  function showErrors(errors) {
    var first = null;
    var other = [];
    Object.keys(errors || {}).forEach(function (path) {
      var messages = ES.messagesOf(errors[path]);
      var slot = path === "detail" || path === "non_field_errors" ? null : slotFor(path);
      if (!slot) { other = other.concat(messages); return; }
      slot.textContent = (slot.textContent ? slot.textContent + " " : "") + messages.join(" ");
      var details = slot.closest("details");
      if (details) { details.open = true; }
      var inputs = inputsOf(slot);
      inputs.forEach(function (el) { el.setAttribute("aria-invalid", "true"); });
      first = first || inputs[0] || slot;
    });
    if (other.length) { showFormError(other.join(" ")); }
    return first;
  }

  // --- scope, panels, presets --------------------------------------------------------------------

  function applyScope() {
    dialog.querySelectorAll("[data-scopes]").forEach(function (el) {
      var allowed = el.getAttribute("data-scopes").split(" ").indexOf(state.scope) !== -1;
      el.hidden = !allowed;
      if (el.tagName === "OPTION") { el.disabled = !allowed; }
      if (!allowed) {
        el.querySelectorAll("input[type=checkbox]").forEach(function (box) { box.checked = false; });
      }
    });
  }

  function whenKind() { return $("rule-when-kind").value; }

  function showPanel() {
    dialog.querySelectorAll("[data-when-panel]").forEach(function (panel) {
      panel.hidden = panel.getAttribute("data-when-panel") !== whenKind();
    });
  }

  function showTemplateField() {
    $("rule-template-field").hidden = !$("rule-op-send_email").checked;
  }

  /** "A-B" ranges for the hours from ``from`` to ``to`` (wrapping past midnight). */
  function hourList(from, to) {
    var hours = [];
    for (var h = from; hours.length < 24; h = (h + 1) % 24) {
      hours.push(h);
      if (h === to) { break; }
    }
    var ranges = [];
    hours.forEach(function (hour) {
      var last = ranges[ranges.length - 1];
      if (last && last[1] + 1 === hour) { last[1] = hour; } else { ranges.push([hour, hour]); }
    });
    return ranges.map(function (r) { return r[0] === r[1] ? String(r[0]) : r[0] + "-" + r[1]; }).join(",");
  }

  /** The cron rule the chosen preset makes, or "" while a time is missing. */
  function presetRule() {
    var preset = $("rule-preset").value;
    var time = /^(\d{2}):(\d{2})/.exec($("rule-preset-time").value || "");
    if (preset === "daily" && time) { return (+time[2]) + " " + (+time[1]) + " * * *"; }
    if (preset === "weekly" && time) { return (+time[2]) + " " + (+time[1]) + " * * " + $("rule-preset-day").value; }
    if (preset === "nightly") {
      var from = /^(\d{2}):(\d{2})/.exec($("rule-preset-from").value || "");
      var to = /^(\d{2}):(\d{2})/.exec($("rule-preset-to").value || "");
      if (!from || !to) { return ""; }
      var minute = +from[2];
      var last = +to[1];
      if (+to[2] < minute) { last = (last + 23) % 24; }  // the last run is the last hour:minute not after "to"
      return minute + " " + hourList(+from[1], last) + " * * *";
    }
    return "";
  }

  function applyPreset() {
    var preset = $("rule-preset").value;
    dialog.querySelectorAll("[data-preset-field]").forEach(function (el) {
      el.hidden = el.getAttribute("data-preset-field").split(" ").indexOf(preset) === -1;
    });
    var rule = presetRule();
    if (rule) { $("rule-cron").value = rule; }
  }

  // --- reading the form into the API's shape -----------------------------------------------------

  function duration(amount, unit) {
    return unit === "D" || unit === "W" ? "P" + amount + unit : "PT" + amount + unit;
  }

  /** Whole minutes of an ISO duration the API gave back ("P1DT2H" -> 1560), or null. */
  function durationMinutes(text) {
    var m = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(text || "");
    if (!m) { return null; }
    return (+(m[1] || 0)) * 10080 + (+(m[2] || 0)) * 1440 + (+(m[3] || 0)) * 60 + (+(m[4] || 0)) +
      Math.ceil((+(m[5] || 0)) / 60);
  }

  function setDuration(amountEl, unitEl, text) {
    var minutes = durationMinutes(text) || 0;
    var units = [["W", 10080], ["D", 1440], ["H", 60], ["M", 1]];
    for (var i = 0; i < units.length; i++) {
      if (minutes && minutes % units[i][1] === 0) {
        amountEl.value = minutes / units[i][1];
        unitEl.value = units[i][0];
        return;
      }
    }
    amountEl.value = minutes;
    unitEl.value = "M";
  }

  function zone() { return $("rule-zone").value.trim() || state.zone; }

  function wholeNumber(el) {
    var text = String(el.value).trim();
    return /^\d+$/.test(text) ? parseInt(text, 10) : null;
  }

  /** {when, problems, missing}: the ``when`` the form says, and what is wrong with it, keyed like
   *  the API (``missing``: only a field left empty, which the live preview does not flag). */
  function readWhen() {
    var kind = whenKind();
    var problems = {};
    var when = null;
    var missing = false;
    if (kind === "at") {
      var value = $("rule-at").value;
      if (!value) {
        missing = true;
        problems["when.at"] = "Choose the date and time it runs.";
      } else if (!knownZone(zone())) {
        problems["timezone"] = "“" + zone() + "” is not a known time zone; e.g. Europe/Paris.";
      } else {
        var at = wallToInstant(value, zone());
        if (!at.exists) {
          problems["when.at"] = value.slice(11, 16) + " does not exist on " + wallWords(value).slice(4, -6) +
            " in " + zone() + " (the clocks jump forward); choose another time.";
        } else {
          when = { at: value.slice(0, 16) + ":00" + offsetText(at.offset) };
        }
      }
    } else if (kind === "relative") {
      var amount = wholeNumber($("rule-offset-amount"));
      var path = $("rule-direction").value === "before" ? "when.offset" : "when.delay";
      if (!amount) {
        problems[path] = "Give a whole number of minutes, hours, days or weeks, 1 or more.";
      } else {
        when = {};
        when[$("rule-direction").value] = $("rule-anchor").value;
        when[$("rule-direction").value === "before" ? "offset" : "delay"] = duration(amount, $("rule-offset-unit").value);
      }
    } else if (kind === "status" || kind === "user") {
      var delayEl = $(kind === "status" ? "rule-status-delay" : "rule-user-delay");
      var delay = wholeNumber(delayEl);
      var event = $(kind === "status" ? "rule-status-event" : "rule-user-event").value;
      if (delay === null) {
        problems["when.delay"] = "Give a whole number, 0 for at once.";
      } else if (delay === 0) {
        when = { on: event };
      } else {
        when = { after: event, delay: duration(delay, $(kind === "status" ? "rule-status-unit" : "rule-user-unit").value) };
      }
    } else if (kind === "cron") {
      var rule = $("rule-cron").value.trim();
      if (!rule) {
        missing = true;
        problems["when.cron_rule"] = "Write a cron rule, or choose a preset that fills it.";
      } else {
        when = Object.assign({ cron_rule: rule, timezone: zone() }, state.extraCron);
      }
    }
    return { when: when, problems: problems, missing: missing };
  }

  function readBody() {
    var problems = {};
    var name = $("rule-name").value.trim();
    if (!name) { problems.name = "Give the automation a name (it is how people will know it)."; }
    var operations = {};
    form.querySelectorAll("input[name=operation]").forEach(function (box) {
      if (!box.checked || !visible(box)) { return; }
      operations[box.value] = box.value === "send_email" ? { template: $("rule-template").value } : {};
    });
    if (!Object.keys(operations).length) { problems.operations = "Choose at least one thing it does."; }
    if (operations.send_email && !operations.send_email.template) {
      problems["operations.send_email.template"] = "Choose the email template to send.";
    }
    var read = readWhen();
    Object.assign(problems, read.problems);
    var recipients = {
      users: state.chosen.users.slice(), groups: state.chosen.groups.slice(),
      grants: Array.prototype.filter.call(form.querySelectorAll("input[name=grant]"), function (b) { return b.checked; })
        .map(function (b) { return b.value; })
    };
    FLAGS.forEach(function (flag) { recipients[flag] = $("rule-flag-" + flag).checked; });
    return {
      body: { name: name, active: $("rule-active").checked, when: read.when, operations: operations, recipients: recipients },
      problems: problems
    };
  }

  // --- the live preview --------------------------------------------------------------------------

  function previewStatus(text) { $("rule-preview-status").textContent = text; }

  function clearPreview(message) {
    $("rule-preview-words").textContent = "";
    $("rule-preview-warnings").hidden = true;
    $("rule-preview-warnings").textContent = "";
    $("rule-preview-runs").hidden = true;
    $("rule-preview-runs").querySelector("tbody").textContent = "";
    previewStatus(message || "");
  }

  function schedulePreview() {
    clearTimeout(state.previewTimer);
    state.previewTimer = setTimeout(runPreview, DEBOUNCE_MS);
  }

  var WHEN_PATHS = ["when", "timezone", "from"];

  function runPreview() {
    var read = readWhen();
    var seq = ++state.previewSeq;
    clearErrors(WHEN_PATHS);
    if (!read.when) {
      clearPreview("Fill in when it runs to see its next runs.");
      if (!read.missing) { showErrors(read.problems); }
      return;
    }
    var body = { when: read.when, timezone: zone() };
    if (state.election !== null) { body.election = state.election; }
    var from = $("rule-preview-from").value;
    if (from && knownZone(zone())) {
      body.from = wallToInstant(from + "T00:00", zone()).instant.toISOString();
    }
    previewStatus("Working out the next runs…");
    ES.api("POST", dialog.getAttribute("data-preview-url"), body).then(function (res) {
      if (seq !== state.previewSeq) { return; }  // a newer preview is on its way
      if (!res.ok) {
        clearPreview(res.status === 400 ? "Fix the rule to see its next runs." : "No preview (HTTP " + res.status + ").");
        if (res.status === 400) { showErrors(res.data); }
        return;
      }
      renderPreview(res.data);
    }, function () {
      if (seq === state.previewSeq) { clearPreview("Could not reach the server for the preview."); }
    });
  }

  function renderPreview(data) {
    clearPreview("");
    $("rule-preview-words").textContent = data.description;
    var warnings = $("rule-preview-warnings");
    (data.warnings || []).forEach(function (text) {
      var item = document.createElement("li");
      item.textContent = text;
      warnings.appendChild(item);
    });
    warnings.hidden = !(data.warnings || []).length;
    var runs = data.next || [];
    if (!runs.length) {
      previewStatus("No run is coming.");
      return;
    }
    $("rule-preview-zone-heading").textContent = data.timezone;
    var tbody = $("rule-preview-runs").querySelector("tbody");
    runs.forEach(function (run) {
      var row = document.createElement("tr");
      var local = document.createElement("td");
      local.textContent = wallWords(run.local) + " " + data.timezone;
      if (run.note) {
        local.appendChild(document.createTextNode(" "));
        var mark = document.createElement("span");
        mark.className = "badge overdue";
        mark.textContent = "DST";
        mark.title = run.note;
        local.appendChild(mark);
      }
      var utc = document.createElement("td");
      utc.textContent = ES.formatUTC(new Date(run.at));
      row.appendChild(local);
      row.appendChild(utc);
      tbody.appendChild(row);
    });
    $("rule-preview-runs").hidden = false;
    previewStatus(runs.length === 1 ? "Its next run." : "Its next " + runs.length + " runs.");
  }

  // --- recipients: chips with suggestions ----------------------------------------------------------

  function renderChips(kind) {
    var list = $("rule-" + kind + "-chips");
    list.textContent = "";
    state.chosen[kind].forEach(function (name, index) {
      var item = document.createElement("li");
      item.className = "chip";
      var text = document.createElement("span");
      text.textContent = name;
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "chip-remove";
      remove.textContent = "×";
      remove.setAttribute("aria-label", "Remove " + name);
      remove.addEventListener("click", function () {
        state.chosen[kind].splice(index, 1);
        renderChips(kind);
        $("rule-" + kind + "-input").focus();
      });
      item.appendChild(text);
      item.appendChild(remove);
      list.appendChild(item);
    });
  }

  function addChosen(kind, name) {
    name = (name || "").trim();
    if (name && state.chosen[kind].indexOf(name) === -1) { state.chosen[kind].push(name); }
    renderChips(kind);
    clearErrors(["recipients." + kind]);
  }

  function setupPicker(kind) {
    var input = $("rule-" + kind + "-input");
    var listbox = $("rule-" + kind + "-options");
    var timer = null;
    var seq = 0;
    var active = -1;

    function options() { return listbox.querySelectorAll("[role=option]"); }
    function close() {
      listbox.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }
    function highlight(index) {
      var all = options();
      active = index;
      all.forEach(function (el, i) { el.setAttribute("aria-selected", i === index ? "true" : "false"); });
      if (all[index]) { input.setAttribute("aria-activedescendant", all[index].id); }
    }
    function pick(name) {
      addChosen(kind, name);
      input.value = "";
      close();
      input.focus();
    }
    function suggest() {
      var mine = ++seq;
      var params = new URLSearchParams({ q: input.value.trim() });
      if (state.election !== null) { params.set("election", state.election); }
      ES.api("GET", dialog.getAttribute("data-suggest-url") + "?" + params.toString()).then(function (res) {
        if (mine !== seq || !res.ok) { return; }
        var names = (res.data[kind] || []).filter(function (n) { return state.chosen[kind].indexOf(n) === -1; });
        var current = active >= 0 && options()[active] ? options()[active].textContent : null;
        listbox.textContent = "";
        names.forEach(function (name, i) {
          var option = document.createElement("li");
          option.id = "rule-" + kind + "-option-" + i;
          option.setAttribute("role", "option");
          option.setAttribute("aria-selected", "false");
          option.textContent = name;
          option.addEventListener("mousedown", function (event) { event.preventDefault(); pick(name); });
          listbox.appendChild(option);
        });
        listbox.hidden = !names.length;
        input.setAttribute("aria-expanded", names.length ? "true" : "false");
        active = -1;
        if (current !== null && names.indexOf(current) !== -1) { highlight(names.indexOf(current)); }
      });
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(suggest, 200);
    });
    input.addEventListener("focus", function () { if (!input.value) { suggest(); } });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
    input.addEventListener("keydown", function (event) {
      var all = options();
      if (event.key === "ArrowDown" && all.length) {
        event.preventDefault();
        listbox.hidden = false;
        input.setAttribute("aria-expanded", "true");
        highlight(Math.min(active + 1, all.length - 1));
      } else if (event.key === "ArrowUp" && all.length) {
        event.preventDefault();
        highlight(Math.max(active - 1, 0));
      } else if (event.key === "Enter") {
        event.preventDefault();  // Enter adds a name; it never submits the form
        var typed = input.value.trim();
        var same = Array.prototype.filter.call(all, function (el) {
          return el.textContent.toLowerCase() === typed.toLowerCase();
        });
        if (active >= 0 && all[active] && !listbox.hidden) { pick(all[active].textContent); }
        else if (same.length) { pick(same[0].textContent); }
        else if (typed) { pick(typed); }  // not suggested (yet): the server says if it is unknown
      } else if (event.key === "Escape" && !listbox.hidden) {
        event.preventDefault();  // close the suggestions, not the dialog
        event.stopPropagation();
        close();
      } else if (event.key === "Backspace" && !input.value && state.chosen[kind].length) {
        state.chosen[kind].pop();
        renderChips(kind);
      }
    });
  }

  // --- opening, filling, saving ------------------------------------------------------------------

  var templatesLoaded = null;

  function loadTemplates() {
    if (templatesLoaded) { return templatesLoaded; }
    var select = $("rule-template");
    var names = [];
    function page(url) {
      return ES.api("GET", url).then(function (res) {
        if (!res.ok) { throw new Error("HTTP " + res.status); }
        (res.data.results || res.data).forEach(function (t) { names.push(t.name); });
        if (res.data.next && names.length < 1000) { return page(res.data.next); }
        return names;
      });
    }
    templatesLoaded = page(dialog.getAttribute("data-templates-url")).then(function () {
      select.textContent = "";
      var none = document.createElement("option");
      none.value = "";
      none.textContent = names.length ? "— choose a template —" : "No templates yet";
      select.appendChild(none);
      names.forEach(function (name) {
        var option = document.createElement("option");
        option.value = name;
        option.textContent = name;
        select.appendChild(option);
      });
    }, function () {
      templatesLoaded = null;
      select.textContent = "";
      var option = document.createElement("option");
      option.value = "";
      option.textContent = "Could not load the templates";
      select.appendChild(option);
    });
    return templatesLoaded;
  }

  function fillZones() {
    var list = $("rule-zones");
    if (list.childElementCount || !Intl.supportedValuesOf) { return; }
    Intl.supportedValuesOf("timeZone").forEach(function (name) {
      var option = document.createElement("option");
      option.value = name;
      list.appendChild(option);
    });
  }

  /** The election's time zone (the page's when it is this election, else from the API). */
  function electionZone(id) {
    if (id === null) { return Promise.resolve(dialog.getAttribute("data-global-zone") || "UTC"); }
    if (String(id) === dialog.getAttribute("data-page-election") && dialog.getAttribute("data-page-zone")) {
      return Promise.resolve(dialog.getAttribute("data-page-zone"));
    }
    var url = dialog.getAttribute("data-election-detail-url").replace(/\/0\/$/, "/" + id + "/");
    return ES.api("GET", url).then(function (res) { return (res.ok && res.data.time_zone) || "UTC"; });
  }

  function collectionUrl() {
    if (state.election === null) { return dialog.getAttribute("data-global-url"); }
    return dialog.getAttribute("data-election-url").replace(/\/0\/automations\/$/, "/" + state.election + "/automations/");
  }

  function detailUrl(id) { return collectionUrl() + id + "/"; }

  function reset() {
    form.reset();
    clearErrors();
    state.chosen = { users: [], groups: [] };
    state.extraCron = {};
    renderChips("users");
    renderChips("groups");
    $("rule-advanced").open = false;
    $("rule-preview-from").value = "";
    clearPreview("");
  }

  function fillWhen(when) {
    var kind = "at";
    if ("cron_rule" in when) {
      kind = "cron";
      $("rule-cron").value = when.cron_rule;
      $("rule-zone").value = when.timezone || state.zone;
      ["until", "catch_up"].forEach(function (key) { if (key in when) { state.extraCron[key] = when[key]; } });
    } else if ("at" in when) {
      var w = wallParts(new Date(when.at), zone());
      $("rule-at").value = w.y + "-" + pad(w.mo) + "-" + pad(w.d) + "T" + pad(w.h) + ":" + pad(w.mi);
    } else {
      var event = when.before || when.after || when.on;
      if (event === "start_voting" || event === "end_voting") {
        kind = "relative";
        $("rule-direction").value = when.before ? "before" : "after";
        $("rule-anchor").value = event;
        setDuration($("rule-offset-amount"), $("rule-offset-unit"), when.offset || when.delay);
      } else {
        kind = event.indexOf("user.") === 0 ? "user" : "status";
        $("rule-" + kind + "-event").value = event;
        if (when.delay) { setDuration($("rule-" + kind + "-delay"), $("rule-" + kind + "-unit"), when.delay); }
        else { $("rule-" + kind + "-delay").value = "0"; }  // at once; the unit stays the usual one
      }
    }
    $("rule-when-kind").value = kind;
  }

  function fill(automation) {
    $("rule-name").value = automation.name;
    $("rule-active").checked = !!automation.active;
    Object.keys(automation.operations || {}).forEach(function (name) {
      var box = $("rule-op-" + name);
      if (box) { box.checked = true; }
    });
    if (automation.operations && automation.operations.send_email) {
      $("rule-template").value = automation.operations.send_email.template || "";
    }
    fillWhen(automation.when || {});
    var recipients = automation.recipients || {};
    state.chosen.users = (recipients.users || []).slice();
    state.chosen.groups = (recipients.groups || []).slice();
    renderChips("users");
    renderChips("groups");
    form.querySelectorAll("input[name=grant]").forEach(function (box) {
      box.checked = (recipients.grants || []).indexOf(box.value) !== -1;
    });
    FLAGS.forEach(function (flag) { $("rule-flag-" + flag).checked = !!recipients[flag]; });
    $("rule-advanced").open = FLAGS.some(function (flag) { return !!recipients[flag]; });
  }

  function refreshForm() {
    showPanel();
    showTemplateField();
    applyPreset();
  }

  function setBusy(busy) {
    state.saving = busy;
    $("rule-save").disabled = busy;
  }

  function open(button) {
    var raw = (button.getAttribute("data-election") || "").trim();
    var editId = button.getAttribute("data-rule-editor-edit");
    state.election = /^\d+$/.test(raw) ? parseInt(raw, 10) : null;
    state.scope = state.election === null ? "global" : "election";
    state.automationId = editId && /^\d+$/.test(editId) ? parseInt(editId, 10) : null;
    state.opener = button;
    reset();
    applyScope();
    fillZones();
    $("rule-editor-title").textContent = state.automationId === null ? "New automation" : "Change the automation";
    $("rule-editor-scope").textContent = state.election === null
      ? "A global automation: it is not tied to one election."
      : "An automation of this election.";
    $("rule-when-kind").value = state.scope === "election" ? "relative" : "cron";
    if (state.scope === "election") { $("rule-op-send_email").checked = true; }
    refreshForm();
    setBusy(true);
    if (!dialog.open) { dialog.showModal(); }
    $("rule-name").focus();
    Promise.all([loadTemplates(), electionZone(state.election)]).then(function (results) {
      state.zone = results[1];
      $("rule-zone").value = state.zone;
      $("rule-zone-help").textContent = "Dates and cron rules are read in this zone, and the preview shows it. " +
        (state.election === null ? "Default: the server's, " : "Default: the election's, ") + state.zone + ".";
      if (state.automationId === null) { return null; }
      return ES.api("GET", detailUrl(state.automationId)).then(function (res) {
        if (!res.ok) { throw new Error(res.status === 404 ? "This automation no longer exists." : "HTTP " + res.status); }
        fill(res.data);
      });
    }).then(function () {
      refreshForm();
      setBusy(false);
      runPreview();
    }).catch(function (error) {
      showFormError("Could not load the automation (" + error.message + "); close the dialog and try again.");
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (state.saving) { return; }
    clearErrors();
    var read = readBody();
    if (Object.keys(read.problems).length) {
      var first = showErrors(read.problems);
      if (first && first.focus) { first.focus(); }
      return;
    }
    var creating = state.automationId === null;
    setBusy(true);
    ES.api(creating ? "POST" : "PUT", creating ? collectionUrl() : detailUrl(state.automationId), read.body)
      .then(function (res) {
        if (res.ok) {
          var election = state.election;
          dialog.close();
          ES.notify((creating ? "Created “" : "Saved “") + res.data.name + "”.");
          document.dispatchEvent(new CustomEvent("automation:saved", { detail: { id: res.data.id, election: election } }));
          return;
        }
        if (res.status === 400) {
          var firstInvalid = showErrors(res.data);
          if (firstInvalid && firstInvalid.focus) { firstInvalid.focus(); }
        } else {
          showFormError(ES.plainWords((res.data && res.data.detail) || ("Nothing was saved (HTTP " + res.status + ").")));
        }
      }, function () {
        showFormError("Could not reach the server; nothing was saved. Try again.");
      }).then(function () { setBusy(false); });
  });

  // --- wiring ------------------------------------------------------------------------------------

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-rule-editor-new], [data-rule-editor-edit]");
    if (!button) { return; }
    event.preventDefault();
    open(button);
  });

  /** Tab and Shift+Tab go round the dialog's own controls (the modal already makes the page
   *  behind it inert; this keeps focus from leaving for the browser's toolbar). */
  dialog.addEventListener("keydown", function (event) {
    if (event.key !== "Tab") { return; }
    var focusable = Array.prototype.filter.call(dialog.querySelectorAll(
      "input, select, textarea, button, summary, [href], [tabindex]:not([tabindex='-1'])"
    ), function (el) { return !el.disabled && el.getClientRects().length && visible(el); });
    if (!focusable.length) { return; }
    var first = focusable[0];
    var last = focusable[focusable.length - 1];
    if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
    else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
  });
  $("rule-cancel").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () {
    clearTimeout(state.previewTimer);
    state.previewSeq++;
    if (state.opener && document.contains(state.opener)) { state.opener.focus(); }
  });
  form.querySelectorAll("input[name=operation]").forEach(function (box) {
    box.addEventListener("change", function () { showTemplateField(); clearErrors(["operations"]); });
  });
  $("rule-when-kind").addEventListener("change", function () { showPanel(); clearErrors(WHEN_PATHS); });
  ["rule-preset", "rule-preset-time", "rule-preset-day", "rule-preset-from", "rule-preset-to"].forEach(function (id) {
    $(id).addEventListener("input", applyPreset);
    $(id).addEventListener("change", applyPreset);
  });
  $("rule-cron").addEventListener("input", function () { $("rule-preset").value = ""; applyPreset(); });
  $("rule-name").addEventListener("input", function () { clearErrors(["name"]); });
  ["rule-when", "rule-preview"].forEach(function (id) {
    $(id).addEventListener("input", schedulePreview);
    $(id).addEventListener("change", schedulePreview);
  });
  setupPicker("users");
  setupPicker("groups");
})();
