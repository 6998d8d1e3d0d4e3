"""How an activity entry reads to a person: one sentence, who acted, and which task.

Plain strings only: templates escape them, so nothing here may build markup.
"""

from dataclasses import dataclass
from datetime import datetime

from config.zones import format_in_zone

from .models import Action, ActivityEntry

KIND_WORDS = {"start_voting": "the start of voting", "end_voting": "the end of voting",
              "automation": "the automation run"}
STATUS_WORDS = {"notstarted": "not started", "started": "started", "suspended": "suspended",
                "resumed": "resumed", "stopped": "stopped"}
ACTION_VERBS = {"start": "started", "stop": "stopped", "suspend": "suspended", "resume": "resumed"}
SHORT_TASK_ID = 8


def format_time(value, zone: str | None = None) -> str:
    """A datetime (or an ISO string from an entry's metadata) as a page shows it in ``zone``
    (``Tue 1 Dec 2026 18:00 Asia/Tokyo``, see config.zones); without a zone ``12 Sep 2026 09:26 UTC``,
    as the CSV, emails and API messages read. '' for None; a string that is no time, as it is."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return format_in_zone(value, zone or "UTC", weekday=zone is not None)


def format_utc(value) -> str:
    """``12 Sep 2026 09:26 UTC`` (seconds shown only when not zero); '' for None."""
    return format_time(value)


def format_seconds(seconds) -> str:
    """A duration for people: ``40 ms``, ``0.2 s``, ``12 s``, ``3 min 5 s``, ``2 h 4 min``."""
    if seconds is None:
        return ""
    seconds = float(seconds)
    if seconds < 0:
        return f"-{format_seconds(-seconds)}"
    if seconds < 0.1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def short_task_id(task_id: str | None) -> str:
    if not task_id:
        return ""
    return task_id if len(task_id) <= SHORT_TASK_ID else f"{task_id[:SHORT_TASK_ID]}…"


def kind_words(kind: str | None) -> str:
    return KIND_WORDS.get(kind or "", "the scheduled event")


@dataclass(frozen=True)
class Line:
    """One activity entry as the activity-log page shows it."""

    entry: ActivityEntry
    sentence: str
    actor: str
    task_id: str
    short_task_id: str


def actor_of(entry: ActivityEntry) -> str:
    """``alice``, or ``system (for alice)`` when the system acted for someone, or ``system``."""
    if entry.actor_name:
        return entry.actor_name
    if entry.on_behalf_of_name:
        return f"system (for {entry.on_behalf_of_name})"
    return "system"


def scheduler_standing(entry: ActivityEntry) -> str:
    """``; alice, who scheduled it, is no longer active`` (or no longer holds the grant), or ``""``."""
    standing = (entry.metadata or {}).get("scheduled_by_standing")
    who = entry.on_behalf_of_name or "the user"
    if standing == "inactive":
        return f"; {who}, who scheduled it, is no longer active"
    if standing == "no_grant":
        return f"; {who}, who scheduled it, no longer holds the schedule-events grant"
    return ""


AUTOMATION_ACTIONS = {Action.AUTOMATION_CREATED, Action.AUTOMATION_CHANGED, Action.AUTOMATION_DELETED,
                      Action.AUTOMATION_RUNS_MISSED}


def describe_automation(entry: ActivityEntry, zone: str | None = None) -> str:
    """``alice created the automation “Remind observers”`` (or changed: its when, or deleted), or
    ``59 runs of “Every minute” missed while down (10:01 to 10:59 UTC), not sent``."""
    meta = entry.metadata or {}
    who = entry.actor_name or "the system"
    name = f"\u201c{meta.get('name') or meta.get('automation_id', '?')}\u201d"
    if entry.action == Action.AUTOMATION_CREATED:
        return f"{who} created the automation {name}" + ("" if meta.get("active", True) else " (off)")
    if entry.action == Action.AUTOMATION_CHANGED:
        changed = ", ".join(meta.get("changed") or []) or "nothing"
        off = "; it is now off" if meta.get("active") is False else ""
        return f"{who} changed the automation {name}: {changed}{off}"
    if entry.action == Action.AUTOMATION_DELETED:
        return f"{who} deleted the automation {name}"
    count = meta.get("count") or 0
    runs = "run" if count == 1 else "runs"
    span = format_time(meta.get("first"), zone)
    if meta.get("last") and meta.get("last") != meta.get("first"):
        span += f" to {format_time(meta.get('last'), zone)}"
    caught = (f"; the run of {format_time(meta.get('caught_up_by'), zone)} ran late for them"
              if meta.get("caught_up_by") else "")
    return f"{count} {runs} of {name} missed while down ({span}), not sent{caught}"


def describe(entry: ActivityEntry, zone: str | None = None) -> str:
    """The sentence a person reads for this entry, its times in ``zone`` (None: UTC, see format_time)."""
    meta = entry.metadata or {}
    who = entry.actor_name or "the system"
    kind = kind_words(meta.get("kind"))
    task = short_task_id(meta.get("task_id"))
    reason = meta.get("reason") or ""
    action = entry.action
    if action in AUTOMATION_ACTIONS:
        return describe_automation(entry, zone)
    if action == Action.EVENT_SCHEDULED:
        return f"{who} scheduled {kind} for {format_time(meta.get('event_at'), zone)}"
    if action == Action.EVENT_REVOKED:
        sentence = f"task {task} revoked: {reason or meta.get('state') or 'no longer pending'}"
        return f"{sentence} ({kind} for {format_time(meta.get('event_at'), zone)})"
    if action == Action.EVENT_EXECUTED:
        sentence = f"{kind} ran {format_seconds(meta.get('lateness_seconds') or 0)} late"
        changed = meta.get("elections_changed")
        if changed is not None:
            sentence += f"; {changed} election{'s' if changed != 1 else ''} changed status"
        return sentence + scheduler_standing(entry)
    if action == Action.EVENT_SKIPPED:
        return f"{kind} was skipped: {reason}{scheduler_standing(entry)}"
    if action == Action.EVENT_FAILED:
        return f"{kind} failed: {meta.get('error') or reason}"
    if action == Action.EVENT_DISPATCHED:
        attempt = meta.get("attempt")
        sentence = f"{kind} was published again" + (f" (attempt {attempt})" if attempt else "")
        return f"{sentence}: {reason}" if reason else sentence
    if action == Action.TASK_DISCARDED:
        return f"task {task} discarded: {reason}" if reason else f"task {task} discarded"
    if action in RUN_ACTIONS:
        return describe_run(entry, zone)
    if action == Action.STATUS_CHANGED:
        before = STATUS_WORDS.get(meta.get("from"), meta.get("from") or "?")
        after = STATUS_WORDS.get(meta.get("to"), meta.get("to") or "?")
        if entry.actor_name:
            verb = ACTION_VERBS.get(meta.get("action"), "changed")
            return f"{who} {verb} the election ({before} → {after})"
        cause = f" by {kind}" if meta.get("kind") else ""
        return f"the election went from {before} to {after}{cause}"
    if action in (Action.EMAILS_QUEUED, Action.EMAIL_FAILED):
        return meta.get("summary") or entry.get_action_display()
    if action in (Action.EMAILS_STOPPED, Action.EMAILS_RESUMED):
        verb = "stopped" if action == Action.EMAILS_STOPPED else "resumed"
        return f"{who} {verb} the emails of {meta.get('label') or meta.get('scope')}"
    if action == Action.ELECTION_CREATED:
        return f"{who} created the election"
    if action == Action.ELECTION_DELETED:
        return f"{who} deleted the election"
    if action == Action.ELECTION_EDITED:
        changes = meta.get("changes") or {}
        parts = [f"the {name} from “{change.get('from', '')}” to “{change.get('to', '')}”"
                 for name, change in sorted(changes.items())]
        return f"{who} changed " + ("; ".join(parts) or "the election")
    if action == Action.GRANT_ADDED:
        return f"{who} gave {meta.get('user')} {meta.get('to')} access"
    if action == Action.GRANT_CHANGED:
        return f"{who} changed the access of {meta.get('user')} from {meta.get('from')} to {meta.get('to')}"
    if action == Action.GRANT_REMOVED:
        return f"{who} removed the {meta.get('from')} access of {meta.get('user')}"
    return f"{who}: {entry.get_action_display()}"


RUN_ACTIONS = {Action.RUN_SCHEDULED, Action.RUN_SUPERSEDED, Action.RUN_CANCELLED, Action.RUN_TURNED_OFF,
               Action.RUN_TURNED_ON, Action.RUN_EXECUTED, Action.RUN_SKIPPED, Action.RUN_FAILED}
#: how the counts of a run's result read, in this order
COUNT_WORDS = (("status_changes", "election changed status", "elections changed status"),
               ("emails_queued", "email queued", "emails queued"),
               ("recipients", "recipient", "recipients"))


def run_counts(result: dict | None) -> str:
    """``; 3 elections changed status, 12 emails queued`` from a run's counts, or ``""``."""
    parts = []
    for key, one, many in COUNT_WORDS:
        value = (result or {}).get(key)
        if isinstance(value, int):
            parts.append(f"{value} {one if value == 1 else many}")
    return f"; {', '.join(parts)}" if parts else ""


