"""Writes to elections: creating trees, changing statuses, granting access."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from activity_log.models import Action
from activity_log.services import (
    ElectionRef,
    Entry,
    GrantRef,
    record,
    record_bulk,
    record_election_edit,
    record_grant_change,
    record_many,
)
from config.sql import id_in

from .errors import InvalidInput, TransitionNotAllowed
from .models import TRANSITIONS, Election, ElectionGrant, ElectionGroupGrant, Permission, time_zone_names
from .selectors import ancestor_paths
from .signals import statuses_changed

#: The most levels an election tree may have, the root being level 1 (docs/architecture.md).
MAX_TREE_DEPTH = 32


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


def check_tree_depth(parent: Election | None, levels: int) -> None:
    """Raise InvalidInput (naming ``parent`` or ``children``) unless a tree ``levels`` deep fits
    under ``parent`` (or as a new tree) within MAX_TREE_DEPTH levels."""
    parent_level = len(ancestor_paths([parent.pk]).get(parent.pk, [])) if parent is not None else 0
    if parent is not None and parent_level >= MAX_TREE_DEPTH:
        raise InvalidInput({"parent": [
            f"Election #{parent.pk} is at level {parent_level} of its tree; a tree may be at most "
            f"{MAX_TREE_DEPTH} levels deep, so it can have no children. Choose a parent higher up."
        ]})
    if parent_level + levels > MAX_TREE_DEPTH:
        where = f"under election #{parent.pk} (level {parent_level}) " if parent is not None else ""
        raise InvalidInput({"children": [
            f"Nested {levels} levels deep {where}but a tree may be at most {MAX_TREE_DEPTH} levels "
            "deep; nest less and attach the rest under a higher election."
        ]})


def delete_trees(ids: list[int]) -> None:
    """Delete these elections, whole trees (every descendant of one is in ``ids``), with what
    cascades from them. Without recursion: the parent links are cut first, so Django's
    collector does not descend the tree one level (and several stack frames) at a time."""
    Election.objects.filter(id_in("pk", ids)).update(parent=None)
    Election.objects.filter(id_in("pk", ids)).delete()
def set_time_zone(election: Election, time_zone) -> Election:
    """Set the zone the election's emails and pages show times in. Raises ``InvalidInput`` for an
    unknown IANA name, and changes nothing."""
    if not isinstance(time_zone, str) or time_zone not in time_zone_names():
        raise InvalidInput({"time_zone": [f"Unknown time zone {str(time_zone)[:64]!r}; use an IANA name "
                                          "such as Europe/Paris."]})
    Election.objects.filter(pk=election.pk).update(time_zone=time_zone, updated_at=timezone.now())
    election.time_zone = time_zone
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


@dataclass
class Transition:
    """One action applied to a locked tree, decided in memory and written by ``save_transitions``."""

    action: str
    changes: list[StatusChange]
    actor: Any = None
    on_behalf_of: Any = None
    metadata: dict = field(default_factory=dict)


class LockedTrees:
    """Elections this transaction has locked, whole trees, with their statuses as changed so far."""

    def __init__(self, rows: list[tuple[int, str, str, int | None]]):
        self._title = {pk: title for pk, title, _, _ in rows}
        self._status = {pk: status for pk, _, status, _ in rows}
        self._children: dict[int, list[int]] = {}
        for pk, _, _, parent_id in rows:
            if parent_id in self._title:
                self._children.setdefault(parent_id, []).append(pk)

    def __contains__(self, pk: int) -> bool:
        return pk in self._status

    def title(self, pk: int) -> str:
        return self._title[pk]

    def status(self, pk: int) -> str:
        return self._status[pk]

    def statuses(self) -> dict[int, str]:
        """A copy of every status as changed so far (to ``restore`` when a change is undone)."""
        return dict(self._status)

    def restore(self, statuses: dict[int, str]) -> None:
        self._status = dict(statuses)

    def subtree(self, root_id: int) -> list[int]:
        """The election's id and those of all its descendants, in id order."""
        ids, stack = [], [root_id]
        while stack:
            pk = stack.pop()
            ids.append(pk)
            stack.extend(self._children.get(pk, ()))
        return sorted(ids)

    def transition(self, root_id: int, action: str, *, actor=None, on_behalf_of=None,
                   metadata: dict | None = None) -> Transition:
        """Apply ``action`` in memory to the election and every descendant whose status allows it.

        Raises ``TransitionNotAllowed`` (changing nothing) when the election's own
        status does not allow it. Nothing is written until ``save_transitions``.
        """
        allowed_from, to_status = TRANSITIONS[action]
        if self._status[root_id] not in allowed_from:
            raise TransitionNotAllowed(
                f"Cannot {action} election #{root_id}: its status is {self._status[root_id]}; "
                f"{action} needs {' or '.join(sorted(allowed_from))}."
            )
        changes = []
        for pk in self.subtree(root_id):
            if self._status[pk] in allowed_from:
                changes.append(StatusChange(pk, self._title[pk], self._status[pk], to_status))
                self._status[pk] = to_status
        return Transition(action, changes, actor, on_behalf_of, metadata or {})


