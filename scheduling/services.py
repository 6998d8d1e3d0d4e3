"""Every write to scheduled events, and the rules they follow.

Writers lock the election row first, then its events, so two writers never
deadlock. Publishing and revoking happen in ``transaction.on_commit``: a message
never names a row that is not yet (or no longer) committed. The database is the
source of truth; the broker only delivers, and ``execute_event`` ignores any
delivery that does not match the current pending row.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from activity_log.models import Action
from activity_log.services import ElectionRef, Entry, record, record_many
from config.sql import id_in
from elections import services as election_services
from elections.errors import InvalidInput, TransitionNotAllowed
from elections.models import TRANSITIONS, Election, Status, StatusAction
from elections.selectors import ancestor_paths, tree_ids
from elections.services import StatusChange

from . import faults, signals
from .models import KIND_ACTION, Kind, PlannerHeartbeat, ScheduledEvent, State

logger = logging.getLogger(__name__)

#: After a status change to the key, pending events of these kinds can no longer apply.
MOOT_AFTER = {
    Status.STARTED: (Kind.START_VOTING,),
    Status.STOPPED: (Kind.START_VOTING, Kind.END_VOTING),
}
MAX_REDISPATCH_BACKOFF = timedelta(minutes=5)


def horizon() -> timedelta:
    return timedelta(seconds=settings.SCHEDULING_HORIZON_SECONDS)


def redispatch_after() -> timedelta:
    return timedelta(seconds=settings.SCHEDULING_REDISPATCH_AFTER_SECONDS)


def _event_metadata(event: ScheduledEvent, **extra) -> dict:
    return {"kind": event.kind, "event_at": event.event_at, "task_id": event.task_id, **extra}


# --- configuring ---------------------------------------------------------------

def pending_events(election_id: int, *, lock: bool = False) -> dict[str, ScheduledEvent]:
    """The election's pending events by kind; ``lock`` locks them for this transaction.

    Plain SQL rather than a queryset: the API's GET runs it every time, and the
    queryset cost 1.8 M instructions against 0.8 M for the SQL (docs/benchmarks.md).
    """
    table = connection.ops.quote_name(ScheduledEvent._meta.db_table)
    for_update = " FOR UPDATE" if lock and connection.features.has_select_for_update else ""
    rows = ScheduledEvent.objects.raw(
        f"SELECT * FROM {table} WHERE election_id = %s AND state = %s{for_update}",
        [election_id, State.PENDING.value],
    )
    return {event.kind: event for event in rows}


def configure(election: Election, events: dict[str, datetime | None], *, actor,
              replace: bool) -> dict[str, ScheduledEvent | None]:
    """Set the election's scheduled events and return the pending ones by kind.

    ``events`` maps kind to its new time, or None to cancel it. With ``replace``
    a kind left out is cancelled; without it a kind left out is kept. A kind whose
    time is unchanged keeps its row and task. Raises ``InvalidInput`` (and changes
    nothing) when a rule is broken.
    """
    with transaction.atomic():
        election = election_services.lock(election.pk)
        current = pending_events(election.pk, lock=True)
        target = {
            kind: events.get(kind) if (replace or kind in events)
            else getattr(current.get(kind), "event_at", None)
            for kind in Kind.values
        }
        _check_schedule(election, current, target)
        now = timezone.now()
        changed = [kind for kind in Kind.values
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
        log += [Entry(Action.EVENT_SCHEDULED, election, actor, None, _event_metadata(e)) for e in created]
        record_many(log)
        kept = {kind: event for kind, event in current.items() if kind not in changed}
        return {**kept, **{event.kind: event for event in created}}


def _check_schedule(election: Election, current: dict, target: dict) -> None:
    """Raise ``InvalidInput`` naming each field whose new value breaks a rule."""
    now = timezone.now()
    errors: dict = {}

    def changed(kind):
        old = current.get(kind)
        return target[kind] is not None and (old is None or old.event_at != target[kind])

    for kind in Kind.values:
        if changed(kind) and target[kind] <= now:
            errors[kind] = {"event_at": [
                f"{target[kind]:%Y-%m-%dT%H:%M:%SZ} is in the past (it is now "
                f"{now:%Y-%m-%dT%H:%M:%SZ}); choose a time in the future."
            ]}
    start, end = target[Kind.START_VOTING], target[Kind.END_VOTING]
    if start and end and end <= start and Kind.END_VOTING not in errors:
        errors[Kind.END_VOTING] = {"event_at": [
            f"Must be after the start of voting ({start:%Y-%m-%dT%H:%M:%SZ}); choose a later "
            "end or an earlier start."
        ]}
    if changed(Kind.START_VOTING) and not election.allows(StatusAction.START):
        errors.setdefault(Kind.START_VOTING, {}).setdefault("event_at", []).append(
            f"The election has already started (status {election.status}); a start can only "
            "be scheduled for an election that has not started. Send null to clear it."
        )
    if changed(Kind.END_VOTING) and election.status == Status.STOPPED:
        errors.setdefault(Kind.END_VOTING, {}).setdefault("event_at", []).append(
            "The election is already stopped; send null to clear the end of voting."
        )
    if errors:
        raise InvalidInput(errors)


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
        transaction.on_commit(lambda: publish(due))
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
    task_ids = [e.task_id for e in events if _may_have_been_published(e, now)]
    if task_ids:
        transaction.on_commit(lambda: revoke(task_ids))
    titles = titles or {}
    return [
        Entry(Action.EVENT_REVOKED,
              ElectionRef(e.election_id, titles.get(e.election_id) or e.election.title),
              actor, None, _event_metadata(e, state=state, reason=reason))
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
    return {event.pk for events in by_reason.values() for event in events}


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
    """Delete the election and its descendants; their pending events are cancelled and revoked."""
    with transaction.atomic():
        election = election_services.lock(election.pk)
        ids = tree_ids(election)
        elections = list(Election.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        titles = {e.pk: e.title for e in elections}
        pending = list(ScheduledEvent.objects.select_for_update()
                       .filter(election_id__in=ids, state=State.PENDING).order_by("pk"))
        record_many([
            *_close(pending, State.CANCELLED, "election deleted", actor, timezone.now(), titles),
            *(Entry(Action.ELECTION_DELETED, e, actor, None, {"root": election.pk}) for e in elections),
        ])
        election.delete()


# --- executing ------------------------------------------------------------------------

def execute_event(event_id: int, task_id: str) -> str:
    """Carry out one delivered event; see ``execute_events``."""
    return execute_events([(event_id, task_id)])[event_id]


def execute_events(deliveries: list[tuple[int, str]], *, batch_task_id: str | None = None) -> dict[int, str]:
    """Carry out each delivered event if, and only if, it is pending and its task id is the one delivered.

    ``deliveries`` are (event id, task id) pairs: one event per message, or the
    events due at one instant in one message (``batch_task_id`` is that message's
    id). Returns each event's outcome: ``done``, ``skipped``, ``early``
    (re-published for its time), ``cancelled`` (made moot by an earlier event of
    the same delivery), ``discarded`` (stale delivery, logged) or ``missing``.
    All in one transaction, in order of time (then id), with the same effect as
    delivering the events one by one: each tree changes status with its log rows,
    or nothing does.
    """
    delivered = dict(deliveries)
    outcomes = dict.fromkeys(delivered, "missing")
    batch = {"batch_task_id": batch_task_id} if batch_task_id else {}
    with transaction.atomic():
        # Whole trees first, then the events: the lock order of every writer.
        trees = election_services.lock_trees(
            ScheduledEvent.objects.filter(pk__in=list(delivered)).values("election_id"))
        events = list(ScheduledEvent.objects.select_for_update(of=("self",)).select_related("scheduled_by")
                      .filter(pk__in=list(delivered)).order_by("event_at", "pk"))
        now = timezone.now()
        transitions: list[tuple[ScheduledEvent, ElectionRef, election_services.Transition]] = []
        skipped: list[tuple[ScheduledEvent, ElectionRef, str]] = []
        early: list[ScheduledEvent] = []
        notes: list[Entry] = []
        mooted: set[tuple[int, str]] = set()
        for event in events:
            task_id = delivered[event.pk]
            ref = ElectionRef(event.election_id, trees.title(event.election_id)
                       if event.election_id in trees else "(deleted election)")
            if event.state != State.PENDING or event.task_id != task_id:
                reason = (f"the event is {event.state}, not pending" if event.state != State.PENDING
                          else f"task {task_id} is not the event's current task {event.task_id}")
                notes.append(Entry(Action.TASK_DISCARDED, ref, None, None, _event_metadata(
                    event, task_id=task_id, current_task_id=event.task_id, state=event.state,
                    reason=reason, **batch)))
                outcomes[event.pk] = "discarded"
            elif event.event_at > now:
                early.append(event)
                outcomes[event.pk] = "early"
            elif (event.election_id, event.kind) in mooted:
                outcomes[event.pk] = "cancelled"  # closed below with the reason that mooted it
            elif event.election_id not in trees:
                skipped.append((event, ref, "the election no longer exists"))
                outcomes[event.pk] = "skipped"
            else:
                try:
                    transition = trees.transition(
                        event.election_id, KIND_ACTION[event.kind], on_behalf_of=event.scheduled_by,
                        metadata={"source": "scheduled_event", "kind": event.kind,
                                  "task_id": event.task_id, **batch})
                except TransitionNotAllowed:
                    action = KIND_ACTION[event.kind]
                    skipped.append((event, ref, (
                        f"{action} is not allowed: the election is {trees.status(event.election_id)} "
                        f"(needs {' or '.join(sorted(TRANSITIONS[action][0]))})")))
                    outcomes[event.pk] = "skipped"
                    continue
                transitions.append((event, ref, transition))
                mooted.update((change.election_id, kind) for change in transition.changes
                              for kind in MOOT_AFTER.get(change.to_status, ()))
                outcomes[event.pk] = "done"
        for pk in set(delivered) - {event.pk for event in events}:
            logger.warning("fire_event %s: no scheduled event %s; nothing to do", delivered[pk], pk)
        _write_outcomes(transitions, skipped, notes, batch)
        cancelled = cancel_moot_events(
            [(t.changes, f"election {TRANSITIONS[t.action][1]} by {event.kind} {event.task_id}")
             for event, _, t in transitions], actor=None)
        early = [event for event in early if event.pk not in cancelled]
        if early:
            transaction.on_commit(lambda: publish(early))
    return outcomes


def _write_outcomes(transitions, skipped, notes: list[Entry], batch: dict) -> None:
    """Write the status changes, the events' final states and every log row of one delivery."""
    done_at = timezone.now()
    entries = [
        *(Entry(Action.EVENT_EXECUTED, ref, None, event.scheduled_by, _event_metadata(
            event, lateness_seconds=(done_at - event.event_at).total_seconds(),
            elections_changed=len(t.changes), **batch))
          for event, ref, t in transitions),
        *(Entry(Action.EVENT_SKIPPED, ref, None, event.scheduled_by, _event_metadata(
            event, reason=reason, lateness_seconds=(done_at - event.event_at).total_seconds(), **batch))
          for event, ref, reason in skipped),
        *notes,
    ]
    election_services.save_transitions([t for _, _, t in transitions], also_record=entries)
    lateness = ExpressionWrapper(Value(done_at, output_field=DateTimeField()) - F("event_at"),
                                 output_field=DurationField())
    if transitions:
        faults.pause_in_transition()  # test-only, inert unless its env var is set
        ScheduledEvent.objects.filter(pk__in=[event.pk for event, _, _ in transitions]).update(
            state=State.DONE, reason="", finished_at=done_at, executed_at=done_at, lateness=lateness)
    by_reason: dict[str, list[int]] = {}
    for event, _, reason in skipped:
        by_reason.setdefault(reason, []).append(event.pk)
    for reason, pks in by_reason.items():
        ScheduledEvent.objects.filter(pk__in=pks).update(
            state=State.SKIPPED, reason=reason, finished_at=done_at, lateness=lateness)
    signals.report_outcomes(transitions, skipped, done_at)  # alerts (notifications), same transaction


