"""Creating a whole tree of elections at once (an uploaded configuration).

Everything is decided before the transaction that writes it: the ids are reserved,
and each election's row, ``tree_path`` and ``election_created`` log entry are built in
memory, so the transaction is a few ``INSERT`` statements whatever the tree's size
(docs/benchmarks.md, benchmark 10). A tree is written all at once or not at all.
"""

from dataclasses import dataclass

from django.db import connection, transaction

from activity_log.models import Action
from activity_log.services import ElectionRef, Entry
from config.sql import StagedRows

from .models import Election, ElectionGrant, Permission, Status, default_time_zone
from .selectors import ancestor_paths

#: The election table's columns as ``StagedRows`` takes them: (name, PostgreSQL type).
COLUMNS = [("id", "bigint"), ("title", "varchar"), ("description", "text"), ("status", "varchar"),
           ("parent_id", "bigint"), ("created_by_id", "integer"), ("created_at", "timestamptz"),
           ("updated_at", "timestamptz"), ("time_zone", "varchar")]


@dataclass(frozen=True)
class NewElection:
    """One election of a new tree. ``parent`` is the index of its parent in the tree's list
    (always an earlier one), None for the top; ``time_zone`` None takes the parent's."""

    title: str
    description: str = ""
    parent: int | None = None
    time_zone: str | None = None


class NewTree:
    """A tree of new elections, built in memory under ``parent`` (None: a new top-level tree).

    ``elections`` lists parents before their children. ``refs[i]`` is the i-th election's
    id and title, ``paths`` each new id's ``tree_path`` for the log, ``log`` the
    ``election_created`` entries. Only ``write`` touches the tables.
    """

    def __init__(self, elections: list[NewElection], *, parent: Election | None, actor, now):
        self.parent, self.actor, self.now = parent, actor, now
        ids = reserve_ids(len(elections))
        above = "/"
        if parent is not None:
            above = "/" + "".join(f"{pk}/" for pk in reversed(ancestor_paths([parent.pk])[parent.pk]))
        zones, paths, rows, self.refs = [], [], [], []
        top_zone = parent.time_zone if parent is not None else default_time_zone()
        for index, (pk, new) in enumerate(zip(ids, elections, strict=True)):
            parent_id = parent.pk if new.parent is None and parent is not None else (
                None if new.parent is None else ids[new.parent])
            zone = new.time_zone or (top_zone if new.parent is None else zones[new.parent])
            path = (above if new.parent is None else paths[new.parent]) + f"{pk}/"
            zones.append(zone)
            paths.append(path)
            rows.append((pk, new.title, new.description, Status.NOT_STARTED, parent_id,
                         getattr(actor, "pk", None), now, now, zone))
            self.refs.append(ElectionRef(pk, new.title))
            assert new.parent is None or new.parent < index, "parents come before their children"
        self.paths = dict(zip(ids, paths, strict=True))
        self.rows = StagedRows(connection.ops.quote_name(Election._meta.db_table), COLUMNS, rows)
        metadata: dict[int | None, dict] = {}  # one dict per parent: the log encodes each once
        self.log = [Entry(Action.ELECTION_CREATED, ref, actor, None,
                          metadata.setdefault(row[4], {"parent": row[4]}))
                    for ref, row in zip(self.refs, rows, strict=True)]

    def write(self) -> Election:
        """Insert the elections (and the creator's edit grant on a new top-level tree) in the
        caller's transaction; return the top one. The log entries are the caller's to record."""
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("NewTree.write must run inside transaction.atomic()")
        self.rows.insert()
        top = Election.objects.get(pk=self.refs[0].pk)
        if self.actor is not None and self.parent is None:
            ElectionGrant.objects.get_or_create(user=self.actor, election=top,
                                                defaults={"permission": Permission.EDIT})
        return top


def reserve_ids(n: int) -> list[int]:
    """``n`` election ids no other writer will take, in increasing order.

    PostgreSQL: from the table's sequence. SQLite: the table's ``AUTOINCREMENT`` counter
    moved past them in a short transaction of its own. Ids reserved for a tree that is
    then not written stay unused, as a rolled-back sequence value does.
    """
    table = Election._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                           [table, n])
            return sorted(row[0] for row in cursor.fetchall())
        with transaction.atomic():
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            row = cursor.fetchone()
            cursor.execute(f"SELECT max(id) FROM {connection.ops.quote_name(table)}")
            base = max(row[0] if row else 0, cursor.fetchone()[0] or 0)
            if row:
                cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [base + n, table])
            else:
                cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, base + n])
        return list(range(base + 1, base + n + 1))
