"""The one place that writes the activity log.

An append is an INSERT and nothing else: no chain work, no lock on a shared row,
so transactions that log for different elections never wait for each other.
The tamper-evident seal chain is added afterwards, from committed rows, by
``activity_log.sealing`` (a periodic task).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from config.sql import StagedRows

from .models import Action, ActivityEntry


@dataclass(frozen=True)
class ElectionRef:
    """Just enough of an election for a log row, when no model instance is at hand."""

    pk: int
    title: str


@dataclass(frozen=True)
class Entry:
    """What one activity row says; ``election`` is anything with ``pk`` and ``title``."""

    action: Action
    election: Any
    actor: Any = None
    on_behalf_of: Any = None
    metadata: dict = field(default_factory=dict)


# --- tree membership --------------------------------------------------------------

#: ``{election id: its parent's id or None}`` for the existing ones among the ids given.
#: Set by the elections app (``use_tree_paths``); imports point elections -> activity_log.
_parents_of: Callable[[set[int]], dict[int, int | None]] | None = None

#: Deeper than any real tree; stops a walk up a (corrupt) parent cycle.
MAX_DEPTH = 1000


def use_tree_paths(parents_of: Callable[[set[int]], dict[int, int | None]]) -> None:
    """Tell the log how to find an election's parent (called once at start-up)."""
    global _parents_of
    _parents_of = parents_of


def tree_paths(election_ids: Iterable[int]) -> dict[int, str]:
    """``/root/…/parent/id/`` for each election: from the elections app while the election
    exists, else from the election's last row in the log, else ``/id/``.

    One query per tree level, each for the distinct ids of that level (a status change
    of 10,000 children: 10,000 ids, then their one parent).
    """
    ids = set(election_ids)
    parent: dict[int, int | None] = {}
    todo = set(ids)
    for _ in range(MAX_DEPTH):
        if not todo or _parents_of is None:
            break
        found = _parents_of(todo)
        parent.update(found)
        todo = {p for p in found.values() if p is not None and p not in parent}
    paths: dict[int, str] = {}

    def path_of(pk: int) -> str | None:
        chain = []
        while pk not in paths and pk in parent and len(chain) < MAX_DEPTH:
            chain.append(pk)
            pk = parent[pk]
            if pk is None:
                break
        prefix = "/" if pk is None else paths.get(pk)
        if prefix is None:  # an ancestor the elections app does not know (should not happen)
            prefix = f"/{pk}/"
        for node in reversed(chain):
            prefix = paths[node] = f"{prefix}{node}/"
        return paths.get(chain[0]) if chain else paths.get(pk)

    for pk in ids:
        if pk in parent:
            path_of(pk)
    missing = ids - paths.keys()
    if missing:
        for pk, path in (ActivityEntry.objects.filter(election_id__in=missing).exclude(tree_path="")
                         .order_by("election_id", "-id").values_list("election_id", "tree_path")):
            paths.setdefault(pk, path)
    return {pk: paths.get(pk) or f"/{pk}/" for pk in ids}


def root_of(tree_path: str) -> int:
    return int(tree_path.split("/")[1])


# --- edits made in the Django admin ---------------------------------------------------

def record_election_edit(election, *, actor, before: dict, after: dict) -> ActivityEntry | None:
    """Log an edit of the election's fields (``{name: value}`` before and after) with each
    changed field's from/to; nothing when nothing changed."""
    changes = {name: {"from": before.get(name), "to": value}
               for name, value in after.items() if before.get(name) != value}
    if not changes:
        return None
    return record(Action.ELECTION_EDITED, election, actor=actor, changes=changes)


@dataclass(frozen=True)
class GrantRef:
    """A grant as it was or is: ``election`` (pk, title), ``user`` and ``permission``."""

    election: Any
    user: Any
    permission: str


def record_grant_change(*, actor, before: GrantRef | None, after: GrantRef | None) -> list[ActivityEntry]:
    """Log a grant added (``before`` None), removed (``after`` None) or changed, with the
    permission from/to. A grant moved to another user or election is a removal and an
    addition. Nothing when nothing changed."""
    def same(a: GrantRef, b: GrantRef) -> bool:
        return a.election.pk == b.election.pk and a.user.pk == b.user.pk

    def entry(action, grant: GrantRef, from_, to) -> Entry:
        return Entry(action, grant.election, actor, None,
                     {"user": grant.user.username, "user_id": grant.user.pk, "from": from_, "to": to})

    if before and after and same(before, after):
        if before.permission == after.permission:
            return []
        entries = [entry(Action.GRANT_CHANGED, after, before.permission, after.permission)]
    else:
        entries = [*([entry(Action.GRANT_REMOVED, before, before.permission, None)] if before else []),
                   *([entry(Action.GRANT_ADDED, after, None, after.permission)] if after else [])]
    return record_many(entries)


