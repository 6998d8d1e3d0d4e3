"""Reads: the election tree and who may see or act on what."""

from django.db import connection
from django.db.models import QuerySet

from .models import PERMISSION_RANK, Election, ElectionGrant


def _table() -> str:
    return connection.ops.quote_name(Election._meta.db_table)


def descendant_ids(root_ids: list[int]) -> list[int]:
    """Ids of every election below the given ones, at any depth (one recursive query)."""
    if not root_ids:
        return []
    placeholders = ", ".join(["%s"] * len(root_ids))
    sql = f"""
        WITH RECURSIVE tree(id) AS (
            SELECT id FROM {_table()} WHERE parent_id IN ({placeholders})
            UNION ALL
            SELECT e.id FROM {_table()} e JOIN tree t ON e.parent_id = t.id
        )
        SELECT id FROM tree
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, list(root_ids))
        return [row[0] for row in cursor.fetchall()]


def ancestor_ids(election_id: int) -> list[int]:
    """Ids of the election's parent, grandparent and so on (one recursive query)."""
    sql = f"""
        WITH RECURSIVE up(id, parent_id) AS (
            SELECT id, parent_id FROM {_table()} WHERE id = %s
            UNION ALL
            SELECT e.id, e.parent_id FROM {_table()} e JOIN up ON e.id = up.parent_id
        )
        SELECT id FROM up WHERE id <> %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [election_id, election_id])
        return [row[0] for row in cursor.fetchall()]


def tree_ids(election: Election) -> list[int]:
    """The election's id followed by all its descendants' ids."""
    return [election.pk, *descendant_ids([election.pk])]


def user_can(user, election: Election, permission: str) -> bool:
    """Whether ``user`` holds ``permission`` on ``election``, directly or through an ancestor."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    covering = [election.pk, *ancestor_ids(election.pk)]
    needed = PERMISSION_RANK[permission]
    return any(
        PERMISSION_RANK[granted] >= needed
        for granted in ElectionGrant.objects.filter(user=user, election_id__in=covering)
        .values_list("permission", flat=True)
    )


def permissions_of(user, election: Election) -> set[str]:
    """Every permission ``user`` holds on ``election`` (for showing only allowed actions)."""
    return {perm for perm in PERMISSION_RANK if user_can(user, election, perm)}


def viewable_elections(user) -> QuerySet[Election]:
    """The elections ``user`` may view, oldest first."""
    if not user or not user.is_authenticated:
        return Election.objects.none()
    if user.is_superuser:
        return Election.objects.all()
    granted = list(ElectionGrant.objects.filter(user=user).values_list("election_id", flat=True))
    return Election.objects.filter(pk__in=[*granted, *descendant_ids(granted)])


def tree_of(election: Election) -> list[Election]:
    """The election followed by its descendants (id, title, status, parent), for pickers and pages."""
    ids = tree_ids(election)
    rows = {e.pk: e for e in Election.objects.filter(pk__in=ids).only("id", "title", "status", "parent_id")}
    return [rows[pk] for pk in ids if pk in rows]
