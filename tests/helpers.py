"""Small helpers for tests: times relative to now, and reading back what happened."""

from datetime import timedelta

from django.utils import timezone

from activity_log.models import ActivityEntry
from elections.models import Election
from scheduling.models import ScheduledEvent


def in_seconds(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


def iso(dt) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def status_of(election_id: int) -> str:
    return Election.objects.values_list("status", flat=True).get(pk=election_id)


def actions_of(election_id: int, action: str) -> list[ActivityEntry]:
    return list(ActivityEntry.objects.filter(election_id=election_id, action=action).order_by("id"))


def event(event_id: int) -> ScheduledEvent:
    return ScheduledEvent.objects.get(pk=event_id)
