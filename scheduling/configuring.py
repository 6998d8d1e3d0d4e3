"""Configuring: every write that decides what is scheduled (its rules: ``rules``).

Setting an election's events, cancelling the ones a status change made moot,
manual status changes and deletion. Writers lock the election row first, then
its events, so two writers never deadlock. Publishing and revoking happen in
``transaction.on_commit`` (``dispatching``): a message never names a row that
is not yet (or no longer) committed.
"""

import hashlib
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from activity_log.models import Action, ActivityEntry
from activity_log.services import ElectionRef, Entry, record_many
from config.sql import id_in
from elections import services as election_services
from elections.errors import TransitionNotAllowed
from elections.models import TRANSITIONS, Election, Status
from elections.selectors import ancestor_paths, tree_ids
from elections.services import StatusChange

from . import dispatching, runs, signals
from .dispatching import horizon, redispatch_after
from .errors import ScheduleChanged
from .models import Kind, ScheduledEvent, State, event_metadata
from .rules import check_schedule

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
        check_schedule(election, current, target)
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


def _schedule(election: Election, times: dict[str, datetime], actor, now) -> list[ScheduledEvent]:
    """Create a pending event for each kind in ``times`` (one INSERT); the caller logs them.

    Events due within the horizon are published when the transaction commits.
    """
    events = [_new_event(election.pk, kind, event_at, actor, now) for kind, event_at in times.items()]
    for event in events:
        event.election = election  # the callers' receivers read it without a query
    return save_new_events(events, now)


def _new_event(election_id: int, kind: str, event_at: datetime, actor, now) -> ScheduledEvent:
    due_now = event_at <= now + horizon()
    return ScheduledEvent(
        election_id=election_id, kind=kind, event_at=event_at, scheduled_by=actor, created_at=now,
        # Due now: this transaction publishes it on commit, so it claims the row as
        # the planner does; else a tick between commit and publish would send it twice.
        # Should this process die before publishing, the planner sends it when the claim ends.
        next_dispatch_at=now + redispatch_after() if due_now else event_at - horizon(),
    )


def save_new_events(events: list[ScheduledEvent], now) -> list[ScheduledEvent]:
    """Insert events built by ``new_events`` (or ``_new_event``) in the caller's transaction, and
    publish on commit those due within the horizon; returns them."""
    events = ScheduledEvent.objects.bulk_create(events, batch_size=2000)
    due = [event for event in events if event.event_at <= now + horizon()]
    if due:
        transaction.on_commit(lambda: dispatching.publish(due))
    return events


def new_events(schedules: list[tuple[ElectionRef, dict[str, datetime | None]]], *, actor, now,
               ) -> tuple[list[ScheduledEvent], list[Entry]]:
    """The first events of elections being created (checked by the caller with ``rules``), not
    saved, and their ``event_scheduled`` entries; ``save_new_events`` writes them.

    A new election has no pending event to replace and no automation yet whose runs would
    move with its events (``voting_events_changed`` has nothing to say about it).
    """
    events, entries = [], []
    for ref, times in schedules:
        for kind in Kind.VOTING:
            if times.get(kind) is not None:
                event = _new_event(ref.pk, kind, times[kind], actor, now)
                events.append(event)
                entries.append(Entry(Action.EVENT_SCHEDULED, ref, actor, None, event_metadata(event)))
    return events, entries


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
