"""Writes to elections: creating trees, changing statuses, granting access."""

from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from activity_log.models import Action
from activity_log.services import Entry, record, record_bulk

from .errors import TransitionNotAllowed
from .models import TRANSITIONS, Election, ElectionGrant, Permission


@dataclass(frozen=True)
class StatusChange:
    election_id: int
    title: str
    from_status: str
    to_status: str


def create_election(*, title: str, description: str = "", parent: Election | None = None,
                    created_by=None) -> Election:
    """Create one election and log it. The creator of a top-level election gets ``edit`` on it."""
    election = Election.objects.create(
        title=title, description=description, parent=parent, created_by=created_by
    )
    if created_by is not None and parent is None:
        ElectionGrant.objects.get_or_create(
            user=created_by, election=election, defaults={"permission": Permission.EDIT}
        )
    record(Action.ELECTION_CREATED, election, actor=created_by,
           parent=parent.pk if parent else None)
    return election


def grant(user, election: Election, permission: str) -> ElectionGrant:
    """Give ``user`` exactly ``permission`` on ``election`` and its descendants."""
    obj, _ = ElectionGrant.objects.update_or_create(
        user=user, election=election, defaults={"permission": permission}
    )
    return obj


def lock(election_id: int) -> Election:
    """Lock and return the election row; every writer locks the election before its events."""
    return Election.objects.select_for_update().get(pk=election_id)


def apply_transition(election: Election, action: str, *, actor=None, on_behalf_of=None,
                     metadata: dict | None = None) -> list[StatusChange]:
    """Apply ``action`` to the election and every descendant whose status allows it.

    Runs in the caller's transaction, with the root election already locked.
    Raises ``TransitionNotAllowed`` (changing nothing) when the root's own status
    does not allow it. Locks the tree in id order, updates the allowed rows in one
    statement and writes one ``status_changed`` row per election changed.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("apply_transition must run inside transaction.atomic()")
    allowed_from, to_status = TRANSITIONS[action]
    if election.status not in allowed_from:
        raise TransitionNotAllowed(
            f"Cannot {action} election #{election.pk}: its status is {election.status}; "
            f"{action} needs {' or '.join(sorted(allowed_from))}."
        )
    rows = _lock_tree(election.pk)
    changes = [StatusChange(pk, title, status, to_status)
               for pk, title, status in rows if status in allowed_from]
    now = timezone.now()
    Election.objects.filter(pk__in=[c.election_id for c in changes]).update(
        status=to_status, updated_at=now
    )
    election.status, election.updated_at = to_status, now
    extra = metadata or {}
    record_bulk(
        Entry(Action.STATUS_CHANGED, _Ref(c.election_id, c.title), actor, on_behalf_of,
              {"from": c.from_status, "to": c.to_status, "action": action, **extra})
        for c in changes
    )
    return changes


def _lock_tree(root_id: int) -> list[tuple[int, str, str]]:
    """Lock the election and all its descendants in id order, in one statement; (pk, title, status)."""
    table = connection.ops.quote_name(Election._meta.db_table)
    lock = " FOR UPDATE OF x" if connection.features.has_select_for_update else ""
    sql = f"""
        WITH RECURSIVE tree(id) AS (
            SELECT id FROM {table} WHERE id = %s
            UNION ALL
            SELECT e.id FROM {table} e JOIN tree t ON e.parent_id = t.id
        )
        SELECT x.id, x.title, x.status FROM {table} x WHERE x.id IN (SELECT id FROM tree)
        ORDER BY x.id{lock}
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [root_id])
        return cursor.fetchall()


@dataclass(frozen=True)
class _Ref:
    """Just enough of an election for the activity log."""

    pk: int
    title: str
