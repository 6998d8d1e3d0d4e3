"""Signals scheduling sends for the apps above it (imports point one way: they listen, we send).

``voting_events_changed`` and ``runs_finished`` are sent with ``send`` inside the
transaction that made the change, so a receiver's writes commit or roll back with
it; a receiver publishes only on commit. ``events_went_wrong`` is sent inside the
execution transaction when voting events were skipped, failed, or ran later than
``ALERT_LATE_SECONDS``; it is sent with ``send_robust``: a receiver's error never
undoes an execution.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.dispatch import Signal

logger = logging.getLogger(__name__)

#: ``election_id: int``, ``changes: dict[kind, (old | None, new | None)]``: the election's pending
#: voting events that were created, rescheduled (old superseded by new) or cancelled (new is None).
#: Sent by ``configure``, by ``cancel_moot_events`` (status changes by hand or by an event) and by
#: ``delete_election``.
voting_events_changed = Signal()

#: ``finished: list[ScheduledEvent]``: the runs one delivery took out of pending, each with its
#: final ``state`` (``done``, ``skipped`` or ``failed``; never superseded or cancelled ones).
#: One send per delivery, so a receiver can do its work for a whole batch at once (the next
#: occurrences of 100 cron rules in a few statements). Receivers create the next occurrence.
runs_finished = Signal()

#: sent with ``incidents=list[Incident]``, one call per execution (a batch of events together)
events_went_wrong = Signal()


@dataclass(frozen=True)
class Incident:
    """One event that did not go as planned."""

    event_id: int
    election_id: int
    kind: str
    event_at: datetime
    task_id: str
    outcome: str  # skipped | failed | late
    reason: str = ""
    lateness_seconds: float | None = None


def report_outcomes(transitions, skipped, done_at: datetime) -> None:
    """Announce the skipped events, and the done ones later than ``ALERT_LATE_SECONDS``, of one execution."""
    late_after = getattr(settings, "ALERT_LATE_SECONDS", 60)
    incidents = [
        Incident(event.pk, event.election_id, event.kind, event.event_at, event.task_id, "skipped", reason,
                 (done_at - event.event_at).total_seconds())
        for event, _, reason in skipped
    ] + [
        Incident(event.pk, event.election_id, event.kind, event.event_at, event.task_id, "late", "",
                 (done_at - event.event_at).total_seconds())
        for event, _, _ in transitions if (done_at - event.event_at).total_seconds() > late_after
    ]
    _send(incidents)


def report_failure(event, summary: str) -> None:
    """Announce an event marked failed."""
    _send([Incident(event.pk, event.election_id, event.kind, event.event_at, event.task_id, "failed",
                    summary)])


def _send(incidents: list[Incident]) -> None:
    if not incidents:
        return
    for receiver, result in events_went_wrong.send_robust(sender=Incident, incidents=incidents):
        if isinstance(result, Exception):
            logger.error("events_went_wrong receiver %r failed: %r", receiver, result)
