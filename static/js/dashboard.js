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
    var time = document.createElement("time");
    time.className = "utc";
    time.dateTime = iso;
    time.textContent = ES.formatUTC(date);
    var local = document.createElement("span");
    local.className = "local-time";
    local.textContent = "(" + ES.formatLocal(date) + ", your time)";
    dd.appendChild(time);
    dd.appendChild(document.createTextNode(" "));
    dd.appendChild(local);
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

  function applyChild(id, child) {
    var badge = document.querySelector("tr[data-child-id='" + id + "'] [data-child-status]");
    if (badge) { setBadge(badge, child.status); }
  }

  var polling = false;
  function poll() {
    if (polling || document.hidden) { return; }
    polling = true;
    var requests = [ES.api("GET", data.apiUrl).then(function (res) {
      if (res.ok) { applyElection(res.data); }
    })];
    if (document.getElementById("children")) {
      requests.push(ES.api("GET", data.childrenUrl).then(function (res) {
        if (res.ok) {
          res.data.results.forEach(function (child) { applyChild(String(child.id), child); });
        }
      }));
    }
    Promise.all(requests).then(function () {
      var stamp = document.getElementById("last-refresh");
      if (stamp) { stamp.textContent = "Last refreshed " + new Date().toLocaleTimeString() + "."; }
    }).catch(function () { /* offline for a moment: the next poll tries again */ })
      .then(function () { polling = false; });
  }

  KINDS.forEach(function (kind) { renderEvent(kind, events[kind]); });
  setInterval(poll, data.pollMs);

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
        if (action === "stop" && !window.confirm("Stop this election and all its child elections? " +
            "A stopped election cannot be started again.")) { return; }
        ES.api("POST", data.actionUrls[action]).then(function (res) {
          if (res.ok) {
            applyElection(res.data);
            ES.notify("Done: the election is now " + (data.statusLabels[res.data.status] || res.data.status) + ".");
          } else {
            ES.notify((res.data && res.data.detail) || ("Could not " + action + " the election."), "error");
          }
        });
      });
    });
  }

  // --- the scheduling dialog ---------------------------------------------------------------------

  if (!dialog) { return; }
  var form = document.getElementById("schedule-form");
  var formError = document.getElementById("schedule-error");
  var confirmButton = document.getElementById("schedule-confirm");
  document.getElementById("browser-tz").textContent = ES.timeZoneName();

  function row(kind) { return form.querySelector("fieldset[data-kind='" + kind + "']"); }
  function parts(kind) {
    var fieldset = row(kind);
    return {
      enabled: fieldset.querySelector("input[type=checkbox]"),
      at: fieldset.querySelector("input[type=datetime-local]"),
      preview: fieldset.querySelector("[data-utc-preview]"),
      error: fieldset.querySelector("[data-field-error]")
    };
  }

  function updateRow(kind) {
    var p = parts(kind);
    p.at.disabled = !p.enabled.checked;
    var date = ES.fromLocalInput(p.at.value);
    if (!p.enabled.checked) {
      p.preview.textContent = "nothing: " + (events[kind] ? "the scheduled event will be cancelled" : "not scheduled");
    } else {
      p.preview.textContent = date ? date.toISOString() + " (" + ES.formatUTC(date) + ")" : "—";
    }
  }

  function clearErrors() {
    formError.hidden = true;
    formError.textContent = "";
    KINDS.forEach(function (kind) {
      var p = parts(kind);
      p.error.textContent = "";
      p.at.removeAttribute("aria-invalid");
    });
  }

  function showFieldError(kind, messages) {
    var p = parts(kind);
    p.error.textContent = messages.join(" ");
    p.at.setAttribute("aria-invalid", "true");
  }

  var opened = {};  // what was scheduled when the dialog opened
  function openDialog() {
    clearErrors();
    opened = { start_voting: events.start_voting, end_voting: events.end_voting };
    KINDS.forEach(function (kind) {
      var p = parts(kind);
      p.enabled.checked = !!events[kind];
      p.at.value = events[kind] ? ES.toLocalInput(new Date(events[kind])) : "";
      updateRow(kind);
    });
    closeMenu();
    dialog.showModal();
    parts(KINDS[0]).enabled.focus();
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
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors();
    var body = {};
    var firstInvalid = null;
    KINDS.forEach(function (kind) {
      var p = parts(kind);
      if (!p.enabled.checked) { body[kind] = null; return; }
      var date = ES.fromLocalInput(p.at.value);
      if (!date) {
        showFieldError(kind, ["Choose a date and time, or uncheck the box to cancel this event."]);
        firstInvalid = firstInvalid || p.at;
        return;
      }
      // Unchanged by the user: send the stored instant as it is (the picker drops sub-seconds).
      // Compare instants to the second, not strings: the picker's value omits ":00" seconds.
      var untouched = opened[kind] &&
        Math.floor(date.getTime() / 1000) === Math.floor(new Date(opened[kind]).getTime() / 1000);
      body[kind] = { event_at: untouched ? opened[kind] : date.toISOString() };
    });
    if (firstInvalid) { firstInvalid.focus(); return; }
    confirmButton.disabled = true;
    ES.api("PUT", data.scheduledEventsUrl, body).then(function (res) {
      if (res.ok) {
        KINDS.forEach(function (kind) {
          events[kind] = res.data[kind] ? res.data[kind].event_at : null;
          renderEvent(kind, events[kind]);
        });
        dialog.close();
        ES.notify("The scheduled events were changed successfully.");
        poll();
        return;
      }
      var data_ = res.data || {};
      var other = [];
      Object.keys(data_).forEach(function (key) {
        if (KINDS.indexOf(key) !== -1) {
          var messages = ES.flattenErrors(data_[key]);
          showFieldError(key, messages);
          firstInvalid = firstInvalid || parts(key).at;
        } else {
          other = other.concat(ES.flattenErrors(data_[key], key === "detail" ? "" : key));
        }
      });
      if (other.length || !firstInvalid) {
        formError.textContent = other.length ? other.join(" ") : "The change failed (HTTP " + res.status + ").";
        formError.hidden = false;
      }
      if (firstInvalid && !firstInvalid.disabled) { firstInvalid.focus(); }
    }).catch(function () {
      formError.textContent = "Could not reach the server; nothing was changed. Try again.";
      formError.hidden = false;
    }).then(function () { confirmButton.disabled = false; });
  });
})();
