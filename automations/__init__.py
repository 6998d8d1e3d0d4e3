"""Automations' time engine: when an automation runs, free of Django models.

Public API (see docs/automations.md):

* ``parse_when(data, scope=, default_zone=, now=)`` -> ``At | Cron | Relative | OnStatus | OnUser``;
  bad input raises ``WhenError(field, message)``.
* ``next_occurrences(cron, after, count)`` -> ``[Occurrence(at_utc, local, note)]``, with the DST rules.
* ``coalesce_missed(cron, last_planned, now, catch_up)`` -> ``(run_at | None, skipped)``.
* ``describe(when, zone)`` and ``dst_warnings(cron, occurrences)``: plain words for the preview.
* ``parse_duration(text)`` -> ``timedelta`` (positive ISO 8601, no years or months).
"""

from automations.cron import Cron, Occurrence, coalesce_missed, dst_warnings, next_occurrences
from automations.durations import DurationError, parse_duration
from automations.when import At, OnStatus, OnUser, Relative, When, WhenError, describe, parse_when

__all__ = [
    "At",
    "Cron",
    "DurationError",
    "Occurrence",
    "OnStatus",
    "OnUser",
    "Relative",
    "When",
    "WhenError",
    "coalesce_missed",
    "describe",
    "dst_warnings",
    "next_occurrences",
    "parse_duration",
    "parse_when",
]
