"""The one place that writes the activity log."""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

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


def _row(entry: Entry, now) -> ActivityEntry:
    return ActivityEntry(
        created_at=now,
        election_id=entry.election.pk,
        election_title=entry.election.title[:200],
        actor=entry.actor,
        actor_name=getattr(entry.actor, "username", "") or "",
        on_behalf_of=entry.on_behalf_of,
        on_behalf_of_name=getattr(entry.on_behalf_of, "username", "") or "",
        action=entry.action,
        metadata=entry.metadata,
    )


def record(action: Action, election, *, actor=None, on_behalf_of=None, **metadata) -> ActivityEntry:
    """Append one row and return it. ``actor`` is None when the system acts."""
    return record_many([Entry(action, election, actor, on_behalf_of, metadata)])[0]


def record_many(entries: Iterable[Entry]) -> list[ActivityEntry]:
    """Append many rows in one INSERT, all stamped with the same time."""
    now = timezone.now()
    rows = [_row(entry, now) for entry in entries]
    return ActivityEntry.objects.bulk_create(rows, batch_size=2000)


#: From this many rows on, ``record_bulk`` on PostgreSQL skips the model instances.
BULK_FROM = 100


def record_bulk(entries: Iterable[Entry]) -> int:
    """Append many rows in one statement, all stamped with the same time; returns how many.

    The same rows as ``record_many``, for large batches (a status change of a whole
    tree): on PostgreSQL one ``INSERT … SELECT FROM unnest(column arrays)``, built
    without a model instance per row, which cost more than the insert itself.
    """
    entries = list(entries)
    if connection.vendor != "postgresql" or len(entries) < BULK_FROM:
        return len(record_many(entries))
    columns: list[list] = [[] for _ in range(8)]
    for e in entries:
        for column, value in zip(columns, (
            e.election.pk, e.election.title[:200],
            getattr(e.actor, "pk", None), getattr(e.actor, "username", "") or "",
            getattr(e.on_behalf_of, "pk", None), getattr(e.on_behalf_of, "username", "") or "",
            str(e.action), json.dumps(e.metadata, cls=DjangoJSONEncoder),
        ), strict=True):
            column.append(value)
    table = connection.ops.quote_name(ActivityEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} (created_at, election_id, election_title, actor_id, actor_name,
                                     on_behalf_of_id, on_behalf_of_name, action, metadata)
                SELECT %s, u.election_id, u.title, u.actor_id, u.actor_name, u.obo_id, u.obo_name,
                       u.action, u.metadata::jsonb
                FROM unnest(%s::bigint[], %s::varchar[], %s::integer[], %s::varchar[], %s::integer[],
                            %s::varchar[], %s::varchar[], %s::text[])
                     AS u(election_id, title, actor_id, actor_name, obo_id, obo_name, action, metadata)""",
            [timezone.now(), *columns],
        )
        return cursor.rowcount
