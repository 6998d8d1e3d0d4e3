"""The one place that turns an automation's rule into runs (``RunSpec``s for the run engine).

Each function returns the specs of one kind of occurrence, with the run's deterministic
task id: ``run_task_id(uid, <kind>, <occurrence parts>, revision)``; the revision of
the automation is in every id, so editing a rule back and forth never repeats the id
of an older row, and a relative run names its anchor event's task id, so a new anchor
is a new run. Nothing here writes; ``services`` and ``receivers`` schedule the specs.
"""

import json
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from scheduling.runs import RunSpec, run_task_id

from .cron import next_occurrences
from .models import Automation
from .when import At, Cron, OnStatus, OnUser, Relative, When, parse_when

#: The internal operation that first checks a relative run still makes sense (receivers.py).
RELATIVE_GUARD = "_relative_guard"


def when_of(automation: Automation) -> When:
    """The typed ``when`` of a stored (already validated, canonical) automation."""
    from .validation import election_zone

    # Keyed by the rule's content, not by id and revision: an id can come back after a
    # rolled-back transaction (SQLite) with another rule.
    return _stored_when(json.dumps(automation.when, sort_keys=True), automation.scope,
                        election_zone(automation.election))


@lru_cache(maxsize=4096)
def _stored_when(when_json: str, scope: str, default_zone: str) -> When:
    """Parsed once per distinct rule (the values are frozen): 10,000 rules due at one
    minute are mostly a few distinct ones."""
    return parse_when(json.loads(when_json), scope=scope, default_zone=default_zone, now=None)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def payload(automation: Automation, *, occurrence: dict, operations: dict | None = None,
            catch_up: timedelta | None = None) -> dict:
    """What a run does (contract §1): the automation, its operations in order, recipients."""
    return {
        "automation": {"id": automation.pk, "uid": str(automation.uid), "name": automation.name,
                       "revision": automation.revision},
        "operations": operations if operations is not None else dict(automation.operations),
        "recipients": automation.recipients or {},
        "catch_up_seconds": int(catch_up.total_seconds()) if catch_up is not None else None,
        "occurrence": occurrence,
    }


def _spec(automation: Automation, run_at: datetime, parts: tuple, occurrence: dict, *,
          election_id=None, subject_user_id=None, operations=None, catch_up=None) -> RunSpec:
    return RunSpec(
        task_id=run_task_id(str(automation.uid), *parts, automation.revision),
        run_at=run_at.astimezone(UTC),
        election_id=election_id if election_id is not None else automation.election_id,
        automation_id=automation.pk,
        payload=payload(automation, occurrence=occurrence, operations=operations, catch_up=catch_up),
        subject_user_id=subject_user_id,
    )


def at_run(automation: Automation, when: At, now: datetime) -> list[RunSpec]:
    """The one run of a due date, unless it is already past (it ran, or was missed for good)."""
    if when.at <= now:
        return []
    return [_spec(automation, when.at, ("at", _iso(when.at)), {"type": "at", "at": _iso(when.at)})]


def cron_run(automation: Automation, when: Cron, instant: datetime) -> RunSpec:
    """The run of the cron occurrence at ``instant`` (it is one of the rule's instants)."""
    return _spec(automation, instant, ("cron", _iso(instant)), {"type": "cron", "at": _iso(instant)},
                 catch_up=when.catch_up)


def next_cron_run(automation: Automation, when: Cron, after: datetime) -> RunSpec | None:
    """The run of the first occurrence strictly after ``after``; None once the rule has ended."""
    upcoming = next_occurrences(when, after, 1)
    return cron_run(automation, when, upcoming[0].at_utc) if upcoming else None


def relative_run(automation: Automation, when: Relative, anchor) -> RunSpec:
    """The run ``when`` sets around the pending voting event ``anchor`` (a ScheduledEvent).

    Its operations start with the guard that skips it, saying why, when its moment has
    become meaningless by the time it fires (voting already closed for a reminder before
    closing; the anchor did not happen for a run after it).
    """
    guard = {RELATIVE_GUARD: {"anchor": when.anchor, "anchor_task_id": anchor.task_id,
                              "sign": when.sign}}
    return _spec(
        automation, when.run_at(anchor.event_at), ("relative", anchor.task_id),
        {"type": "relative", "anchor": when.anchor, "anchor_task_id": anchor.task_id,
         "anchor_at": _iso(anchor.event_at)},
        operations={**guard, **automation.operations},
    )


def status_run(automation: Automation, when: OnStatus, election_id: int, changed_at: datetime,
               ) -> RunSpec:
    """The run after ``election_id`` actually changed status (``when.event``) at ``changed_at``."""
    return _spec(automation, changed_at + when.delay,
                 ("status", when.event, election_id, _iso(changed_at)),
                 {"type": "status", "event": when.event, "election_id": election_id,
                  "changed_at": _iso(changed_at)}, election_id=election_id)


def user_run(automation: Automation, when: OnUser, user, moment: datetime) -> RunSpec:
    """The run about ``user`` after ``when.trigger`` happened at ``moment``.

    ``user.created`` happens once per account, so its id leaves the moment out; an
    activation or a log-in can happen again, and each is its own occurrence.
    """
    parts = ("user", when.trigger, user.pk)
    if when.trigger != "user.created":
        parts += (_iso(moment),)
    return _spec(automation, moment + when.delay, parts,
                 {"type": "user", "trigger": when.trigger, "user_id": user.pk,
                  "username": user.username, "at": _iso(moment)},
                 election_id=None, subject_user_id=user.pk)


def initial_runs(automation: Automation, now: datetime, anchors: dict) -> list[RunSpec]:
    """The runs an active automation has as soon as it is saved.

    ``anchors`` maps a voting kind to the election's pending event of that kind. Triggered
    rules (status, user) have none until their event happens; a relative rule has one while
    its anchor is pending.
    """
    if not automation.active:
        return []
    when = when_of(automation)
    if isinstance(when, At):
        return at_run(automation, when, now)
    if isinstance(when, Cron):
        spec = next_cron_run(automation, when, now)
        return [spec] if spec else []
    if isinstance(when, Relative):
        anchor = anchors.get(when.anchor)
        return [relative_run(automation, when, anchor)] if anchor is not None else []
    return []


__all__ = ["RELATIVE_GUARD", "at_run", "cron_run", "initial_runs", "next_cron_run",
           "payload", "relative_run", "status_run", "user_run", "when_of"]
