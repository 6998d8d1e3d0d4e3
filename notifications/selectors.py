"""Reads of the outbox."""

from django.db.models import QuerySet

from elections.errors import InvalidInput

from .models import MessageState, OutboxMessage


def messages(*, election_ids: list[int] | None = None, state: str | None = None) -> QuerySet[OutboxMessage]:
    """Outbox rows, newest first; of these elections only when given; of one state when given."""
    if state is not None and state not in MessageState.values:
        raise InvalidInput({"state": [f"Unknown state {state[:20]!r}; use one of "
                                      f"{', '.join(MessageState.values)}."]})
    rows = OutboxMessage.objects.select_related("recipient").order_by("-created_at", "-id")
    if election_ids is not None:
        rows = rows.filter(election_id__in=election_ids)
    if state:
        rows = rows.filter(state=state)
    return rows
