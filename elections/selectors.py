"""Reads: the election tree and who may see or act on what."""

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import QuerySet

from config.sql import id_in

from .models import PERMISSION_RANK, Election, ElectionGrant, ElectionGroupGrant, Permission


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


def ancestor_paths(election_ids: Iterable[int]) -> dict[int, list[int]]:
    """Each existing election's id followed by its ancestors' ids up to the root, in one query."""
    ids = sorted(set(election_ids))
    if not ids:
        return {}
    placeholders = ", ".join(["%s"] * len(ids))
    sql = f"""
        WITH RECURSIVE up(start_id, id, parent_id, depth) AS (
            SELECT id, id, parent_id, 0 FROM {_table()} WHERE id IN ({placeholders})
            UNION ALL
            SELECT up.start_id, e.id, e.parent_id, up.depth + 1
            FROM {_table()} e JOIN up ON e.id = up.parent_id
        )
        SELECT start_id, id FROM up ORDER BY start_id, depth
    """
    paths: dict[int, list[int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, ids)
        for start_id, pk in cursor.fetchall():
            paths.setdefault(start_id, []).append(pk)
    return paths


def parents_of(election_ids: set[int]) -> dict[int, int | None]:
    """``{id: parent id or None}`` for the existing elections among the ids, in one query."""
    return dict(Election.objects.filter(id_in("pk", election_ids)).values_list("pk", "parent_id"))


def tree_ids(election: Election) -> list[int]:
    """The election's id followed by all its descendants' ids."""
    return [election.pk, *descendant_ids([election.pk])]


def _granted_rank_sql(user, election_id: int) -> tuple[str, list]:
    """SQL for the highest grant rank ``user`` holds on the election or an ancestor, directly or
    through one of their groups (0 for none), one row and column, and its parameters."""
    if not user or not user.is_authenticated or not user.is_active:
        return "SELECT 0", []
    if user.is_superuser:
        return f"SELECT {max(PERMISSION_RANK.values())}", []
    rank = " ".join(f"WHEN '{perm}' THEN {rank}" for perm, rank in PERMISSION_RANK.items())
    sql = f"""
        WITH RECURSIVE up(id, parent_id) AS (
            SELECT id, parent_id FROM {_table()} WHERE id = %s
            UNION ALL
            SELECT e.id, e.parent_id FROM {_table()} e JOIN up ON e.id = up.parent_id
        )
        SELECT COALESCE(MAX(CASE g.permission {rank} END), 0)
        FROM ({_grants_of_user_sql()}) g JOIN up ON g.election_id = up.id
    """
    return sql, [election_id, user.pk, user.pk]


def _grants_of_user_sql() -> str:
    """SQL of (election_id, permission) for every grant a user holds, their own and their groups';
    two parameters: the user's id, twice."""
    q = connection.ops.quote_name
    membership = get_user_model().groups.through._meta.db_table
    return f"""
        SELECT election_id, permission FROM {q(ElectionGrant._meta.db_table)} WHERE user_id = %s
        UNION ALL
        SELECT gg.election_id, gg.permission FROM {q(ElectionGroupGrant._meta.db_table)} gg
        JOIN {q(membership)} m ON m.group_id = gg.group_id WHERE m.user_id = %s
    """


def granted_ranks(election_ids: Iterable[int], user_ids: Iterable[int]) -> dict[tuple[int, int], int]:
    """``(election id, user id) -> highest grant rank`` each user holds on each election or an
    ancestor, their own or a group's (superusers not special-cased; pairs without a grant left
    out), in one query."""
    elections, users = sorted(set(election_ids)), sorted(set(user_ids))
    if not elections or not users:
        return {}
    q = connection.ops.quote_name
    table = q(Election._meta.db_table)
    membership = q(get_user_model().groups.through._meta.db_table)
    rank = " ".join(f"WHEN '{perm}' THEN {value}" for perm, value in PERMISSION_RANK.items())
    marks = ", ".join(["%s"] * len(users))
    sql = f"""
        WITH RECURSIVE up(start_id, id, parent_id) AS (
            SELECT id, id, parent_id FROM {table} WHERE id IN ({", ".join(["%s"] * len(elections))})
            UNION ALL
            SELECT up.start_id, e.id, e.parent_id FROM {table} e JOIN up ON e.id = up.parent_id
        ), held(user_id, election_id, permission) AS (
            SELECT user_id, election_id, permission FROM {q(ElectionGrant._meta.db_table)}
            WHERE user_id IN ({marks})
            UNION ALL
            SELECT m.user_id, gg.election_id, gg.permission FROM {q(ElectionGroupGrant._meta.db_table)} gg
            JOIN {membership} m ON m.group_id = gg.group_id WHERE m.user_id IN ({marks})
        )
        SELECT up.start_id, h.user_id, MAX(CASE h.permission {rank} END)
        FROM up JOIN held h ON h.election_id = up.id
        GROUP BY up.start_id, h.user_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*elections, *users, *users])
        return {(election_id, user_id): value for election_id, user_id, value in cursor.fetchall()}


def granted_election_ids(user, permission: str | None = None) -> list[int]:
    """The elections on which ``user`` holds a grant (of ``permission`` or any), their own or a
    group's, in one query; their descendants are covered too."""
    sql = f"SELECT DISTINCT g.election_id FROM ({_grants_of_user_sql()}) g"
    params = [user.pk, user.pk]
    if permission is not None:
        sql += " WHERE g.permission = %s"
        params.append(permission)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def granted_rank(user, election_id: int) -> int:
    """The highest grant rank ``user`` holds on the election or an ancestor; 0 for none."""
    sql, params = _granted_rank_sql(user, election_id)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0] or 0