def record_failure(event_id: int, task_id: str, error: BaseException) -> None:
    """Mark the event failed after an error that retrying will not fix, with a summary."""
    summary = f"{type(error).__name__}: {error}"[:2000]
    with transaction.atomic():
        peek = ScheduledEvent.objects.filter(pk=event_id).values_list("election_id", flat=True).first()
        if peek is None:
            return
        election = Election.objects.select_for_update().filter(pk=peek).first()
        event = ScheduledEvent.objects.select_for_update().get(pk=event_id)
        if event.state != State.PENDING or event.task_id != task_id:
            return
        event.state, event.reason, event.finished_at = State.FAILED, summary, timezone.now()
        event.save(update_fields=["state", "reason", "finished_at"])
        record(Action.EVENT_FAILED, election or ElectionRef(peek, "(deleted election)"),
               on_behalf_of=event.scheduled_by, **_event_metadata(event, error=summary))
        signals.report_failure(event, summary)  # alerts (notifications), same transaction


# --- delivery ----------------------------------------------------------------------------

PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


#: Most events one ``fire_events`` message carries; a bigger instant is split so workers share it.
FIRE_BATCH_SIZE = 100


def publish(events: list[ScheduledEvent]) -> int:
    """Send the events' tasks with their ETAs; returns how many events were sent.

    An event due alone travels in its own ``fire_event`` message, whose Celery id
    is the event's task id. Events due at the same instant (or already overdue)
    travel together, up to ``FIRE_BATCH_SIZE`` in one ``fire_events`` message (but
    one tree's events are never split: see ``_messages``), so a worker opens them in
    a few statements instead of a transaction each; each event in it is still
    checked against its own task id. A failure is logged and
    leaves ``next_dispatch_at`` due, so the planner tries again on its next tick.
    Never raises: it runs after commit.
    """
    from .tasks import fire_event, fire_events

    now = timezone.now()
    by_instant: dict[datetime | None, list[ScheduledEvent]] = {}
    for event in events:
        by_instant.setdefault(event.event_at if event.event_at > now else None, []).append(event)
    if None in by_instant:  # overdue events of different times: send them in time order
        by_instant[None].sort(key=lambda e: (e.event_at, e.pk))
    sent: list[ScheduledEvent] = []
    for instant, group in by_instant.items():
        for chunk in _messages(group):
            try:
                if len(chunk) == 1:
                    fire_event.apply_async((chunk[0].pk,), task_id=chunk[0].task_id, eta=chunk[0].event_at,
                                           retry=True, retry_policy=PUBLISH_RETRY_POLICY)
                else:
                    fire_events.apply_async(([[e.pk, e.task_id] for e in chunk],), eta=instant,
                                            retry=True, retry_policy=PUBLISH_RETRY_POLICY)
            except Exception:
                logger.exception("could not publish %s; the planner will retry",
                                 ", ".join(f"{e} (task {e.task_id})" for e in chunk))
                ScheduledEvent.objects.filter(pk__in=[e.pk for e in chunk], state=State.PENDING).update(
                    next_dispatch_at=timezone.now()
                )
                continue
            sent.extend(chunk)
    _mark_published(sent)
    return len(sent)


