"""Every write to scheduled events, and the rules they follow.

Writers lock the election row first, then its events, so two writers never
deadlock. Publishing and revoking happen in ``transaction.on_commit``: a message
never names a row that is not yet (or no longer) committed. The database is the
source of truth; the broker only delivers, and ``execute_event`` ignores any
delivery that does not match the current pending row.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, F, Subquery, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from activity_log.models import Action
from activity_log.services import Entry, record, record_many
from elections import services as election_services
from elections.errors import InvalidInput, TransitionNotAllowed
from elections.models import TRANSITIONS, Election, Status, StatusAction
from elections.selectors import tree_ids

from . import faults
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
    """The election's pending events by kind."""
    queryset = ScheduledEvent.objects.filter(election_id=election_id, state=State.PENDING)
    if lock:
        queryset = queryset.select_for_update()
    return {event.kind: event for event in queryset}


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
        for kind in Kind.values:
            old, new_at = current.get(kind), target[kind]
            if old is not None and new_at == old.event_at:
                continue
            if old is not None:
                reason = "rescheduled" if new_at else "cancelled"
                _close([old], State.SUPERSEDED if new_at else State.CANCELLED, reason, actor, now,
                       {election.pk: election.title})
            if new_at is not None:
                _schedule(election, kind, new_at, actor, now)
        return pending_events(election.pk)


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


def _schedule(election: Election, kind: str, event_at: datetime, actor, now) -> ScheduledEvent:
    publish_now = event_at - horizon() <= now
    event = ScheduledEvent.objects.create(
        election=election, kind=kind, event_at=event_at, scheduled_by=actor,
        # Due now: this transaction publishes it on commit, so it claims the row as
        # the planner does; else a tick between commit and publish would send it twice.
        # Should this process die before publishing, the planner sends it when the claim ends.
        next_dispatch_at=now + redispatch_after() if publish_now else event_at - horizon(),
    )
    record(Action.EVENT_SCHEDULED, election, actor=actor, **_event_metadata(event))
    if publish_now:
        transaction.on_commit(lambda: publish([event]))
    return event


def _close(events: list[ScheduledEvent], state: str, reason: str, actor, now,
           titles: dict[int, str] | None = None) -> None:
    """Move pending events to a final state, log one ``event_revoked`` each, revoke on commit."""
    if not events:
        return
    ScheduledEvent.objects.filter(pk__in=[e.pk for e in events]).update(
        state=state, reason=reason, finished_at=now
    )
    titles = titles or {}
    record_many(
        Entry(Action.EVENT_REVOKED,
              _Ref(e.election_id, titles.get(e.election_id) or e.election.title),
              actor, None, _event_metadata(e, state=state, reason=reason))
        for e in events
    )
    task_ids = [e.task_id for e in events]
    transaction.on_commit(lambda: revoke(task_ids))


@dataclass(frozen=True)
class _Ref:
    pk: int
    title: str


def cancel_moot_events(changes, *, actor, reason: str, now=None) -> None:
    """Cancel the pending events that the given status changes made pointless."""
    by_status: dict[str, list] = {}
    for change in changes:
        if change.to_status in MOOT_AFTER:
            by_status.setdefault(change.to_status, []).append(change)
    for to_status, group in by_status.items():
        titles = {c.election_id: c.title for c in group}
        moot = list(
            ScheduledEvent.objects.select_for_update()
            .filter(election_id__in=list(titles), state=State.PENDING, kind__in=MOOT_AFTER[to_status])
            .order_by("pk")
        )
        _close(moot, State.CANCELLED, reason, actor, now or timezone.now(), titles)


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
        cancel_moot_events(changes, actor=actor, reason=f"election {TRANSITIONS[action][1]} by hand")
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
        _close(pending, State.CANCELLED, "election deleted", actor, timezone.now(), titles)
        record_many(Entry(Action.ELECTION_DELETED, e, actor, None, {"root": election.pk})
                    for e in elections)
        election.delete()


# --- executing ------------------------------------------------------------------------