def election_with_rank(user, election_id: int) -> Election | None:
    """The election with ``granted_rank`` set for ``user``, in one query; None if there is none.

    Plain SQL rather than a queryset: every API request and page runs it, and the
    queryset cost 1.5 M instructions against 0.6 M for the SQL (docs/benchmarks.md).
    """
    rank_sql, params = _granted_rank_sql(user, election_id)
    found = Election.objects.raw(
        f"SELECT e.*, ({rank_sql}) AS granted_rank FROM {_table()} e WHERE e.id = %s",
        [*params, election_id],
    )
    return next(iter(found), None)


def user_can(user, election: Election, permission: str) -> bool:
    """Whether ``user`` holds ``permission`` on ``election``, directly or through an ancestor."""
    return granted_rank(user, election.pk) >= PERMISSION_RANK[permission]


def permissions_of(user, election: Election) -> set[str]:
    """Every permission ``user`` holds on ``election`` (for showing only allowed actions)."""
    rank = granted_rank(user, election.pk)
    return {perm for perm, needed in PERMISSION_RANK.items() if rank >= needed}


def viewable_elections(user) -> QuerySet[Election]:
    """The elections ``user`` may view, oldest first."""
    if not user or not user.is_authenticated:
        return Election.objects.none()
    if user.is_superuser:
        return Election.objects.all()
    granted = granted_election_ids(user)
    return Election.objects.filter(pk__in=[*granted, *descendant_ids(granted)])


def viewable_among(user, election_ids: Iterable[int]) -> set[int]:
    """The ids among ``election_ids`` that ``user`` may view (a grant on it or an ancestor).

    For naming other elections on a page (a parent, an ancestor): a grant below an
    election shows nothing of it. Two queries whatever the number of ids.
    """
    ids = set(election_ids)
    if not ids or not user or not user.is_authenticated or not user.is_active:
        return set()
    if user.is_superuser:
        return set(Election.objects.filter(pk__in=ids).values_list("pk", flat=True))
    granted = set(granted_election_ids(user))
    return {pk for pk, path in ancestor_paths(ids).items() if granted.intersection(path)}


def viewable_parent(user, election: Election) -> Election | None:
    """``election``'s parent if ``user`` may view it, else None (what breadcrumbs may name)."""
    if election.parent_id is None or election.parent_id not in viewable_among(user, [election.parent_id]):
        return None
    return election.parent


def tree_of(election: Election) -> list[Election]:
    """The election followed by its descendants (id, title, status, parent), for pickers and pages."""
    ids = tree_ids(election)
    rows = {e.pk: e for e in Election.objects.filter(pk__in=ids).only("id", "title", "status", "parent_id")}
    return [rows[pk] for pk in ids if pk in rows]


def tree_status_counts(election: Election) -> dict[str, int]:
    """How many of the election's descendants (any depth, not itself) are in each status; one query."""
    sql = f"""
        WITH RECURSIVE tree(id) AS (
            SELECT id FROM {_table()} WHERE parent_id = %s
            UNION ALL
            SELECT e.id FROM {_table()} e JOIN tree t ON e.parent_id = t.id
        )
        SELECT x.status, COUNT(*) FROM {_table()} x WHERE x.id IN (SELECT id FROM tree) GROUP BY x.status
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [election.pk])
        return dict(cursor.fetchall())


def editable_elections(user) -> QuerySet[Election]:
    """The elections ``user`` may edit (an ``edit`` grant on it or an ancestor): where an upload may
    attach children."""
    if not user or not user.is_authenticated or not user.is_active:
        return Election.objects.none()
    if user.is_superuser:
        return Election.objects.all()
    granted = granted_election_ids(user, Permission.EDIT)
    return Election.objects.filter(pk__in=[*granted, *descendant_ids(granted)])


def grants_on(election: Election) -> list[ElectionGrant]:
    """The grants given on this election itself (not inherited), by username."""
    return list(ElectionGrant.objects.filter(election=election).select_related("user")
                .order_by("user__username"))


def inherited_grants(election: Election) -> list[ElectionGrant]:
    """The grants on the election's ancestors, which cover it too (nearest ancestor first)."""
    ancestors = ancestor_paths([election.pk]).get(election.pk, [])[1:]
    rank = {pk: index for index, pk in enumerate(ancestors)}
    grants = ElectionGrant.objects.filter(election_id__in=ancestors).select_related("user", "election")
    return sorted(grants, key=lambda g: (rank[g.election_id], g.user.username))


def group_grants_on(election: Election) -> list[ElectionGroupGrant]:
    """The group grants given on this election itself (not inherited), by group name."""
    return list(ElectionGroupGrant.objects.filter(election=election).select_related("group")
                .order_by("group__name"))


def inherited_group_grants(election: Election) -> list[ElectionGroupGrant]:
    """The group grants on the election's ancestors, which cover it too (nearest ancestor first)."""
    ancestors = ancestor_paths([election.pk]).get(election.pk, [])[1:]
    rank = {pk: index for index, pk in enumerate(ancestors)}
    grants = ElectionGroupGrant.objects.filter(election_id__in=ancestors).select_related("group", "election")
    return sorted(grants, key=lambda g: (rank[g.election_id], g.group.name))
