"""Reads of scheduled events."""

from collections.abc import Iterable

from django.db.models import QuerySet

from .models import Kind, ScheduledEvent, State


def history_for(election_id: int) -> QuerySet[ScheduledEvent]:
    """Every voting event row of the election, newest first, with who scheduled it."""
    return (ScheduledEvent.objects.filter(election_id=election_id, kind__in=Kind.VOTING)
            .select_related("scheduled_by")
            .order_by("-created_at", "-id"))


def next_pending_by_election(election_ids: Iterable[int]) -> dict[int, ScheduledEvent]:
    """For each election that has one, its soonest pending voting event."""
    soonest: dict[int, ScheduledEvent] = {}
    pending = ScheduledEvent.objects.filter(election_id__in=list(election_ids), state=State.PENDING,
                                            kind__in=Kind.VOTING)
    for event in pending.order_by("event_at"):
        soonest.setdefault(event.election_id, event)
    return soonest
