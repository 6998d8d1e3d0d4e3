"""Planning: the periodic tick that publishes pending events as they come within the horizon."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from activity_log.models import Action
from activity_log.services import ElectionRef, Entry, record_many

from . import dispatching
from .dispatching import redispatch_after
from .models import PlannerHeartbeat, ScheduledEvent, State, event_metadata

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
            Entry(Action.EVENT_DISPATCHED, _ref(e), None, e.scheduled_by, event_metadata(
                e, attempt=e.dispatch_count + 1,
                reason=f"still pending {(now - e.event_at).total_seconds():.1f} s after its time"
                       if e.event_at < now else "re-published"))
            for e in redispatched
        )
    sent = dispatching.publish(due) if due else 0
    PlannerHeartbeat.objects.update_or_create(pk=1, defaults={"last_tick_at": now, "published": sent})
    return sent


def _ref(event: ScheduledEvent) -> ElectionRef:
    """The election a re-publish is logged on: ``(global)`` (id 0) for a run without one."""
    if event.election_id is None:
        return ElectionRef(0, "(global)")
    return ElectionRef(event.election_id, event.election.title if event.election else "(deleted election)")
