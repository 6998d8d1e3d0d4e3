"""Reads of the outbox."""

import re
from dataclasses import dataclass

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


@dataclass(frozen=True)
class RunDelivery:
    """What became of the messages one run queued: how many were sent, failed, still waiting,
    and the mail server's last refusal (``error``, '' when none failed)."""

    sent: int = 0
    failed: int = 0
    waiting: int = 0
    error: str = ""


def delivery_of_runs(task_ids: list[str]) -> dict[str, RunDelivery]:
    """Each run's messages by state (outbox rows whose cause is ``run:<task id>:<operation>``);
    a run that queued nothing is absent. One query."""
    if not task_ids:
        return {}
    counts: dict[str, dict] = {}
    rows = (OutboxMessage.objects.filter(cause__regex=r"^run:(" + "|".join(
        re.escape(t) for t in task_ids) + r"):")
        .order_by("id").values_list("cause", "state", "error"))
    for cause, state, error in rows:
        found = counts.setdefault(cause.split(":")[1], {"sent": 0, "failed": 0, "waiting": 0, "error": ""})
        if state == MessageState.SENT:
            found["sent"] += 1
        elif state == MessageState.FAILED:
            found["failed"] += 1
            found["error"] = error or found["error"]
        else:
            found["waiting"] += 1
    return {task_id: RunDelivery(**found) for task_id, found in counts.items()}
