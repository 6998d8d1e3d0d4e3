"""Reads of the activity log."""

from collections.abc import Iterable

from django.db.models import QuerySet

from .models import ActivityEntry


def entries_for(election_ids: Iterable[int], *, action: str | None = None,
                election_id: int | None = None) -> QuerySet[ActivityEntry]:
    """Rows for the given elections, newest first, optionally narrowed by action and election."""
    election_ids = list(election_ids)
    queryset = ActivityEntry.objects.filter(election_id__in=election_ids)
    if action:
        queryset = queryset.filter(action=action)
    if election_id is not None:
        queryset = queryset.filter(election_id=election_id)
    return queryset.order_by("-created_at", "-id")
