"""Planning: the periodic tick that publishes pending events as they come within the horizon."""

from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from activity_log.models import Action
from activity_log.services import ElectionRef, Entry, record_many

from . import dispatching
from .dispatching import redispatch_after
from .models import PlannerHeartbeat, ScheduledEvent, State, event_metadata

PLAN_BATCH = 1000


#: Most batches one tick claims and publishes before it returns (``PLAN_BATCH`` rows each).
MAX_BATCHES_PER_TICK = 100


def plan(now: datetime | None = None) -> int:
    """One planner tick: publish the pending events whose ``next_dispatch_at`` has come.

    That is events entering the horizon, and events still pending past their time
    (message lost, worker or broker down), again with backoff. Rows are claimed
    with SKIP LOCKED, so planners running at once never publish the same event
    twice in one round. Claims ``PLAN_BATCH`` rows per transaction and goes on while
    batches come back full (up to ``MAX_BATCHES_PER_TICK``), so 10,000 events due at
    one instant are all published in one tick rather than 1,000 per tick. Returns how
    many were published.
    """
    now = now or timezone.now()
    sent = 0
    for _ in range(MAX_BATCHES_PER_TICK):
        claimed, published = _plan_batch(now)
        sent += published
        if claimed < PLAN_BATCH:
            break
    # One UPDATE (one round trip, autocommit); the row is created by the first tick only.
    if not PlannerHeartbeat.objects.filter(pk=1).update(last_tick_at=now, published=sent):
        PlannerHeartbeat.objects.update_or_create(pk=1, defaults={"last_tick_at": now, "published": sent})
    return sent


def due_events(now: datetime) -> QuerySet:
    """The tick's query: up to ``PLAN_BATCH`` pending events due for publishing, claimed
    with SKIP LOCKED (an index scan of ``pending_by_next_dispatch``, whatever the table holds)."""
    return (ScheduledEvent.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("election")
            .filter(state=State.PENDING, next_dispatch_at__lte=now)
            .order_by("next_dispatch_at")[:PLAN_BATCH])


def _plan_batch(now: datetime) -> tuple[int, int]:
    """Claim up to ``PLAN_BATCH`` due events in one transaction, then publish them.

    Returns (claimed, published).
    """
    with transaction.atomic():
        due = list(due_events(now))
        if due:
            # Claim: a concurrent planner will not see these as due.
            ScheduledEvent.objects.filter(pk__in=[e.pk for e in due]).update(
                next_dispatch_at=now + redispatch_after()
            )
        redispatched = [e for e in due if e.dispatch_count > 0]
        record_many(
            Entry(Action.EVENT_DISPATCHED, _ref(e), None, e.scheduled_by, event_metadata(
                e, attempt=e.dispatch_count + 1,
                reason=f"still pending {(now - e.event_at).total_seconds():.1f} s after its time"
                       if e.event_at < now else "re-published"))
            for e in redispatched
        )
    return len(due), dispatching.publish(due) if due else 0


def _ref(event: ScheduledEvent) -> ElectionRef:
    """The election a re-publish is logged on: ``(global)`` (id 0) for a run without one."""
    if event.election_id is None:
        return ElectionRef(0, "(global)")
    return ElectionRef(event.election_id, event.election.title if event.election else "(deleted election)")
