"""The one place that writes the activity log."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from .models import Action, ActivityEntry


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
