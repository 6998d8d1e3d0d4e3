"""Reads of the activity log."""

from django.db.models import QuerySet

from .models import ActivityEntry


def entries_for(election: int, *, action: str | None = None,
                election_id: int | None = None) -> QuerySet[ActivityEntry]:
    """Rows of the election and of everything that is or ever was below it (deleted
    children included: each row keeps its tree path), newest first, optionally
    narrowed by action and by one election of the tree."""
    path = (ActivityEntry.objects.filter(election_id=election).exclude(tree_path="")
            .values_list("tree_path", flat=True).first())
    if path:
        queryset = ActivityEntry.objects.filter(root_id=int(path.split("/")[1]),
                                                tree_path__startswith=path)
    else:
        queryset = ActivityEntry.objects.filter(election_id=election)
    if action:
        queryset = queryset.filter(action=action)
    if election_id is not None:
        queryset = queryset.filter(election_id=election_id)
    return queryset.order_by("-created_at", "-id")


#: The metadata keys that hold a task id (the event's, the message's, the one a stale task was not).
TASK_ID_KEYS = ("task_id", "batch_task_id", "current_task_id")


def narrowed(queryset: QuerySet[ActivityEntry], *, since=None, until=None,
             task_id: str = "") -> QuerySet[ActivityEntry]:
    """``queryset`` limited to rows at or after ``since`` and before ``until`` (datetimes, either
    may be None) and, with ``task_id``, to rows naming it (or ids starting with it) in any of
    TASK_ID_KEYS."""
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    if task_id:
        from django.db.models import Q  # here, not at the top: keeps this addition apart from other edits

        match = Q()
        for key in TASK_ID_KEYS:
            match |= Q(**{f"metadata__{key}__startswith": task_id})
        queryset = queryset.filter(match)
    return queryset
