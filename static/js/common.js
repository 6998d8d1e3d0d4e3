/* Shared helpers for the pages: CSRF-carrying JSON requests, notifications, time formatting. */
(function () {
  "use strict";

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function pad(n) { return String(n).padStart(2, "0"); }

  /** "12 Sep 2026 09:26 UTC" (seconds only when not zero), like the server's format_utc. */
  function formatUTC(date) {
    var time = pad(date.getUTCHours()) + ":" + pad(date.getUTCMinutes());
    if (date.getUTCSeconds() || date.getUTCMilliseconds()) { time += ":" + pad(date.getUTCSeconds()); }
    return date.getUTCDate() + " " + MONTHS[date.getUTCMonth()] + " " + date.getUTCFullYear() + " " + time + " UTC";
  }

  /** The same instant in the browser's time zone, e.g. "Sep 12, 2026, 05:26:00 AM EDT". */
  function formatLocal(date) {
    return new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      second: "2-digit", timeZoneName: "short"
    }).format(date);
  }

  function timeZoneName() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "local time"; }
    catch (e) { return "local time"; }
  }

  /** A Date as the value of an <input type="datetime-local"> in the browser's time zone. */
  function toLocalInput(date) {
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + "T" +
      pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
  }

  /** The instant a datetime-local value means in the browser's time zone, or null. */
  function fromLocalInput(value) {
    if (!value) { return null; }
    var date = new Date(value);  // a date-time without offset is local time
    return isNaN(date.getTime()) ? null : date;
  }

  function localizeTimes(root) {
    (root || document).querySelectorAll("[data-local]").forEach(function (el) {
      var date = new Date(el.getAttribute("data-local"));
      if (!isNaN(date.getTime())) { el.textContent = "(" + formatLocal(date) + ", your time)"; }
    });
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) { return input.value; }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  /** fetch() with the session cookie, the CSRF header and JSON (plus ``headers``, optional);
   *  resolves to {status, ok, data, headers}. */
  function api(method, url, body, headers) {
    var options = {
      method: method, credentials: "same-origin",
      headers: Object.assign({ "Accept": "application/json", "X-CSRFToken": csrfToken() }, headers || {})
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text.slice(0, 300) }; }
        return { status: response.status, ok: response.ok, data: data, headers: response.headers };
      });
    });
  }

  /** Show one message at the top of the page (announced by screen readers): it replaces the one
   *  shown before, has a close button (and Escape), and goes by itself after a few seconds
   *  (errors stay until dismissed). ``kind``: "success" (default), "info" or "error". */
  var TOAST_MS = 6000;
  var toastTimer = null;
  function dismiss() {
    var region = document.getElementById("notifications");
    if (region) { region.textContent = ""; }
    clearTimeout(toastTimer);
  }
  function notify(message, kind) {
    var region = document.getElementById("notifications");
    if (!region) { return; }
    dismiss();
    var note = document.createElement("div");
    note.className = "notice " + (kind || "success");
    var text = document.createElement("span");
    text.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "notice-close";
    close.setAttribute("aria-label", "Dismiss notification");
    close.textContent = "×";
    close.addEventListener("click", dismiss);
    note.appendChild(text);
    note.appendChild(close);
    region.appendChild(note);
    if (kind !== "error") { toastTimer = setTimeout(dismiss, TOAST_MS); }
  }
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !document.querySelector("dialog[open]")) { dismiss(); }
  });

  var WORDS = [
    [/\bnotstarted\b/g, "not started"],
    [/\bstart_voting\b/g, "voting opens"],
    [/\bend_voting\b/g, "voting closes"],
    [/\bevent_at\b/g, "time"],
    [/\bscheduled_events\b/g, "scheduled events"],
    [/\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, "$1…"],
    [/\b[Ss]end null to clear (it|the end of voting)\b/g, "uncheck it (or leave it out) to cancel it"],
    [/\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z\b/g, function (iso) { return formatUTC(new Date(iso)); }]
  ];
  /** A server message in a person's words: statuses and kinds as words, task ids shortened, ISO
   *  instants as "12 Sep 2026 09:26 UTC" (unless ``keepTimes``: the upload shows the JSON's form). */
  function plainWords(message, keepTimes) {
    return WORDS.reduce(function (text, pair, index) {
      return keepTimes && index === WORDS.length - 1 ? text : text.replace(pair[0], pair[1]);
    }, String(message));
  }

  /** Only the messages of DRF-style errors, without the field names, in plain words. */
  function messagesOf(data) {
    return flattenErrors(data).map(function (line) {
      return plainWords(line.replace(/^[\w.]+: /, ""));
    });
  }

  /** Flatten DRF-style errors into ["field.sub: message", ...]. */
  function flattenErrors(data, prefix) {
    var out = [];
    if (data === null || data === undefined) { return out; }
    if (typeof data === "string") { return [(prefix ? prefix + ": " : "") + data]; }
    if (Array.isArray(data)) {
      data.forEach(function (item, index) {
        var isScalar = typeof item === "string";
        out = out.concat(flattenErrors(item, isScalar ? prefix : (prefix ? prefix + "." : "") + index));
      });
      return out;
    }
    Object.keys(data).forEach(function (key) {
      var path = key === "detail" || key === "non_field_errors" ? prefix : (prefix ? prefix + "." + key : key);
      out = out.concat(flattenErrors(data[key], path));
    });
    return out;
  }

  window.ES = {
    formatUTC: formatUTC, formatLocal: formatLocal, timeZoneName: timeZoneName,
    toLocalInput: toLocalInput, fromLocalInput: fromLocalInput, localizeTimes: localizeTimes,
    api: api, notify: notify, dismiss: dismiss, plainWords: plainWords, messagesOf: messagesOf, flattenErrors: flattenErrors
  };

  /** A task id button shows the full id in its place and copies it (one click, or Enter/Space). */
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.task-id");
    if (!button) { return; }
    var full = button.getAttribute("data-task-id");
    var code = button.querySelector("code");
    code.textContent = full;
    button.classList.add("is-full");
    button.setAttribute("aria-label", "Task " + full + ": copy the task id");
    var done = function () { notify("Task id " + full + " copied.", "info"); };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(full).then(done, function () { notify("Task id " + full + " (select it to copy).", "info"); });
    } else {
      notify("Task id " + full + " (select it to copy).", "info");
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    localizeTimes(document);
    // a message from the server (after a form was saved): dismissable and timed like any other
    var flash = document.querySelector("[data-flash]");
    if (flash) {
      flash.querySelector(".notice-close").addEventListener("click", dismiss);
      if (!flash.classList.contains("error")) { toastTimer = setTimeout(dismiss, TOAST_MS); }
    }
  });
})();