def _messages(group: list[ScheduledEvent]) -> list[list[ScheduledEvent]]:
    """Split events due together into messages of up to ``FIRE_BATCH_SIZE``, never splitting a tree.

    Messages run in parallel on different worker processes. Were a parent's overdue
    start in one and its child's overdue end in another, the end could take the
    tree's locks first, be skipped as "not started", and leave the child open once the
    start arrives. Within one message events run in order of time, so events whose
    elections are ancestor and descendant travel together, under the topmost election
    of the group above them; siblings stay free to run in parallel. Such a tree with
    more events than the limit makes one larger message. Keeps the order of ``group``
    within each tree.
    """
    if len(group) <= FIRE_BATCH_SIZE:
        return [group]
    in_group = {event.election_id for event in group}
    try:
        paths = ancestor_paths(in_group)
    except DatabaseError:  # publish() must not raise: split by time alone, as before trees counted
        logger.warning("could not read the trees of %d due events; splitting them by time only",
                       len(group), exc_info=True)
        paths = {}
    by_tree: dict[int, list[ScheduledEvent]] = {}
    for event in group:
        path = paths.get(event.election_id, [event.election_id])
        top = next(pk for pk in reversed(path) if pk in in_group)  # the path starts with itself
        by_tree.setdefault(top, []).append(event)
    messages: list[list[ScheduledEvent]] = [[]]
    for events in by_tree.values():
        if messages[-1] and len(messages[-1]) + len(events) > FIRE_BATCH_SIZE:
            messages.append([])
        messages[-1].extend(events)
    return messages