#: Writes the metadata column as the JSONField would (dates as ISO strings).
_JSON = DjangoJSONEncoder()


# --- appending --------------------------------------------------------------------------

def _values(entries: list[Entry], now) -> list[dict]:
    paths = tree_paths({entry.election.pk for entry in entries})
    return [{
        "created_at": now,
        "election_id": entry.election.pk,
        "election_title": entry.election.title[:200],
        "root_id": root_of(paths[entry.election.pk]),
        "tree_path": paths[entry.election.pk],
        "actor_id": getattr(entry.actor, "pk", None),
        "actor_name": getattr(entry.actor, "username", "") or "",
        "on_behalf_of_id": getattr(entry.on_behalf_of, "pk", None),
        "on_behalf_of_name": getattr(entry.on_behalf_of, "username", "") or "",
        "action": str(entry.action),
        "metadata": entry.metadata,
    } for entry in entries]


def record(action: Action, election, *, actor=None, on_behalf_of=None, **metadata) -> ActivityEntry:
    """Append one row and return it. ``actor`` is None when the system acts."""
    return record_many([Entry(action, election, actor, on_behalf_of, metadata)])[0]


def record_many(entries: Iterable[Entry]) -> list[ActivityEntry]:
    """Append many rows in one INSERT, all stamped with the same time."""
    entries = list(entries)
    if not entries:
        return []
    # One INSERT is atomic by itself: in the caller's transaction no savepoint (two round
    # trips) is needed; outside one, this still reads the paths and inserts in one.
    with transaction.atomic(savepoint=False):
        values = _values(entries, timezone.now())
        return ActivityEntry.objects.bulk_create([ActivityEntry(**row) for row in values], batch_size=2000)


#: From this many rows on, ``record_bulk`` on PostgreSQL skips the model instances.
BULK_FROM = 100


def record_bulk(entries: Iterable[Entry]) -> int:
    """Append many rows in one statement, all stamped with the same time; returns how many.

    The same rows as ``record_many``, for large batches (a status change of a whole
    tree): on PostgreSQL one ``COPY`` (``staged_entries``), built without a model
    instance per row, which cost more than the insert itself. Entries that share a
    metadata dict have it encoded once.
    """
    entries = list(entries)
    if connection.vendor != "postgresql" or len(entries) < BULK_FROM:
        return len(record_many(entries))
    with transaction.atomic(savepoint=False):  # one INSERT: no savepoint in the caller's transaction
        paths = tree_paths({e.election.pk for e in entries})
        return staged_entries(entries, paths=paths, now=timezone.now()).insert()


#: The log's columns as ``StagedRows`` takes them: (name, PostgreSQL type).
COLUMNS = [("created_at", "timestamptz"), ("election_id", "bigint"), ("election_title", "varchar"),
           ("root_id", "bigint"), ("tree_path", "text"), ("actor_id", "integer"), ("actor_name", "varchar"),
           ("on_behalf_of_id", "integer"), ("on_behalf_of_name", "varchar"), ("action", "varchar"),
           ("metadata", "jsonb")]


def staged_entries(entries: Iterable[Entry], *, paths: dict[int, str], now) -> StagedRows:
    """The rows of ``entries``, all stamped ``now``, ready to insert in a later transaction.

    For elections that do not exist yet (a tree being created): ``paths`` gives each
    election's ``tree_path``, as ``tree_paths`` will once they are written.
    """
    table = connection.ops.quote_name(ActivityEntry._meta.db_table)
    encoded: dict[int, str] = {}  # the entries of a tree share a few metadata dicts

    def metadata(value: dict) -> str:
        if id(value) not in encoded:
            encoded[id(value)] = _JSON.encode(value)
        return encoded[id(value)]

    entries = list(entries)
    return StagedRows(table, COLUMNS, [
        (now, e.election.pk, e.election.title[:200], root_of(paths[e.election.pk]), paths[e.election.pk],
         getattr(e.actor, "pk", None), getattr(e.actor, "username", "") or "",
         getattr(e.on_behalf_of, "pk", None), getattr(e.on_behalf_of, "username", "") or "",
         str(e.action), metadata(e.metadata))
        for e in entries])
