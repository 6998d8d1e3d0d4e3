"""Signals scheduling sends for the apps above it (imports point one way: they listen, we send).

``events_went_wrong`` is sent inside the execution transaction when scheduled
events were skipped, failed, or ran later than ``ALERT_LATE_SECONDS``; a receiver
may write rows in that transaction and must publish only on commit. It is sent
with ``send_robust``: a receiver's error never undoes an execution.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.dispatch import Signal

logger = logging.getLogger(__name__)

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
