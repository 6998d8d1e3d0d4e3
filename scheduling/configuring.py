"""Configuring: every write that decides what is scheduled, and the rules it follows.

Setting an election's events, cancelling the ones a status change made moot,
manual status changes and deletion. Writers lock the election row first, then
its events, so two writers never deadlock. Publishing and revoking happen in
``transaction.on_commit`` (``dispatching``): a message never names a row that
is not yet (or no longer) committed.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from activity_log.models import Action, ActivityEntry
from activity_log.services import ElectionRef, Entry, record_many
from config.sql import id_in
from elections import services as election_services
from elections.errors import InvalidInput, TransitionNotAllowed
from elections.models import TRANSITIONS, Election, Status, StatusAction
from elections.selectors import ancestor_paths, descendant_ids, tree_ids
from elections.services import StatusChange

from . import dispatching, runs, signals
from .dispatching import horizon, redispatch_after
from .errors import ScheduleChanged
from .models import Kind, ScheduledEvent, State, event_metadata

#: After a status change to the key, pending events of these kinds can no longer apply.
MOOT_AFTER = {
    Status.STARTED: (Kind.START_VOTING,),
    Status.STOPPED: (Kind.START_VOTING, Kind.END_VOTING),
}


def pending_events(election_id: int, *, lock: bool = False) -> dict[str, ScheduledEvent]:
    """The election's pending events by kind; ``lock`` locks them for this transaction.

    Plain SQL rather than a queryset: the API's GET runs it every time, and the
    queryset cost 1.8 M instructions against 0.8 M for the SQL (docs/benchmarks.md).
    """
    table = connection.ops.quote_name(ScheduledEvent._meta.db_table)
    for_update = " FOR UPDATE" if lock and connection.features.has_select_for_update else ""
    rows = ScheduledEvent.objects.raw(
        f"SELECT * FROM {table} WHERE election_id = %s AND state = %s AND kind IN (%s, %s)"
        f" ORDER BY id{for_update}",  # id order: the lock order of every writer of event rows
        [election_id, State.PENDING.value, *(kind.value for kind in Kind.VOTING)],
    )
    return {event.kind: event for event in rows}


def schedule_version(pending: dict[str, ScheduledEvent]) -> str:
    """An opaque version of the election's pending schedule, for ``ETag`` / ``If-Match``.

    Derived from the pending rows' (kind, task id): every change of a kind creates a
    new row with a new task id, and a kind left unchanged keeps its row, so the
    version changes exactly when the schedule does (no column, no migration).
    """
    key = ";".join(f"{kind}={pending[kind].task_id}" for kind in sorted(pending) if pending[kind])
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def configure(election: Election, events: dict[str, datetime | None], *, actor,
              replace: bool, expected_version: str | set[str] | None = None,
              ) -> dict[str, ScheduledEvent | None]:
    """Set the election's scheduled events and return the pending ones by kind.

    ``events`` maps kind to its new time, or None to cancel it. With ``replace``
    a kind left out is cancelled; without it a kind left out is kept. A kind whose
    time is unchanged keeps its row and task. Raises ``InvalidInput`` (and changes
    nothing) when a rule is broken, and ``ScheduleChanged`` when ``expected_version``
    (a version, or a set of them) is given and the schedule's ``schedule_version``
    is no longer it (checked under
    the lock, so two writers from the same stale version cannot both pass).
    """
    with transaction.atomic():
        election = lock_with_ancestors(election.pk)
        current = pending_events(election.pk, lock=True)
        expected = {expected_version} if isinstance(expected_version, str) else expected_version
        if expected is not None and schedule_version(current) not in expected:
            raise ScheduleChanged(election, current, _last_schedule_change(election.pk))
        target = {
            kind: events.get(kind) if (replace or kind in events)
            else getattr(current.get(kind), "event_at", None)
            for kind in Kind.VOTING
        }
        _check_schedule(election, current, target)
        now = timezone.now()
        changed = [kind for kind in Kind.VOTING
                   if target[kind] != getattr(current.get(kind), "event_at", None)]
        closing: dict[tuple[str, str], list[ScheduledEvent]] = {}
        for kind in changed:
            if kind in current:
                outcome = ((State.SUPERSEDED, "rescheduled") if target[kind]
                           else (State.CANCELLED, "cancelled"))
                closing.setdefault(outcome, []).append(current[kind])
        log = [entry for (state, reason), old in closing.items()
               for entry in _close(old, state, reason, actor, now, {election.pk: election.title})]
        created = _schedule(election, {kind: target[kind] for kind in changed if target[kind]}, actor, now)
        log += [Entry(Action.EVENT_SCHEDULED, election, actor, None, event_metadata(e)) for e in created]
        record_many(log)
        _announce({election.pk: {kind: (current.get(kind), next((e for e in created if e.kind == kind), None))
                                 for kind in changed}})
        kept = {kind: event for kind, event in current.items() if kind not in changed}
        return {**kept, **{event.kind: event for event in created}}


def lock_with_ancestors(election_id: int) -> Election:
    """Lock the election and its ancestors in id order (the order of ``lock_trees``); return it.

    A child's schedule is checked against its ancestors' and a parent's against its
    descendants': two writers in one tree both hold their common ancestors' locks,
    so neither can check against a schedule the other is changing.
    """
    path = ancestor_paths([election_id]).get(election_id) or [election_id]
    rows = {e.pk: e for e in Election.objects.select_for_update().filter(pk__in=path).order_by("pk")}
    if election_id not in rows:
        raise Election.DoesNotExist(f"no election {election_id}")
    election = rows[election_id]
    election.ancestor_ids = path[1:]  # nearest first
    return election


def _last_schedule_change(election_id: int) -> list[ActivityEntry]:
    """The log rows of the election's latest schedule change (one writer's one transaction)."""
    latest = list(ActivityEntry.objects.filter(
        election_id=election_id, action__in=[Action.EVENT_SCHEDULED, Action.EVENT_REVOKED],
    ).order_by("-created_at", "-id")[:4])
    if not latest:
        return []
    first = latest[0]
    return [e for e in latest
            if e.created_at == first.created_at and e.actor_name == first.actor_name][::-1]


def _utc(value: datetime) -> str:
    return f"{value:%Y-%m-%dT%H:%M:%SZ}"


#: What a parent's window implies for a child's, firing cascading down the tree:
#: (child's kind, parent's kind, test on (child's time, parent's time), why, in a sentence).
TREE_RULES = (
    (Kind.START_VOTING, Kind.START_VOTING, lambda c, p: c >= p, "before"),
    (Kind.START_VOTING, Kind.START_VOTING, lambda c, p: c <= p, "moot start"),
    (Kind.START_VOTING, Kind.END_VOTING, lambda c, p: c < p, "after end"),
    (Kind.END_VOTING, Kind.START_VOTING, lambda c, p: c > p, "end before start"),
    (Kind.END_VOTING, Kind.END_VOTING, lambda c, p: c <= p, "moot end"),
)


@dataclass(frozen=True)
class Window:
    """An election's pending voting times (kind -> UTC datetime), and how a message names it."""

    name: str
    times: dict[str, datetime]


