"""Reads of scheduled events."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import BooleanField, Case, Q, QuerySet, Value, When

from elections.selectors import viewable_elections

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


#: The Upcoming page's windows: how far ahead pending work is listed (None: all of it).
UPCOMING_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "all": None}
#: How long a failed or skipped row stays on top of the Upcoming page.
ATTENTION_FOR = timedelta(days=7)


def upcoming_for(user, *, within: timedelta | None, now: datetime) -> QuerySet[ScheduledEvent]:
    """Voting events and automation runs of the elections ``user`` may view (runs of no election,
    the global ones, for superusers only), with ``needs_attention`` set, in one query:

    first what needs attention, oldest first: pending and past its time (late), or failed or
    skipped in the last ``ATTENTION_FOR``; then what is pending within ``within`` of ``now``
    (all of it when None), soonest first.
    """
    late = Q(state=State.PENDING, event_at__lt=now)
    went_wrong = Q(state__in=[State.FAILED, State.SKIPPED], finished_at__gte=now - ATTENTION_FOR)
    coming = Q(state=State.PENDING, event_at__gte=now)
    if within is not None:
        coming &= Q(event_at__lte=now + within)
    rows = ScheduledEvent.objects.filter(late | went_wrong | coming)
    if not (user and user.is_authenticated and user.is_active):
        return rows.none()
    if not user.is_superuser:
        rows = rows.filter(election_id__in=viewable_elections(user).values("pk"))
    attention = Case(When(late | went_wrong, then=Value(True)), default=Value(False),
                     output_field=BooleanField())
    return (rows.annotate(needs_attention=attention)
            .select_related("election")
            .only("election__id", "election__title", "kind", "event_at", "task_id", "state", "reason",
                  "finished_at", "enabled", "payload", "automation_id", "election_id")
            .order_by("-needs_attention", "event_at", "pk"))
