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

  // --- times in the page's zone ------------------------------------------------------------------
  //
  // The server names the zone a page shows times in (the user's choice, else the election's, else
  // UTC: config/zones.py) on <body data-time-zone>; scripts show and read times in that zone, never
  // in the browser's, and in the server's words: "Tue 1 Dec 2026 18:00 Asia/Tokyo", UTC on hover.

  /** The zone this page shows times in (an IANA name). */
  function pageZone() {
    return (document.body && document.body.getAttribute("data-time-zone")) || "UTC";
  }

  var partFormats = {};
  /** The wall clock of ``date`` in ``zone``: {weekday, year, month (1-12), day, hour, minute, second}. */
  function zoneParts(date, zone) {
    var format = partFormats[zone] || (partFormats[zone] = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", weekday: "short", year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric"
    }));
    var out = {};
    format.formatToParts(date).forEach(function (part) {
      out[part.type] = part.type === "weekday" ? part.value : Number(part.value);
    });
    if (out.hour === 24) { out.hour = 0; }  // some engines say 24:00 for midnight
    return out;
  }

  /** "Tue 1 Dec 2026 18:00 Asia/Tokyo" (seconds only when not zero; with ``hundredths``, always
   *  "18:00:00.04"), like the server's config.zones.format_in_zone. */
  function formatInZone(date, zone, hundredths) {
    var p = zoneParts(date, zone);
    var time = pad(p.hour) + ":" + pad(p.minute);
    if (hundredths) {
      time += ":" + pad(p.second) + "." + pad(Math.floor(date.getUTCMilliseconds() / 10));
    } else if (p.second || date.getUTCMilliseconds()) {
      time += ":" + pad(p.second);
    }
    return p.weekday + " " + p.day + " " + MONTHS[p.month - 1] + " " + p.year + " " + time + " " + zone;
  }

  /** A <time> for ``iso`` in ``zone`` (the page's by default), named, with UTC on hover: what the
   *  server's {% moment %} tag writes. */
  function moment(iso, zone) {
    zone = zone || pageZone();
    var date = new Date(iso);
    var time = document.createElement("time");
    time.dateTime = iso;
    time.title = formatUTC(date);
    time.setAttribute("data-zone", zone);
    time.textContent = formatInZone(date, zone);
    return time;
  }

  /** How far ``zone``'s clocks are ahead of UTC at the instant ``ms`` (in ms; whole seconds). */
  function zoneOffset(ms, zone) {
    var p = zoneParts(new Date(ms), zone);
    return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(ms / 1000) * 1000;
  }

  /** A Date as the value of an <input type="datetime-local"> on ``zone``'s clock. */
  function toZoneInput(date, zone) {
    var p = zoneParts(date, zone);
    return p.year + "-" + pad(p.month) + "-" + pad(p.day) + "T" + pad(p.hour) + ":" + pad(p.minute) + ":" +
      pad(p.second);
  }

  /** The instants (ms, ascending) a datetime-local value names on ``zone``'s clock: one, two when
   *  the clocks go back over it, none when they skip it (then ``skipped`` says where a browser would
   *  put it: as far past the gap as the offset before it reads it). {instants, skipped}; null when
   *  the value is no date and time. */
  function zoneInstants(value, zone) {
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value || "");
    if (!m) { return null; }
    var wanted = m[1] + "-" + m[2] + "-" + m[3] + "T" + m[4] + ":" + m[5] + ":" + (m[6] || "00");
    var asUTC = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
    if (isNaN(asUTC)) { return null; }
    var found = [];
    // the offsets a day either side and at the wall time itself cover any one change of the clocks
    [-86400000, 0, 86400000].forEach(function (shift) {
      var instant = asUTC - zoneOffset(asUTC + shift, zone);
      if (toZoneInput(new Date(instant), zone) === wanted && found.indexOf(instant) === -1) {
        found.push(instant);
      }
    });
    var skipped = found.length ? null : new Date(asUTC - zoneOffset(asUTC - 86400000, zone));
    return { instants: found.sort(function (a, b) { return a - b; }), skipped: skipped };
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
   *  instants as "12 Sep 2026 09:26 UTC" (unless ``keepTimes``: the upload shows the JSON's form),
   *  or with ``zone``, every instant in that zone's words. */
  function plainWords(message, keepTimes, zone) {
    var text = String(message);
    if (zone && !keepTimes) { text = inZone(text, zone); }
    return WORDS.reduce(function (text, pair, index) {
      return keepTimes && index === WORDS.length - 1 ? text : text.replace(pair[0], pair[1]);
    }, text);
  }

  var ISO_TIME = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})/g;
  var UTC_WORDS = /\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) )?(\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2})(?::(\d{2}))? UTC\b/g;
  /** The instants in ``text`` (ISO, or already in words as "12 Sep 2026 09:26 UTC") in ``zone``'s
   *  words, like the server's ``plain_words:zone``. */
  function inZone(text, zone) {
    return text.replace(ISO_TIME, function (iso) {
      var date = new Date(iso);
      return isNaN(date.getTime()) ? iso : formatInZone(date, zone);
    }).replace(UTC_WORDS, function (all, day, month, year, hour, minute, second) {
      var index = MONTHS.indexOf(month);
      if (index === -1) { return all; }
      return formatInZone(new Date(Date.UTC(+year, index, +day, +hour, +minute, +(second || 0))), zone);
    });
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
    formatUTC: formatUTC, formatInZone: formatInZone, moment: moment, pageZone: pageZone,
    zoneOffset: zoneOffset, toZoneInput: toZoneInput, zoneInstants: zoneInstants,
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
    // a message from the server (after a form was saved): dismissable and timed like any other
    var flash = document.querySelector("[data-flash]");
    if (flash) {
      flash.querySelector(".notice-close").addEventListener("click", dismiss);
      if (!flash.classList.contains("error")) { toastTimer = setTimeout(dismiss, TOAST_MS); }
    }
  });
})();