def election_name(title: str, election_id: int | None = None, where: str = "") -> str:
    """``“General” (id 12)``; an election not yet created is named by ``where`` it is in an upload."""
    return f"\u201c{title}\u201d ({f'id {election_id}' if election_id is not None else where})"


def window_errors(target: dict, changed: set[str], *, above: list[Window],
                  below: list[Window] = ()) -> dict[str, list[str]]:
    """Messages, by kind, for each changed time of ``target`` that breaks the tree's windows.

    The window rule: a child election is open only while each of its ancestors is.
    Because a start opens every descendant and an end closes every descendant (see
    docs/architecture.md), against each ancestor's pending events a child's start
    must equal the ancestor's start (earlier, it opens while the parent is closed;
    later, the parent's start opens it first and its own start is cancelled as
    moot) and be before the ancestor's end; a child's end must be after the
    ancestor's start (else it is skipped, "not started", and the parent's start
    opens the child with no end) and at or before the ancestor's end (later, it
    never runs). The same rule is checked from above when a parent moves, against
    every descendant's times. ``above`` is nearest ancestor first; only the nearest
    conflict of each kind is named. Plain times in, no query: ``configure`` and the
    upload's check in memory (``election_config``) both call it.
    """
    errors: dict[str, list[str]] = {}
    for ancestor in above:
        for child_kind, parent_kind, holds, why in TREE_RULES:
            mine, theirs = target.get(child_kind), ancestor.times.get(parent_kind)
            if child_kind in changed and mine and theirs and not holds(mine, theirs):
                errors.setdefault(child_kind, []).append(_against_ancestor(why, ancestor.name, theirs))
    for descendant in below:
        for child_kind, parent_kind, holds, why in TREE_RULES:
            theirs, mine = descendant.times.get(child_kind), target.get(parent_kind)
            if parent_kind in changed and mine and theirs and not holds(theirs, mine):
                errors.setdefault(parent_kind, []).append(_against_descendant(why, descendant.name, theirs))
    return {kind: messages[:1] for kind, messages in errors.items()}  # the nearest conflict


