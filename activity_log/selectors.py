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
