"""Small query helpers shared by the apps."""

import io
import uuid
from collections.abc import Collection

from django.db import connection
from django.db.models import F, Lookup, Q


class _EqualsAnyId(Lookup):
    """``lhs = ANY(%s::bigint[])``, with the ids as one array parameter (PostgreSQL)."""

    lookup_name = "equals_any_id"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::bigint[])", [*params, list(self.rhs)]


def id_in(field: str, ids: Collection[int]) -> Q:
    """``field IN ids``; on PostgreSQL as ``= ANY`` of one array parameter.

    For the thousands of ids of a big tree, Django building an ``IN`` list of one
    parameter each, and PostgreSQL parsing it, cost more than the query itself. The
    array goes in ``= ANY(...)`` rather than ``IN (SELECT unnest(...))``: the planner
    sees how many ids there are and probes an index or hashes them; with the subquery
    it guessed 200 and, on a table whose statistics were behind, compared every
    pending event with every id (270 ms instead of 9 ms for 10,000 ids).
    """
    if connection.vendor == "postgresql":
        return Q(_EqualsAnyId(F(field), list(ids)))
    return Q(**{f"{field}__in": list(ids)})


class StagedRows:
    """Rows for one table, made ready before the transaction that inserts them (``insert``).

    ``columns`` are ``(name, PostgreSQL type)`` pairs; rows are tuples of Python values in
    that order (datetimes aware, JSON already a string). ``stage`` does the work that can be
    done before the transaction: on SQLite it copies the rows into a TEMP table of this
    connection, which takes no lock on the database file, so the transaction that inserts
    them runs only ``INSERT … SELECT`` inside SQLite and holds the one write lock for the
    B-tree work, not for binding every value from Python. On PostgreSQL (writers lock rows,
    not the database) it writes the rows as ``COPY`` text, sent by ``insert`` in one
    ``COPY … FROM STDIN``. ``discard`` drops what was staged; ``with StagedRows(…) as rows:``
    stages and discards whatever happens.
    """

    def __init__(self, table: str, columns: list[tuple[str, str]], rows: list[tuple]):
        self.table, self.columns, self.rows = table, columns, rows
        self._temp: str | None = None
        self._copy: str | None = None

    def __enter__(self) -> "StagedRows":
        self.stage()
        return self

    def __exit__(self, *exc) -> None:
        self.discard()

    def stage(self) -> None:
        if connection.vendor == "postgresql":
            if self._copy is None:
                converters = [_copy_converter(pg_type) for _, pg_type in self.columns]
                self._copy = "".join(
                    "\t".join([convert(value) for convert, value in zip(converters, row, strict=True)]) + "\n"
                    for row in self.rows)
            return
        if self._temp is not None:
            return
        self._temp = f"staged_{uuid.uuid4().hex[:12]}"
        names = ", ".join(name for name, _ in self.columns)
        marks = ", ".join("?" * len(self.columns))
        adapt = [_sqlite_adapter(pg_type) for _, pg_type in self.columns]
        raw = _raw_sqlite()
        # A DEFERRED transaction that writes only to the TEMP database locks nothing else
        # (inside the caller's atomic block, this is just part of it).
        own = not connection.in_atomic_block
        if own:
            raw.execute("BEGIN DEFERRED")
        try:
            raw.execute(f"CREATE TEMP TABLE {self._temp} ({names})")
            raw.executemany(f"INSERT INTO temp.{self._temp} ({names}) VALUES ({marks})",
                            ([convert(value) for convert, value in zip(adapt, row, strict=True)]
                             for row in self.rows))
        except BaseException:
            if own:
                raw.execute("ROLLBACK")
            self._temp = None
            raise
        if own:
            raw.execute("COMMIT")

    def insert(self) -> int:
        """Insert every row into the table, in the caller's transaction; returns how many."""
        if not self.rows:
            return 0
        self.stage()
        names = ", ".join(name for name, _ in self.columns)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.cursor.copy_expert(f"COPY {self.table} ({names}) FROM STDIN", io.StringIO(self._copy))
            else:
                cursor.execute(f"INSERT INTO main.{self.table} ({names}) "
                               f"SELECT {names} FROM temp.{self._temp} ORDER BY rowid")
        return len(self.rows)

    def discard(self) -> None:
        self._copy = None
        if self._temp is not None:
            _raw_sqlite().execute(f"DROP TABLE IF EXISTS temp.{self._temp}")
            self._temp = None


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_converter(pg_type: str):
    """A function that writes one value of this column in PostgreSQL's ``COPY`` text format
    (``\\N`` is NULL); a tree's rows repeat a few timestamps, so those are remembered."""
    if pg_type.startswith("timestamp"):
        seen: dict = {}

        def timestamp(value) -> str:
            if value is None:
                return "\\N"
            if value not in seen:
                seen[value] = value.isoformat()
            return seen[value]
        return timestamp
    if pg_type == "boolean":
        return lambda value: "\\N" if value is None else ("t" if value else "f")
    if pg_type in ("bigint", "integer"):
        return lambda value: "\\N" if value is None else str(value)

    def text(value) -> str:
        if value is None:
            return "\\N"
        value = str(value)
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.translate(_COPY_ESCAPES)
        return value
    return text


def _raw_sqlite():
    connection.ensure_connection()
    return connection.connection


def _sqlite_adapter(pg_type: str):
    """How Django's SQLite backend stores a value of this type (datetimes as naive UTC text)."""
    if pg_type.startswith("timestamp"):
        return connection.ops.adapt_datetimefield_value
    return lambda value: value
