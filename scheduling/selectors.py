"""Reads of scheduled events."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import BooleanField, Case, Count, Q, QuerySet, Value, When

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


#: How long a cancelled, replaced or finished event stays in a calendar feed.
CALENDAR_KEEPS = timedelta(days=30)
#: At most this many events in one feed, soonest first (a superuser of a huge deployment).
CALENDAR_MAX_EVENTS = 5000


def calendar_events(user, *, now: datetime) -> list[ScheduledEvent]:
    """What ``user``'s calendar feed shows, soonest first: the voting events and automation runs
    of the elections ``user`` may view (global runs for superusers only) that are pending, or
    left pending (ran, skipped, failed, replaced or cancelled) in the last ``CALENDAR_KEEPS``.

    For voting events only the row that stands for each (election, kind) is kept, since the
    feed gives them one calendar event each: the pending one, else the newest. Each carries
    ``revision``: how many times that (election, kind) was scheduled or cancelled, which only
    grows, for the feed's ``SEQUENCE``. Two queries.
    """
    if not (user and user.is_authenticated and user.is_active):
        return []
    rows = ScheduledEvent.objects.filter(Q(state=State.PENDING) | Q(finished_at__gte=now - CALENDAR_KEEPS))
    if not user.is_superuser:
        rows = rows.filter(election_id__in=viewable_elections(user).values("pk"))
    rows = list(rows.select_related("election")
                .only("election__id", "election__title", "kind", "event_at", "task_id", "state", "reason",
                      "created_at", "finished_at", "payload", "automation_id", "election_id")
                .order_by("event_at", "pk")[:CALENDAR_MAX_EVENTS])
    voting = [row for row in rows if row.kind in Kind.VOTING]
    revisions = {
        (r["election_id"], r["kind"]): r["scheduled"] + r["cancelled"]
        for r in ScheduledEvent.objects.filter(election_id__in={row.election_id for row in voting},
                                               kind__in=Kind.VOTING)
        .values("election_id", "kind")
        .annotate(scheduled=Count("pk"), cancelled=Count("pk", filter=Q(state=State.CANCELLED)))
    } if voting else {}
    standing: dict[tuple[int, str], ScheduledEvent] = {}
    for row in voting:
        key = (row.election_id, row.kind)
        held = standing.get(key)
        if held is None or (held.state != State.PENDING and (
                row.state == State.PENDING or (row.created_at, row.pk) > (held.created_at, held.pk))):
            standing[key] = row
    shown = []
    for row in rows:
        if row.kind in Kind.VOTING:
            if standing[(row.election_id, row.kind)] is not row:
                continue
            row.revision = revisions.get((row.election_id, row.kind), 1) - 1
        else:  # a run's task id is its identity: it changes once, when the run leaves pending
            row.revision = 0 if row.state == State.PENDING else 1
        shown.append(row)
    return shown
