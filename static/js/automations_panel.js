/* The dashboard's "Reminders and automations" panel: the on/off switch of each next run, Delete
 * with a confirmation, a refresh of the server-rendered panel (after a change, after the rule
 * editor's `automation:saved`, and every few seconds), and the scheduling dialog's note of the
 * reminders that move with a voting event. Edit / Add a reminder belong to the rule editor
 * (it binds to data-rule-editor-edit / data-rule-editor-new). */
(function () {
  "use strict";
  var ES = window.ES;
  var POLL_MS = 5000;
  var NOUNS = { start_voting: "the start of voting", end_voting: "the end of voting" };
  var busy = 0;  // requests of the panel in flight: no refresh replaces what they act on

  function panel() { return document.getElementById("automations-panel"); }

  /** A key that finds the same control in the refreshed panel, to keep the keyboard focus there. */
  function focusKey(el) {
    var names = ["data-url", "data-rule-editor-edit", "data-rule-editor-new"];
    for (var i = 0; i < names.length; i++) {
      if (el.hasAttribute(names[i])) { return "[" + names[i] + "='" + el.getAttribute(names[i]) + "']"; }
    }
    return null;
  }

  /** Fetch the panel as the server renders it now and put it in place, unless its version is the
   *  one shown (so an opened task id or a focused control stays as it is). */
  function refresh() {
    var current = panel();
    if (!current || busy || current.querySelector("dialog[open]")) { return Promise.resolve(); }
    return fetch(current.getAttribute("data-fragment-url"), { credentials: "same-origin", cache: "no-cache" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      }).then(function (html) {
        var now = panel();
        if (!now || busy || now.querySelector("dialog[open]")) { return; }
        var holder = document.createElement("template");
        holder.innerHTML = html;
        var fresh = holder.content.querySelector("#automations-panel");
        if (!fresh || fresh.getAttribute("data-version") === now.getAttribute("data-version")) { return; }
        var active = document.activeElement;
        var key = now.contains(active) ? focusKey(active) : null;
        now.replaceWith(fresh);
        if (key) {
          var again = fresh.querySelector(key);
          if (again) { again.focus(); }
        }
        document.dispatchEvent(new CustomEvent("automations:panel-refreshed", { detail: { panel: fresh } }));
      }).catch(function () { /* the dashboard's own refresh says when the server is out of reach */ });
  }

  function sayErrors(res, fallback) {
    var lines = res && res.data ? ES.messagesOf(res.data) : [];
    ES.notify(lines.length ? lines.join(" ") : fallback, "error");
  }

  // --- the on/off switch of a next run ------------------------------------------------------------

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("#automations-panel [data-run-switch]")) { return; }
    var item = input.closest("[data-automation-name]");
    var name = item ? item.getAttribute("data-automation-name") : "";
    var enabled = input.checked;
    input.disabled = true;
    busy += 1;
    ES.api("PATCH", input.getAttribute("data-url"), { enabled: enabled }).then(function (res) {
      if (!res.ok) {
        input.checked = !enabled;
        sayErrors(res, "Could not change the run (HTTP " + res.status + "); nothing changed.");
        return;
      }
      ES.notify("The next run of “" + name + "” is " + (enabled ? "on: it will be sent." :
        "off: it will not be sent."));
    }, function () {
      input.checked = !enabled;
      ES.notify("Could not reach the server; nothing changed. Try again.", "error");
    }).then(function () {
      input.disabled = false;
      busy -= 1;
      refresh();
    });
  });

  // --- Delete, after a confirmation that says what stops -------------------------------------------

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("#automations-panel [data-delete-automation]");
    if (!button) { return; }
    var dialog = document.getElementById("delete-automation-dialog");
    var name = button.getAttribute("data-name");
    var item = button.closest("[data-automation-id]");
    var next = item && item.querySelector("[data-next-run] time");
    dialog.querySelector("#delete-automation-title").textContent = "Delete “" + name + "”?";
    dialog.querySelector("#delete-automation-detail").textContent =
      "This stops: " + button.getAttribute("data-stops") + "." +
      (next ? " Its next run (" + next.textContent + ") will not happen." : "") +
      " Its past runs stay in the history.";
    dialog.returnValue = "";
    dialog.addEventListener("close", function () {
      if (dialog.returnValue !== "confirm") { button.focus(); return; }
      busy += 1;
      ES.api("DELETE", button.getAttribute("data-url")).then(function (res) {
        if (res.ok) {
          ES.notify("Deleted “" + name + "”: it will not run again.");
        } else {
          sayErrors(res, "Could not delete it (HTTP " + res.status + "); nothing changed.");
        }
      }, function () {
        ES.notify("Could not reach the server; nothing was deleted. Try again.", "error");
      }).then(function () {
        busy -= 1;
        refresh().then(function () {
          var heading = document.getElementById("automations-heading");
          if (heading && !panel().contains(document.activeElement)) {
            heading.tabIndex = -1;
            heading.focus();
          }
        });
      });
    }, { once: true });
    dialog.showModal();
    dialog.querySelector("button[value=cancel]").focus();
  });

  // --- the scheduling dialog: which reminders move with the event being changed --------------------

  function moving(kind) {
    var found = [];
    document.querySelectorAll("#automations-panel [data-moves-with='" + kind + "']").forEach(function (item) {
      found.push("“" + item.getAttribute("data-automation-name") + "”");
    });
    return found;
  }

  function listWords(items) {
    return items.length < 2 ? items.join("") : items.slice(0, -1).join(", ") + " and " + items[items.length - 1];
  }

  /** dashboard.js says how a row of the dialog stands (`schedule-dialog:row`): a moved event moves
   *  its reminders, a cancelled one cancels them; say so under the row before anything is saved. */
  document.addEventListener("schedule-dialog:row", function (event) {
    var d = event.detail;
    var note = d.row.querySelector("[data-moves-with-note]");
    if (!note) {
      note = document.createElement("p");
      note.className = "hint moves-with";
      note.setAttribute("data-moves-with-note", "");
      note.setAttribute("aria-live", "polite");
      d.row.appendChild(note);
    }
    var names = moving(d.kind);
    var n = names.length;
    var text = "";
    if (n && d.touched && d.checked) {
      text = n + (n === 1 ? " reminder moves" : " reminders move") + " with " + NOUNS[d.kind] + ": " +
        listWords(names) + ".";
    } else if (n && d.touched && d.wasChecked) {
      text = n + (n === 1 ? " reminder is" : " reminders are") + " cancelled with " + NOUNS[d.kind] + ": " +
        listWords(names) + ".";
    }
    note.textContent = text;
    note.hidden = !text;
  });

  // --- refreshes ---------------------------------------------------------------------------------

  document.addEventListener("automation:saved", function () { refresh(); });
  var scheduleDialog = document.getElementById("schedule-dialog");
  if (scheduleDialog) { scheduleDialog.addEventListener("close", function () { refresh(); }); }
  setInterval(function () { if (!document.hidden) { refresh(); } }, POLL_MS);
})();