def _tree_errors(election: Election, target: dict, changed: set[str]) -> dict[str, list[str]]:
    """``window_errors`` of ``election`` against the stored pending events of its ancestors and
    descendants: one query for the events of both."""
    if not changed:
        return {}
    above = getattr(election, "ancestor_ids", None)
    if above is None:
        above = (ancestor_paths([election.pk]).get(election.pk) or [election.pk])[1:]
    below = descendant_ids([election.pk])
    windows = stored_windows([*above, *below])
    empty = Window("", {})
    return window_errors(target, changed, above=[windows.get(pk, empty) for pk in above],
                         below=[windows[pk] for pk in below if pk in windows])


def stored_windows(election_ids: list[int]) -> dict[int, Window]:
    """The pending voting times of each of these elections that has any, in one query."""
    rows = (ScheduledEvent.objects.filter(election_id__in=election_ids, state=State.PENDING,
                                          kind__in=Kind.VOTING)
            .values_list("election_id", "election__title", "kind", "event_at"))
    windows: dict[int, Window] = {}
    for pk, title, kind, event_at in rows:
        windows.setdefault(pk, Window(election_name(title, pk), {})).times[kind] = event_at
    return windows


def _against_ancestor(why: str, name: str, at: datetime) -> str:
    at, who = _utc(at), name
    return {
        "before": f"Must not be before the start of voting of {who} at {at}: a child election "
                  f"cannot open before its parent. Choose {at}, or clear it (starting {who} starts "
                  "this election too).",
        "moot start": f"Would never run: the start of voting of {who} at {at} starts this election "
                      f"too. Clear it, or choose {at}.",
        "after end": f"Must be before the end of voting of {who} at {at}: a child election cannot "
                     "open after its parent closed.",
        "end before start": f"Must be after the start of voting of {who} at {at}: a child election "
                            "cannot close before its parent opens.",
        "moot end": f"Must be at or before the end of voting of {who} at {at}: ending {who} ends "
                    "this election too.",
    }[why]


def _against_descendant(why: str, name: str, at: datetime) -> str:
    at, who = _utc(at), f"the child election {name}"
    return {
        "before": f"Must not be after the start of voting of {who} at {at}: it would open before "
                  "its parent. Move or clear that start first.",
        "moot start": f"Must not be before the start of voting of {who} at {at}: starting this "
                      "election starts it too, so its own start would never run. Move or clear "
                      "that start first.",
        "after end": f"Must be after the start of voting of {who} at {at}: it would open after its "
                     "parent closed. Move or clear that start first.",
        "end before start": f"Must be before the end of voting of {who} at {at}: it would close "
                            "before its parent opens. Move or clear that end first.",
        "moot end": f"Must be at or after the end of voting of {who} at {at}: ending this "
                    "election ends it too, so its own end would never run. Move or clear that "
                    "end first.",
    }[why]