def execute_event(event_id: int, task_id: str) -> str:
    """Carry out the event if, and only if, it is pending and ``task_id`` is its current one.

    Returns what happened: ``done``, ``skipped``, ``early`` (re-published for its
    time), ``discarded`` (stale delivery, logged) or ``missing``. The election and
    all descendants that allow it change status in one transaction with their log rows.
    """
    with transaction.atomic():
        # Election first, then the event (the lock order of every writer), in two statements.
        election_id = ScheduledEvent.objects.filter(pk=event_id).values("election_id")
        election = Election.objects.select_for_update().filter(pk=Subquery(election_id)).first()
        event = ScheduledEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            logger.warning("fire_event %s: no scheduled event %s; nothing to do", task_id, event_id)
            return "missing"
        ref = election or _Ref(event.election_id, "(deleted election)")
        if event.state != State.PENDING or event.task_id != task_id:
            reason = (f"the event is {event.state}, not pending" if event.state != State.PENDING
                      else f"task {task_id} is not the event's current task {event.task_id}")
            record(Action.TASK_DISCARDED, ref, **_event_metadata(event, task_id=task_id,
                   current_task_id=event.task_id, state=event.state, reason=reason))
            return "discarded"
        now = timezone.now()
        if event.event_at > now:
            transaction.on_commit(lambda: publish([event]))
            return "early"
        action = KIND_ACTION[event.kind]
        lateness = now - event.event_at
        if not election.allows(action):
            reason = (f"{action} is not allowed: the election is {election.status} "
                      f"(needs {' or '.join(sorted(TRANSITIONS[action][0]))})")
            _finish(event, State.SKIPPED, now, lateness, reason)
            record(Action.EVENT_SKIPPED, election, on_behalf_of=event.scheduled_by,
                   **_event_metadata(event, reason=reason, lateness_seconds=lateness.total_seconds()))
            return "skipped"
        changes = election_services.apply_transition(
            election, action, on_behalf_of=event.scheduled_by,
            metadata={"source": "scheduled_event", "kind": event.kind, "task_id": event.task_id},
        )
        faults.pause_in_transition()  # test-only, inert unless its env var is set
        now = timezone.now()
        lateness = now - event.event_at
        _finish(event, State.DONE, now, lateness, "")
        record(Action.EVENT_EXECUTED, election, on_behalf_of=event.scheduled_by,
               **_event_metadata(event, lateness_seconds=lateness.total_seconds(),
                                 elections_changed=len(changes)))
        cancel_moot_events(changes, actor=None,
                           reason=f"election {TRANSITIONS[action][1]} by {event.kind} {event.task_id}",
                           now=now)
        return "done"


def _finish(event: ScheduledEvent, state: str, now, lateness, reason: str) -> None:
    event.state, event.reason, event.finished_at = state, reason, now
    event.executed_at, event.lateness = (now, lateness) if state == State.DONE else (None, lateness)
    event.save(update_fields=["state", "reason", "finished_at", "executed_at", "lateness"])


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
        _finish(event, State.FAILED, timezone.now(), None, summary)
        record(Action.EVENT_FAILED, election or _Ref(peek, "(deleted election)"),
               on_behalf_of=event.scheduled_by, **_event_metadata(event, error=summary))


# --- delivery ----------------------------------------------------------------------------

PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def publish(events: list[ScheduledEvent]) -> int:
    """Send each event's task with its ETA; returns how many were sent.

    A failure is logged and leaves ``next_dispatch_at`` due, so the planner tries
    again on its next tick. Never raises: it runs after commit.
    """
    from .tasks import fire_event

    sent: list[ScheduledEvent] = []
    for event in events:
        try:
            fire_event.apply_async(
                (event.pk,), task_id=event.task_id, eta=event.event_at,
                retry=True, retry_policy=PUBLISH_RETRY_POLICY,
            )
        except Exception:
            logger.exception("could not publish %s (task %s); the planner will retry",
                             event, event.task_id)
            ScheduledEvent.objects.filter(pk=event.pk, state=State.PENDING).update(
                next_dispatch_at=timezone.now()
            )
            continue
        sent.append(event)
    _mark_published(sent)
    return len(sent)


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
