"""The preview of a ``when``: its next five runs, in UTC and on the zone's wall clock, plain
words, and DST warnings. Validated exactly as on save (same 400 for a refused rule)."""

from datetime import datetime
from zoneinfo import ZoneInfo

from elections.errors import InvalidInput
from scheduling.models import Kind, ScheduledEvent, State

from .cron import dst_warnings, next_occurrences
from .validation import election_zone, parse_when_field
from .when import At, Cron, Relative, describe

COUNT = 5


def _entry(at_utc: datetime, zone: str) -> dict:
    return {"at": at_utc, "local": at_utc.astimezone(ZoneInfo(zone)).isoformat()}


def preview(when_data, *, election, start: datetime, now: datetime) -> dict:
    """``{"next": [{"at", "local"}…], "description", "warnings"}`` for ``when_data``.

    ``election`` (or None) gives the scope, the default zone and, for a relative rule,
    the anchor event; ``start`` is the instant to count from (``now`` by default).
    """
    scope = "election" if election is not None else "global"
    when = parse_when_field(when_data, scope=scope, election=election, now=now)
    zone = when.zone if isinstance(when, Cron) else election_zone(election)
    warnings: list[str] = []
    upcoming: list[dict] = []
    if isinstance(when, Cron):
        try:
            occurrences = next_occurrences(when, start, COUNT)
        except (OverflowError, ValueError):
            raise InvalidInput({"from": ["Is too far in the past or the future to count runs from; "
                                         "give a date between the years 1900 and 9000."]}) from None
        upcoming = [_entry(o.at_utc, zone) for o in occurrences]
        warnings = dst_warnings(when, occurrences)
    elif isinstance(when, At):
        upcoming = [_entry(when.at, zone)] if when.at > start else []
    elif isinstance(when, Relative) and election is not None:
        anchor = ScheduledEvent.objects.filter(election_id=election.pk, kind=when.anchor,
                                               state=State.PENDING).first()
        if anchor is not None and when.run_at(anchor.event_at) > start:
            upcoming = [_entry(when.run_at(anchor.event_at), zone)]
        elif anchor is None:
            warnings = [f"{Kind(when.anchor).label} is not scheduled for this election, so this "
                        "rule has no run until it is."]
    return {"next": upcoming, "description": describe(when, zone), "warnings": warnings}