def _mark_published(events: list[ScheduledEvent]) -> None:
    """Record the publishes: one UPDATE per backoff step, not one per event (each was a commit)."""
    now = timezone.now()
    by_attempt: dict[int, list[int]] = {}
    for event in events:
        by_attempt.setdefault(event.dispatch_count, []).append(event.pk)
    for attempts, pks in by_attempt.items():
        backoff = min(redispatch_after() * (2 ** attempts), MAX_REDISPATCH_BACKOFF)
        ScheduledEvent.objects.filter(pk__in=pks, state=State.PENDING).update(
            dispatched_at=now, dispatch_count=F("dispatch_count") + 1,
            next_dispatch_at=Greatest(F("event_at"), Value(now, output_field=DateTimeField())) + backoff,
        )


def revoke(task_ids: list[str]) -> None:
    """Ask workers to drop these tasks. Hygiene only: a stale task is discarded anyway."""
    from config.celery import app

    if not task_ids:
        return
    try:
        app.control.revoke(task_ids)
    except Exception:
        logger.warning("could not broadcast revoke of %s; workers will discard them on arrival",
                       task_ids, exc_info=True)


PLAN_BATCH = 1000


def plan(now: datetime | None = None) -> int:
    """One planner tick: publish the pending events whose ``next_dispatch_at`` has come.

    That is events entering the horizon, and events still pending past their time
    (message lost, worker or broker down), again with backoff. Rows are claimed
    with SKIP LOCKED, so planners running at once never publish the same event
    twice in one round. Returns how many were published.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            ScheduledEvent.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("election")
            .filter(state=State.PENDING, next_dispatch_at__lte=now)
            .order_by("next_dispatch_at")[:PLAN_BATCH]
        )
        if due:
            # Claim: a concurrent planner will not see these as due.
            ScheduledEvent.objects.filter(pk__in=[e.pk for e in due]).update(
                next_dispatch_at=now + redispatch_after()
            )
        redispatched = [e for e in due if e.dispatch_count > 0]
        record_many(
            Entry(Action.EVENT_DISPATCHED, e.election, None, e.scheduled_by, _event_metadata(
                e, attempt=e.dispatch_count + 1,
                reason=f"still pending {(now - e.event_at).total_seconds():.1f} s after its time"
                       if e.event_at < now else "re-published"))
            for e in redispatched
        )
    sent = publish(due) if due else 0
    PlannerHeartbeat.objects.update_or_create(pk=1, defaults={"last_tick_at": now, "published": sent})
    return sent