def own_schedule_errors(target: dict, changed: set[str], *, status: str, now: datetime,
                        ) -> dict[str, list[str]]:
    """Messages, by kind, for the rules on an election's own times: a changed time is in the
    future, the end is after the start, no start for an election that has started and no end
    for a stopped one. Plain values in, no query (``configure`` and the upload's check)."""
    errors: dict[str, list[str]] = {}
    for kind in Kind.VOTING:
        if kind in changed and target[kind] <= now:
            errors[kind] = [f"{_utc(target[kind])} is in the past (it is now {_utc(now)}); "
                            "choose a time in the future."]
    start, end = target.get(Kind.START_VOTING), target.get(Kind.END_VOTING)
    if start and end and end <= start and Kind.END_VOTING not in errors:
        errors[Kind.END_VOTING] = [f"Must be after the start of voting ({_utc(start)}); choose a "
                                   "later end or an earlier start."]
    if Kind.START_VOTING in changed and status not in TRANSITIONS[StatusAction.START][0]:
        errors.setdefault(Kind.START_VOTING, []).append(
            f"The election has already started (status {status}); a start can only "
            "be scheduled for an election that has not started. Send null to clear it."
        )
    if Kind.END_VOTING in changed and status == Status.STOPPED:
        errors.setdefault(Kind.END_VOTING, []).append(
            "The election is already stopped; send null to clear the end of voting."
        )
    return errors


def _check_schedule(election: Election, current: dict, target: dict) -> None:
    """Raise ``InvalidInput`` naming each field whose new value breaks a rule."""
    changed = {kind for kind in Kind.VOTING if target[kind] is not None
               and (kind not in current or current[kind].event_at != target[kind])}
    errors = own_schedule_errors(target, changed, status=election.status, now=timezone.now())
    if not errors:  # the tree's windows, once the election's own are sound
        errors = _tree_errors(election, target, changed)
    if errors:
        raise InvalidInput({kind: {"event_at": messages} for kind, messages in errors.items()})


def _schedule(election: Election, times: dict[str, datetime], actor, now) -> list[ScheduledEvent]:
    """Create a pending event for each kind in ``times`` (one INSERT); the caller logs them.

    Events due within the horizon are published when the transaction commits.
    """
    due_from = now + horizon()
    events = ScheduledEvent.objects.bulk_create([
        ScheduledEvent(
            election=election, kind=kind, event_at=event_at, scheduled_by=actor,
            # Due now: this transaction publishes it on commit, so it claims the row as
            # the planner does; else a tick between commit and publish would send it twice.
            # Should this process die before publishing, the planner sends it when the claim ends.
            next_dispatch_at=now + redispatch_after() if event_at <= due_from else event_at - horizon(),
        )
        for kind, event_at in times.items()
    ])
    due = [event for event in events if event.event_at <= due_from]
    if due:
        transaction.on_commit(lambda: dispatching.publish(due))
    return events


def _close(events: list[ScheduledEvent], state: str, reason: str, actor, now,
           titles: dict[int, str] | None = None) -> list[Entry]:
    """Move pending events to a final state and revoke on commit those that may have been sent.

    Returns one ``event_revoked`` entry per event, for the caller to record with its own
    rows in one INSERT.
    """
    if not events:
        return []
    ScheduledEvent.objects.filter(pk__in=[e.pk for e in events]).update(
        state=state, reason=reason, finished_at=now
    )
    for event in events:  # the callers' instances (and signal receivers) see the new state
        event.state, event.reason, event.finished_at = state, reason, now
    task_ids = [e.task_id for e in events if _may_have_been_published(e, now)]
    if task_ids:
        transaction.on_commit(lambda: dispatching.revoke(task_ids))
    titles = titles or {}
    return [
        Entry(Action.EVENT_REVOKED,
              ElectionRef(e.election_id, titles.get(e.election_id) or e.election.title),
              actor, None, event_metadata(e, state=state, reason=reason))
        for e in events
    ]


def _may_have_been_published(event: ScheduledEvent, now: datetime) -> bool:
    """Whether a message for the event may be out, so that revoking it is worth a broadcast.

    True once it was published, and while it is claimed for publishing: a claim (the
    planner's, or ``_schedule``'s for an event due now) moves ``next_dispatch_at`` to
    at most ``now + redispatch_after()``. An event days ahead was never sent: nothing
    to revoke. (Revoking is hygiene only; a stale message is discarded on arrival.)
    """
    return event.dispatch_count > 0 or event.next_dispatch_at <= now + redispatch_after()