def lock_trees(root_ids: Iterable[int] | QuerySet) -> LockedTrees:
    """Lock the given elections and all their descendants in id order, in one statement.

    ``root_ids`` is a list of ids or a queryset of one id column (so a caller can
    name its roots without a round trip of its own). Runs in the caller's transaction.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_trees must run inside transaction.atomic()")
    if isinstance(root_ids, QuerySet):
        roots_sql, params = root_ids.query.sql_with_params()
    else:
        params = list(root_ids) or [None]
        roots_sql = ", ".join(["%s"] * len(params))
    table = connection.ops.quote_name(Election._meta.db_table)
    lock = " FOR UPDATE OF x" if connection.features.has_select_for_update else ""
    sql = f"""
        WITH RECURSIVE tree(id) AS (
            SELECT id FROM {table} WHERE id IN ({roots_sql})
            UNION ALL
            SELECT e.id FROM {table} e JOIN tree t ON e.parent_id = t.id
        )
        SELECT x.id, x.title, x.status, x.parent_id FROM {table} x WHERE x.id IN (SELECT id FROM tree)
        ORDER BY x.id{lock}
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return LockedTrees(cursor.fetchall())


def save_transitions(transitions: list[Transition], *, also_record: Iterable[Entry] = ()) -> datetime:
    """Write transitions decided on locked trees and return the time written as ``updated_at``.

    One UPDATE per resulting status, and one ``status_changed`` row per change,
    inserted together with ``also_record`` in one statement.
    """
    final: dict[int, str] = {}
    for transition in transitions:
        for change in transition.changes:
            final[change.election_id] = change.to_status
    by_status: dict[str, list[int]] = {}
    for pk, status in final.items():
        by_status.setdefault(status, []).append(pk)
    now = timezone.now()
    for status, pks in by_status.items():
        Election.objects.filter(id_in("pk", pks)).update(status=status, updated_at=now)
    metadata: dict[tuple[int, str], dict] = {}  # one dict per transition and status: encoded once
    record_bulk([
        *(Entry(Action.STATUS_CHANGED, ElectionRef(c.election_id, c.title), t.actor, t.on_behalf_of,
                metadata.get((i, c.from_status)) or metadata.setdefault((i, c.from_status), {
                    "from": c.from_status, "to": c.to_status, "action": t.action, **t.metadata}))
          for i, t in enumerate(transitions) for c in t.changes),
        *also_record,
    ])
    if statuses_changed.has_listeners(Election):
        by_cause: dict[str, list[StatusChange]] = {}
        for transition in transitions:
            by_cause.setdefault(transition.metadata.get("source") or "manual", []).extend(transition.changes)
        for cause, changes in by_cause.items():
            if changes:
                statuses_changed.send(sender=Election, changes=changes, cause=cause)
    return now


def apply_transition(election: Election, action: str, *, actor=None, on_behalf_of=None,
                     metadata: dict | None = None) -> list[StatusChange]:
    """Apply ``action`` to the election and every descendant whose status allows it, and write it.

    Runs in the caller's transaction. Raises ``TransitionNotAllowed`` (changing
    nothing) when the election's own status does not allow it.
    """
    trees = lock_trees([election.pk])
    transition = trees.transition(election.pk, action, actor=actor, on_behalf_of=on_behalf_of,
                                  metadata=metadata)
    election.updated_at = save_transitions([transition])
    election.status = trees.status(election.pk)
    return transition.changes



# --- editing an election and its grants (the election's settings page) ---------------------------

