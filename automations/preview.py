"""The preview of a ``when``: its next five runs, in UTC and on the zone's wall clock, plain
words, and DST warnings. Validated exactly as on save (same 400 for a refused rule).

The zone is the cron rule's own; for other rules, the reader's ``zone`` if given (the rule
editor's time zone field), else the election's."""

from datetime import datetime
from zoneinfo import ZoneInfo

from elections.errors import InvalidInput
from scheduling.models import Kind, ScheduledEvent, State

from .cron import dst_warnings, next_occurrences
from .validation import election_zone, parse_when_field
from .when import At, Cron, Relative, WhenError, check_zone, describe

COUNT = 5


def _entry(at_utc: datetime, zone: str, note: str | None = None) -> dict:
    entry = {"at": at_utc, "local": at_utc.astimezone(ZoneInfo(zone)).isoformat()}
    if note:
        entry["note"] = note
    return entry


def reader_zone(name, election) -> str:
    """The zone to read a non-cron rule in: ``name`` if given (a 400 naming ``timezone`` if it is
    not a known zone), else the election's (``election_zone``)."""
    if name in (None, ""):
        return election_zone(election)
    try:
        return check_zone("timezone", name)
    except WhenError as exc:
        raise InvalidInput({exc.field: [exc.message]}) from None


def preview(when_data, *, election, start: datetime, now: datetime, zone: str | None = None) -> dict:
    """``{"next": [{"at", "local", "note"?}…], "description", "warnings", "timezone"}``.

    ``election`` (or None) gives the scope, the default zone and, for a relative rule,
    the anchor event; ``start`` is the instant to count from (``now`` by default); ``zone``
    is the reader's zone for a rule that is not a cron rule (a cron rule has its own).
    A run moved or dropped by a DST change carries its ``note``; ``warnings`` lists them.
    """
    scope = "election" if election is not None else "global"
    when = parse_when_field(when_data, scope=scope, election=election, now=now)
    zone = when.zone if isinstance(when, Cron) else reader_zone(zone, election)
    warnings: list[str] = []
    upcoming: list[dict] = []
    if isinstance(when, Cron):
        try:
            occurrences = next_occurrences(when, start, COUNT)
        except (OverflowError, ValueError):
            raise InvalidInput({"from": ["Is too far in the past or the future to count runs from; "
                                         "give a date between the years 1900 and 9000."]}) from None
        upcoming = [_entry(o.at_utc, zone, o.note) for o in occurrences]
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
    return {"next": upcoming, "description": describe(when, zone), "warnings": warnings,
            "timezone": zone}