def cancel_moot_events(causes: list[tuple[list[StatusChange], str]], *, actor) -> set[int]:
    """Cancel the pending events that status changes made pointless; returns their ids.

    ``causes`` pairs status changes with the reason to log. One SELECT for all of
    them; an event made moot by several causes is cancelled for the first.
    """
    mooted: dict[tuple[int, str], str] = {}
    titles: dict[int, str] = {}
    for changes, reason in causes:
        for change in changes:
            titles[change.election_id] = change.title
            for kind in MOOT_AFTER.get(change.to_status, ()):
                mooted.setdefault((change.election_id, kind), reason)
    if not mooted:
        return set()
    candidates = (
        ScheduledEvent.objects.select_for_update()
        .filter(id_in("election_id", {pk for pk, _ in mooted}), kind__in={kind for _, kind in mooted},
                state=State.PENDING)
        .order_by("pk")
    )
    by_reason: dict[str, list[ScheduledEvent]] = {}
    for event in candidates:
        reason = mooted.get((event.election_id, event.kind))
        if reason is not None:
            by_reason.setdefault(reason, []).append(event)
    now = timezone.now()
    record_many([entry for reason, events in by_reason.items()
                 for entry in _close(events, State.CANCELLED, reason, actor, now, titles)])
    _announce_cancelled([event for events in by_reason.values() for event in events])
    return {event.pk for events in by_reason.values() for event in events}


def _announce(changes: dict[int, dict[str, tuple]]) -> None:
    """Send ``voting_events_changed`` for each election whose pending voting events changed."""
    for election_id, kinds in changes.items():
        if kinds:
            signals.voting_events_changed.send(sender=ScheduledEvent, election_id=election_id,
                                               changes=kinds)


def _announce_cancelled(events: list[ScheduledEvent]) -> None:
    if not signals.voting_events_changed.has_listeners(ScheduledEvent):
        return
    by_election: dict[int, dict[str, tuple]] = {}
    for event in events:
        by_election.setdefault(event.election_id, {})[event.kind] = (event, None)
    _announce(by_election)


# --- status changes by hand, deletion ---------------------------------------------

def change_status(election: Election, action: str, *, actor) -> Election:
    """Apply a manual start/stop/suspend/resume to the election and its descendants.

    Pending events the change makes pointless are cancelled (a manual start
    cancels ``start_voting``, a stop cancels both). Raises ``TransitionNotAllowed``.
    """
    if action not in TRANSITIONS:
        raise TransitionNotAllowed(f"Unknown action '{action}'; use start, stop, suspend or resume.")
    with transaction.atomic():
        election = election_services.lock(election.pk)
        changes = election_services.apply_transition(
            election, action, actor=actor, metadata={"source": "manual"}
        )
        cancel_moot_events([(changes, f"election {TRANSITIONS[action][1]} by hand")], actor=actor)
    return election


def delete_election(election: Election, *, actor) -> None:
    """Delete the election and its descendants; their pending events and runs are cancelled and revoked."""
    with transaction.atomic():
        election = election_services.lock(election.pk)
        ids = tree_ids(election)
        elections = list(Election.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        titles = {e.pk: e.title for e in elections}
        pending = list(ScheduledEvent.objects.select_for_update()
                       .filter(election_id__in=ids, state=State.PENDING).order_by("pk"))
        voting = [event for event in pending if event.kind in Kind.VOTING]
        record_many([
            *_close(voting, State.CANCELLED, "election deleted", actor, timezone.now(), titles),
            *(Entry(Action.ELECTION_DELETED, e, actor, None, {"root": election.pk}) for e in elections),
        ])
        _announce_cancelled(voting)  # receivers close the runs that hang on these events first
        runs.close_runs([event for event in pending if event.kind == Kind.AUTOMATION],
                        state=State.CANCELLED, reason="election deleted", actor=actor)
        election_services.delete_trees(ids)