def update_election(election: Election, *, title: str, description: str, actor) -> list[str]:
    """Set the election's title and description; returns the fields that changed ([] when none).

    Raises InvalidInput naming the field (empty or too long a title, a NUL or lone surrogate)
    and changes nothing. A change is logged as ``election_edited`` with each field's from/to.
    """
    from config.input import text_problem

    title, description = (title or "").strip(), description or ""
    errors: dict = {}
    if not title:
        errors["title"] = ["Required: give the election a title."]
    elif len(title) > 200:
        errors["title"] = [f"Is {len(title)} characters long; use at most 200."]
    for name, value in (("title", title), ("description", description)):
        problem = text_problem(value)
        if problem:
            errors[name] = [problem]
    if errors:
        raise InvalidInput(errors)
    with transaction.atomic():
        locked = lock(election.pk)
        changed = {name: [getattr(locked, name), value]
                   for name, value in (("title", title), ("description", description))
                   if getattr(locked, name) != value}
        if changed:
            for name, (_, value) in changed.items():
                setattr(locked, name, value)
            locked.save(update_fields=[*changed, "updated_at"])
            record_election_edit(locked, actor=actor,
                                 before={name: old for name, (old, _) in changed.items()},
                                 after={name: new for name, (_, new) in changed.items()})
    election.title, election.description = locked.title, locked.description
    election.updated_at = locked.updated_at
    return list(changed)


def set_grant(election: Election, user, permission: str | None, *, actor) -> bool:
    """Give ``user`` exactly ``permission`` on ``election`` (None: remove the grant); True when
    something changed. Logged as ``grant_added``, ``grant_changed`` or ``grant_removed``
    (``user``, ``from``/``to``; None for no grant).

    A top-level election keeps at least one active user with ``edit``: lowering or removing the
    last such grant raises InvalidInput (``permission``), unless ``actor`` is a superuser. The
    election row is locked first, so two editors removing each other at once cannot both win.
    """
    if permission is not None and permission not in Permission.values:
        raise InvalidInput({"permission": [
            f"Use one of {', '.join(Permission.values)}, or remove the grant."]})
    with transaction.atomic():
        locked = lock(election.pk)
        current = ElectionGrant.objects.filter(election=locked, user=user).first()
        before = current.permission if current else None
        if before == permission:
            return False
        if (before == Permission.EDIT and locked.parent_id is None
                and not getattr(actor, "is_superuser", False)
                and not ElectionGrant.objects.filter(election=locked, permission=Permission.EDIT,
                                                     user__is_active=True).exclude(user=user).exists()):
            raise InvalidInput({"permission": [
                f"{user.username} holds the last edit grant on this top-level election; without it no one "
                "could edit or manage it. Give edit to someone else first (or ask a superuser)."
            ]})
        if permission is None:
            current.delete()
        else:
            grant(user, locked, permission)
        record_grant_change(actor=actor,
                            before=GrantRef(locked, user, before) if before else None,
                            after=GrantRef(locked, user, permission) if permission else None)
    return True


def set_group_grant(election: Election, group, permission: str | None, *, actor) -> bool:
    """Give every member of ``group`` exactly ``permission`` on ``election`` (None: remove the
    group's grant); True when something changed. Logged like a user's grant (``grant_added``,
    ``grant_changed``, ``grant_removed``, ``from``/``to``), with ``group`` and ``group_id`` in the
    metadata and ``user`` reading "group <name>" so the log's sentence names it. Group grants do
    not count for the last-edit-grant rule of ``set_grant``: a group may be emptied at any time."""
    if permission is not None and permission not in Permission.values:
        raise InvalidInput({"permission": [
            f"Use one of {', '.join(Permission.values)}, or remove the grant."]})
    with transaction.atomic():
        locked = lock(election.pk)
        current = ElectionGroupGrant.objects.filter(election=locked, group=group).first()
        before = current.permission if current else None
        if before == permission:
            return False
        if permission is None:
            current.delete()
            action = Action.GRANT_REMOVED
        else:
            ElectionGroupGrant.objects.update_or_create(election=locked, group=group,
                                                        defaults={"permission": permission})
            action = Action.GRANT_ADDED if before is None else Action.GRANT_CHANGED
        record_many([Entry(action, locked, actor, None, {
            "user": f"group {group.name}", "group": group.name, "group_id": group.pk,
            "from": before, "to": permission})])
    return True
