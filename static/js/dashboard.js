/* Election dashboard: polling of the election API, the Actions menu, and the scheduling dialog. */
(function () {
  "use strict";
  var ES = window.ES;
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var KINDS = ["start_voting", "end_voting"];
  var BOX_IDS = { start_voting: "scheduled-start", end_voting: "scheduled-stop" };
  var events = data.events;  // kind -> ISO string or null: what is scheduled now
  var menu = document.getElementById("actions-menu");
  var dialog = document.getElementById("schedule-dialog");
  var ZONE = ES.pageZone();  // every time here is shown and typed in it (config/zones.py)

  function pad(n) { return String(n).padStart(2, "0"); }

  // --- status box -----------------------------------------------------------------------------

  function renderEvent(kind, iso) {
    var box = document.getElementById(BOX_IDS[kind]);
    var dd = box.querySelector("dd");
    dd.textContent = "";
    var date = iso ? new Date(iso) : null;
    var overdue = !!date && date.getTime() < Date.now();
    box.classList.toggle("is-set", !!date);
    box.classList.toggle("is-overdue", overdue);
    if (!date) {
      var none = document.createElement("span");
      none.className = "muted";
      none.textContent = "Not scheduled";
      dd.appendChild(none);
      return;
    }
    dd.appendChild(ES.moment(iso, ZONE));
    if (overdue) {
      var badge = document.createElement("span");
      badge.className = "badge overdue";
      badge.textContent = "Overdue: not run yet";
      dd.appendChild(document.createTextNode(" "));
      dd.appendChild(badge);
    }
  }

  function setBadge(el, status) {
    if (el.getAttribute("data-status") === status) { return; }
    el.setAttribute("data-status", status);
    el.className = el.className.replace(/\bstatus-\S+/g, "").trim() + " status-" + status;
    el.textContent = data.statusLabels[status] || status;
  }

  function renderStatus(status) {
    setBadge(document.getElementById("election-status"), status);
    document.querySelectorAll("[data-allowed-from]").forEach(function (item) {
      item.hidden = item.getAttribute("data-allowed-from").split(" ").indexOf(status) === -1;
    });
  }

  function applyElection(election) {
    renderStatus(election.status);
    var scheduled = election.scheduled_events || {};
    KINDS.forEach(function (kind) {
      events[kind] = scheduled[kind] ? scheduled[kind].event_at : null;
      renderEvent(kind, events[kind]);
    });
  }

  function applyChildren(pairs) {
    var rows = {};
    document.querySelectorAll("tr[data-child-id]").forEach(function (tr) { rows[tr.getAttribute("data-child-id")] = tr; });
    pairs.forEach(function (pair) {
      var tr = rows[String(pair[0])];
      var badge = tr && tr.querySelector("[data-child-status]");
      if (badge) { setBadge(badge, pair[1]); }
    });
  }

  /** The summary from elections/<pk>/summary/: the election, every direct child, counts of the tree. */
  var summary = null;
  function applySummary(s) {
    summary = s;
    applyElection({ status: s.status, scheduled_events: Object.keys(s.events).reduce(function (out, kind) {
      out[kind] = s.events[kind] ? { event_at: s.events[kind] } : null;
      return out;
    }, {}) });
    applyChildren(s.children);
    applyHappened(s.happened || []);
  }

  /** "Voting opened at Sat 12 Sep 2026 11:00:00.04 Europe/Paris (40 ms late, task 3f2a…)", one line
   *  per kind, as the server words it (UTC on hover). */
  function applyHappened(lines) {
    var list = document.getElementById("happened");
    if (!list) { return; }
    var key = JSON.stringify(lines);
    if (list.getAttribute("data-key") === key) { return; }
    list.setAttribute("data-key", key);
    if (!lines.length) { return; }  // keep what the page was rendered with
    list.textContent = "";
    lines.forEach(function (line) {
      var item = document.createElement("li");
      item.setAttribute("data-state", line.state);
      item.appendChild(document.createTextNode(line.text + " at "));
      var time = document.createElement("time");
      time.dateTime = line.at;
      time.title = line.when_utc;
      time.setAttribute("data-zone", ZONE);
      time.textContent = line.when;
      item.appendChild(time);
      item.appendChild(document.createTextNode(" (" + (line.detail ? ES.plainWords(line.detail, false, ZONE) + ", " : "") + "task "));
      var button = document.createElement("button");
      button.type = "button";
      button.className = "task-id";
      button.setAttribute("data-task-id", line.task_id);
      button.title = line.task_id;
      button.setAttribute("aria-label", "Task " + line.short_task_id + ": show and copy the full task id");
      var code = document.createElement("code");
      code.textContent = line.short_task_id;
      button.appendChild(code);
      item.appendChild(button);
      item.appendChild(document.createTextNode(")"));
      list.appendChild(item);
    });
  }

  // --- live refresh and the offline notice ------------------------------------------------------
  //
  // Every pollMs one request fetches the summary. A failed request (no answer, or a 5xx) shows
  // "Offline since …, retrying" until a request succeeds again; polling never stops.

  /** "09:14:02 Asia/Tokyo": the time of day in the page's zone, like the page's other times. */
  function clock(date) {
    return ES.toZoneInput(date, ZONE).slice(11) + " " + ZONE;
  }
  var offlineSince = null;
  function heardFromServer() {
    var stamp = document.getElementById("last-refresh");
    if (stamp) { stamp.textContent = "Last heard from the server at " + clock(new Date()) + "."; }
    if (offlineSince) {
      offlineSince = null;
      var notice = document.getElementById("offline-notice");
      notice.hidden = true;
      notice.textContent = "";
      ES.notify("Back online: the statuses are live again.", "info");
    }
  }
  function lostServer() {
    var notice = document.getElementById("offline-notice");
    if (!offlineSince) { offlineSince = new Date(); }
    notice.textContent = "Offline since " + clock(offlineSince) + " — retrying. The statuses below may be out of date.";
    notice.hidden = false;
  }

  function fetchSummary() {
    return ES.api("GET", data.summaryUrl).then(function (res) {
      if (res.status === 0 || res.status >= 500) { throw new Error("HTTP " + res.status); }
      heardFromServer();
      if (res.ok) { applySummary(res.data); }
      gone(res.status === 404 ? "This election no longer exists, or you may no longer view it: what is shown is how it was."
        : res.status === 401 || res.status === 403 ? "Your session has ended: log in again to see live statuses." : "");
      return res;
    }, function (error) { lostServer(); throw error; });
  }

  /** A lasting answer that is no failure of the network (deleted, session over): say it, once. */
  function gone(message) {
    var notice = document.getElementById("gone-notice");
    notice.textContent = message;
    notice.hidden = !message;
  }

  var polling = false;
  function poll() {
    if (polling || document.hidden) { return; }
    polling = true;
    fetchSummary().catch(function (error) { if (!offlineSince) { lostServer(); } })
      .then(function () { polling = false; });
  }

  KINDS.forEach(function (kind) { renderEvent(kind, events[kind]); });
  setInterval(poll, data.pollMs);
  poll();

  // --- Actions menu ----------------------------------------------------------------------------

  function closeMenu() {
    if (menu && menu.open) { menu.open = false; menu.querySelector("summary").focus(); }
  }

  if (menu) {
    menu.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { closeMenu(); }
    });
    document.addEventListener("click", function (event) {
      if (menu.open && !menu.contains(event.target)) { menu.open = false; }
    });
    menu.querySelectorAll("[data-status-action]").forEach(function (button) {
      button.addEventListener("click", function () {
        var action = button.getAttribute("data-status-action");
        closeMenu();
        askThenAct(action);
      });
    });
  }

  // --- status actions: ask first, naming how many elections change ------------------------------

  var confirmDialog = document.getElementById("confirm-dialog");
  var VERBS = { start: "Start voting in", stop: "Stop voting in", suspend: "Suspend voting in",
                resume: "Resume voting in" };
  var BUTTONS = { start: "Start voting", stop: "Stop voting", suspend: "Suspend voting", resume: "Resume voting" };

  /** The question for ``action`` with the tree as the summary ``s`` counts it. */
  function question(action, s) {
    var allowed = data.actionRules[action];
    var children = allowed.reduce(function (n, status) { return n + (s.descendants[status] || 0); }, 0);
    var title = "“" + s.title + "”";
    if (!children) { return VERBS[action] + " " + title + "?"; }
    return VERBS[action] + " " + title + " and its " + children.toLocaleString("en-US") + " child election" +
      (children === 1 ? "" : "s") + "?";
  }

  function askThenAct(action) {
    fetchSummary().then(function (res) {
      if (!res.ok) { throw new Error("HTTP " + res.status); }
      document.getElementById("confirm-title").textContent = question(action, res.data);
      document.getElementById("confirm-detail").textContent = data.actionNotes[action];
      var ok = document.getElementById("confirm-ok");
      ok.textContent = BUTTONS[action];
      confirmDialog.returnValue = "";
      confirmDialog.setAttribute("data-action", action);
      confirmDialog.showModal();
      document.getElementById("confirm-cancel").focus();
    }).catch(function () {
      ES.notify("Could not reach the server to count the elections that would change; nothing was done. Try again.", "error");
    });
  }

  if (confirmDialog) {
    confirmDialog.addEventListener("close", function () {
      var action = confirmDialog.getAttribute("data-action");
      var summaryButton = menu && menu.querySelector("summary");
      if (summaryButton) { summaryButton.focus(); }
      if (confirmDialog.returnValue !== "confirm" || !action) { return; }
      ES.api("POST", data.actionUrls[action]).then(function (res) {
        if (res.ok) {
          applyElection(res.data);
          poll();
          ES.notify("Done: " + res.data.title + " is now " + (data.statusLabels[res.data.status] || res.data.status) + ".");
        } else {
          ES.notify(ES.plainWords((res.data && res.data.detail) || ("Could not " + action + " the election.")), "error");
        }
      }, function () { ES.notify("Could not reach the server; nothing was done. Try again.", "error"); });
    });
  }

  // --- the scheduling dialog ---------------------------------------------------------------------
  //
  // The dialog loads the schedule with its version (ETag) when it opens, and sends back only the
  // kinds the user changed (PATCH), with If-Match: that version. A field left as it was sends
  // nothing, so no round trip through the page's time zone can move it. A local time that happens
  // twice (the clocks go back) is shown with its UTC offset, and the user picks which one.

  if (!dialog) { return; }
  var form = document.getElementById("schedule-form");
  var formError = document.getElementById("schedule-error");
  var confirmButton = document.getElementById("schedule-confirm");
  var versionField = document.getElementById("schedule-version");

  function row(kind) { return form.querySelector("fieldset[data-kind='" + kind + "']"); }
  function parts(kind) {
    var fieldset = row(kind);
    return {
      enabled: fieldset.querySelector("input[type=checkbox]"),
      at: fieldset.querySelector("input[type=datetime-local]"),
      offsetField: fieldset.querySelector("[data-offset-field]"),
      offset: fieldset.querySelector("select[data-offset]"),
      preview: fieldset.querySelector("[data-utc-preview]"),
      error: fieldset.querySelector("[data-field-error]")
    };
  }

  /** The instants (ms, ascending) a datetime-local value names in the page's zone:
   *  one, two when the clocks go back over it, none when they skip it (or it is no time). */
  function localInstants(value) {
    var found = ES.zoneInstants(value, ZONE);
    return found ? found.instants : [];
  }

  function offsetLabel(instant) {
    var minutes = Math.round(ES.zoneOffset(instant, ZONE) / 60000);
    var sign = minutes < 0 ? "-" : "+";
    minutes = Math.abs(minutes);
    return "UTC" + sign + pad(Math.floor(minutes / 60)) + ":" + pad(minutes % 60);
  }

  /** Show the offset choice when the value is ambiguous; keep ``preferred`` (ms) if it is one. */
  function refreshOffsets(kind, preferred) {
    var p = parts(kind);
    var instants = p.enabled.checked ? localInstants(p.at.value) : [];
    var previous = preferred !== undefined ? String(preferred) : p.offset.value;
    var same = instants.length === 2 && p.offset.getAttribute("data-for") === p.at.value;
    p.offsetField.hidden = instants.length !== 2;
    if (instants.length !== 2) {
      p.offset.textContent = "";
      p.offset.removeAttribute("data-for");
      return;
    }
    if (same && preferred === undefined) { return; }
    p.offset.textContent = "";
    p.offset.setAttribute("data-for", p.at.value);
    var placeholder = document.createElement("option");
    placeholder.value = "";
    placeholder.textContent = "Choose which " + p.at.value.slice(11, 16);
    p.offset.appendChild(placeholder);
    instants.forEach(function (instant, index) {
      var option = document.createElement("option");
      option.value = String(instant);
      option.textContent = (index ? "the second, " : "the first, ") + offsetLabel(instant) +
        " (" + ES.formatUTC(new Date(instant)) + ")";
      p.offset.appendChild(option);
    });
    p.offset.value = instants.map(String).indexOf(previous) !== -1 ? previous : "";
  }

  /** What a row means now: {checked, value, offset, instant (Date or null), problem (text or null)}. */
  function rowState(kind) {
    var p = parts(kind);
    var state = { checked: p.enabled.checked, value: p.at.value, offset: p.offsetField.hidden ? "" : p.offset.value,
                  instant: null, problem: null };
    if (!state.checked) { return state; }
    var instants = localInstants(p.at.value);
    if (!p.at.value || !ES.zoneInstants(p.at.value, ZONE)) {
      state.problem = "Choose a date and time, or uncheck the box to cancel this event.";
    } else if (!instants.length) {
      state.problem = "This time does not exist in " + ZONE + " that day (the clocks skip it); choose another.";
    } else if (instants.length === 2 && !state.offset) {
      state.problem = "This time happens twice that day (the clocks go back): choose which one.";
    } else {
      state.instant = new Date(instants.length === 2 ? Number(state.offset) : instants[0]);
    }
    return state;
  }

  var opened = {};  // each row as the dialog showed it when the schedule was loaded

  function touched(kind) {
    var now = rowState(kind), then = opened[kind];
    if (!then || now.checked !== then.checked) { return true; }
    if (now.checked && now.instant && then.instant) {  // typed differently, same instant: unchanged
      return now.instant.getTime() !== then.instant.getTime();
    }
    return now.checked && (now.value !== then.value || now.offset !== then.offset);
  }

  function updateRow(kind) {
    var p = parts(kind);
    p.at.disabled = !p.enabled.checked;
    refreshOffsets(kind);
    var state = rowState(kind);
    if (!p.enabled.checked) {
      p.preview.textContent = "nothing: " + (opened[kind] && opened[kind].checked
        ? "the scheduled event will be cancelled" : "not scheduled");
    } else if (!touched(kind)) {
      p.preview.textContent = "nothing: unchanged" + (state.instant ? " (" + state.instant.toISOString() + ")" : "");
    } else {
      p.preview.textContent = state.instant
        ? state.instant.toISOString() + " (" + ES.formatUTC(state.instant) + ")" : "—";
    }
    showGap(kind);
    // how the row stands, for notes of other parts of the page (the reminders that move with it)
    document.dispatchEvent(new CustomEvent("schedule-dialog:row", { detail: { kind: kind, row: row(kind),
      touched: touched(kind), checked: p.enabled.checked, wasChecked: !!(opened[kind] && opened[kind].checked) } }));
  }

  /** Say at once, next to the field, when the typed time falls in a gap (the clocks skip it):
   *  a browser would read it as a time an hour later. Nothing is sent until it is changed. */
  function showGap(kind) {
    var p = parts(kind);
    var found = p.enabled.checked ? ES.zoneInstants(p.at.value, ZONE) : null;
    var shifted = found && found.skipped;
    if (shifted) {
      var value = p.at.value;
      p.error.textContent = "There is no " + value.slice(11, 16) + " on " + value.slice(0, 10) + " in " +
        ZONE + ": the clocks skip it (they go forward). It would be read as " +
        ES.toZoneInput(shifted, ZONE).slice(11, 16) + " (" + ES.formatUTC(shifted) + "); choose the time you mean.";
      p.error.setAttribute("data-gap", "");
      p.at.setAttribute("aria-invalid", "true");
    } else if (p.error.hasAttribute("data-gap")) {
      p.error.textContent = "";
      p.error.removeAttribute("data-gap");
      p.at.removeAttribute("aria-invalid");
    }
  }

  function clearErrors() {
    formError.hidden = true;
    formError.textContent = "";
    KINDS.forEach(function (kind) {
      var p = parts(kind);
      p.error.textContent = "";
      p.error.removeAttribute("data-gap");
      p.at.removeAttribute("aria-invalid");
    });
  }

  function showFieldError(kind, messages) {
    var p = parts(kind);
    p.error.textContent = messages.join(" ");
    p.at.setAttribute("aria-invalid", "true");
  }

  function showFormError(message) {
    formError.textContent = message;
    formError.hidden = false;
  }

  /** Fill the rows from a schedule ({kind: {event_at} | null}) and remember them as untouched. */
  function fill(schedule) {
    KINDS.forEach(function (kind) {
      var p = parts(kind);
      var iso = schedule[kind] ? schedule[kind].event_at : null;
      p.enabled.disabled = false;
      p.offset.disabled = false;
      p.enabled.checked = !!iso;
      p.at.min = ES.toZoneInput(new Date(), ZONE).slice(0, 16);  // the picker opens on today, not the past
      p.at.value = iso ? ES.toZoneInput(new Date(iso), ZONE) : "";
      p.at.disabled = !iso;
      refreshOffsets(kind, iso ? new Date(iso).getTime() : undefined);
      opened[kind] = rowState(kind);
      updateRow(kind);
    });
  }

  function setLoading(loading) {
    confirmButton.disabled = loading;
    form.setAttribute("aria-busy", loading ? "true" : "false");
  }

  /** Until the schedule is loaded nothing can be typed: the loaded values would overwrite it. */
  function lockRows() {
    KINDS.forEach(function (kind) {
      var p = parts(kind);
      p.enabled.disabled = true;
      p.at.disabled = true;
      p.offset.disabled = true;
    });
  }

  function openDialog() {
    clearErrors();
    opened = {};
    versionField.value = "";
    setLoading(true);
    lockRows();
    closeMenu();
    dialog.showModal();
    ES.api("GET", data.scheduledEventsUrl).then(function (res) {
      if (!res.ok) { throw new Error("HTTP " + res.status); }
      versionField.value = res.headers.get("ETag") || "";
      fill(res.data);
      setLoading(false);
      parts(KINDS[0]).enabled.focus();
    }).catch(function () {
      showFormError("Could not load the current schedule; close the dialog and try again.");
    });
  }

  document.getElementById("configure-events").addEventListener("click", openDialog);
  document.getElementById("schedule-cancel").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () {
    var summary = menu && menu.querySelector("summary");
    if (summary) { summary.focus(); }
  });
  KINDS.forEach(function (kind) {
    var p = parts(kind);
    p.enabled.addEventListener("change", function () {
      updateRow(kind);
      if (p.enabled.checked && !p.at.value) { p.at.focus(); }
    });
    p.at.addEventListener("input", function () { updateRow(kind); });
    p.at.addEventListener("change", function () { updateRow(kind); });
    p.offset.addEventListener("change", function () { updateRow(kind); });
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (confirmButton.disabled) { return; }
    clearErrors();
    var body = {};
    var firstInvalid = null;
    KINDS.forEach(function (kind) {
      var p = parts(kind);
      if (!touched(kind)) { return; }  // left as it was: send nothing for it
      var state = rowState(kind);
      if (!state.checked) { body[kind] = null; return; }
      if (state.problem) {
        showFieldError(kind, [state.problem]);
        showGap(kind);  // a time in a gap: the message that names it, cleared when it is changed
        firstInvalid = firstInvalid || (p.offsetField.hidden ? p.at : p.offset);
        return;
      }
      body[kind] = { event_at: state.instant.toISOString() };
    });
    if (firstInvalid) { firstInvalid.focus(); return; }
    if (!Object.keys(body).length) {
      dialog.close();
      ES.notify("Nothing changed: the schedule is as it was.", "info");
      return;
    }
    var headers = versionField.value ? { "If-Match": versionField.value } : {};
    setLoading(true);
    ES.api("PATCH", data.scheduledEventsUrl, body, headers).then(function (res) {
      if (res.ok) {
        var unchanged = !!versionField.value && res.headers.get("ETag") === versionField.value;
        versionField.value = res.headers.get("ETag") || "";
        KINDS.forEach(function (kind) {
          events[kind] = res.data[kind] ? res.data[kind].event_at : null;
          renderEvent(kind, events[kind]);
        });
        dialog.close();
        if (unchanged) {
          ES.notify("Nothing changed: the schedule is as it was.", "info");
        } else {
          ES.notify("The scheduled events were changed successfully.");
        }
        poll();
        return;
      }
      var data_ = res.data || {};
      if (res.status === 412) {
        // someone else changed the schedule: say who and what; show what it is now
        if (data_.current) {
          KINDS.forEach(function (kind) {
            events[kind] = data_.current[kind] ? data_.current[kind].event_at : null;
            renderEvent(kind, events[kind]);
          });
        }
        showFormError(data_.detail ? ES.plainWords(data_.detail) : "The schedule changed since you opened this dialog; nothing was saved.");
        return;
      }
      var other = [];
      Object.keys(data_).forEach(function (key) {
        if (KINDS.indexOf(key) !== -1) {
          showFieldError(key, ES.messagesOf(data_[key]));
          firstInvalid = firstInvalid || parts(key).at;
        } else {
          other = other.concat(ES.messagesOf(data_[key]));
        }
      });
      if (other.length || !firstInvalid) {
        showFormError(other.length ? other.join(" ") : "The change failed (HTTP " + res.status + ").");
      }
      if (firstInvalid && !firstInvalid.disabled) { firstInvalid.focus(); }
    }).catch(function () {
      showFormError("Could not reach the server; nothing was changed. Try again.");
    }).then(function () { setLoading(false); });
  });
})();