def describe_run(entry: ActivityEntry, zone: str | None = None) -> str:
    """The sentence for a run's entry: ``run of “Remind voters” for 12 Sep 2026 09:26 UTC …``."""
    meta = entry.metadata or {}
    who = entry.actor_name or "the system"
    name = meta.get("automation") or f"automation {meta.get('automation_id', '?')}"
    run = f"run of \u201c{name}\u201d for {format_time(meta.get('event_at'), zone)}"
    reason = meta.get("reason") or ""
    action = entry.action
    if action == Action.RUN_SCHEDULED:
        return f"{who} scheduled a {run}"
    if action == Action.RUN_SUPERSEDED:
        return f"{run} replaced: {reason}" if reason else f"{run} replaced"
    if action == Action.RUN_CANCELLED:
        return f"{run} cancelled: {reason}" if reason else f"{run} cancelled"
    if action == Action.RUN_TURNED_OFF:
        return f"{who} turned off the {run}"
    if action == Action.RUN_TURNED_ON:
        return f"{who} turned on the {run}"
    if action == Action.RUN_EXECUTED:
        late = format_seconds(meta.get("lateness_seconds") or 0)
        return f"{run} ran {late} late{run_counts(meta.get('result'))}"
    if action == Action.RUN_SKIPPED:
        return f"{run} skipped: {reason}" if reason else f"{run} skipped"
    return f"{run} failed: {meta.get('error') or reason}"


def present(entries, zone: str | None = None) -> list[Line]:
    """The page's rows for these entries, in the order given, their sentences' times in ``zone``."""
    return [
        Line(entry=entry, sentence=describe(entry, zone), actor=actor_of(entry),
             task_id=entry.task_id or "", short_task_id=short_task_id(entry.task_id))
        for entry in entries
    ]

