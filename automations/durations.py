"""ISO 8601 durations for automations: a small, strict parser to ``timedelta``.

Grammar (ISO 8601-1 durations, restricted to units of fixed length)::

    duration := "P" [n "W"] [n "D"] ["T" [n "H"] [n "M"] [n "S"]]
    n        := digits, or digits "." digits (a fraction only on the last unit)

* Units are weeks, days, hours, minutes and seconds. A day is 24 hours of real
  time, also across a DST change.
* Years and months are refused: they have no fixed length (28 to 31 days), and
  a rule that fires "1 month before" would need a calendar to mean anything.
  Say ``P30D`` instead.
* The duration is a whole number of seconds, longer than zero and at most ten
  years (``P3650D``). A sign (``-PT1H``) is refused, and
  the direction is said by ``before``/``after`` instead.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["DurationError", "format_duration", "humanize_duration", "parse_duration"]

_DURATION = re.compile(
    r"""
    P
    (?:(?P<weeks>\d+(?:[.,]\d+)?)W)?
    (?:(?P<days>\d+(?:[.,]\d+)?)D)?
    (?:T
        (?:(?P<hours>\d+(?:[.,]\d+)?)H)?
        (?:(?P<minutes>\d+(?:[.,]\d+)?)M)?
        (?:(?P<seconds>\d+(?:[.,]\d+)?)S)?
    )?
    """,
    re.VERBOSE,
)
_UNITS = ("weeks", "days", "hours", "minutes", "seconds")
_HAS_YEARS_OR_MONTHS = re.compile(r"^P(?:\d+(?:[.,]\d+)?Y)?(?:\d+(?:[.,]\d+)?M)?")


MAX_DURATION = timedelta(days=3650)


class DurationError(ValueError):
    """A duration that is not a positive ISO 8601 duration of fixed length."""


def parse_duration(text: object) -> timedelta:
    """Parse a positive ISO 8601 duration (``PT24H``, ``P7D``, ``PT1H30M``) to a timedelta.

    Raises ``DurationError`` with a message that says what is wrong and how to fix it.
    """
    if not isinstance(text, str):
        raise DurationError(f"must be an ISO 8601 duration string such as 'PT1H', not {text!r}")
    raw = text.strip().upper()
    if raw.startswith(("-", "+")):
        raise DurationError(
            f"{text!r} has a sign; durations are never negative here: "
            "say 'before' or 'after' instead, e.g. 'PT1H'"
        )
    match = _DURATION.fullmatch(raw)
    if match is None or raw in ("P", "PT") or raw.endswith("T"):
        head = _HAS_YEARS_OR_MONTHS.match(raw)
        if head and head.group(0) != "P":
            raise DurationError(
                f"{text!r} uses years or months, which have no fixed length; "
                "give days instead, e.g. 'P30D'"
            )
        raise DurationError(
            f"{text!r} is not an ISO 8601 duration; e.g. 'PT24H', 'P7D' or 'PT1H30M'"
        )
    given = [(unit, match.group(unit)) for unit in _UNITS if match.group(unit) is not None]
    if any(("." in value or "," in value) for _, value in given[:-1]):
        raise DurationError(f"{text!r}: only the last unit may have a fraction, e.g. 'PT1H30M'")
    try:
        delta = timedelta(**{unit: float(value.replace(",", ".")) for unit, value in given})
    except OverflowError:
        raise DurationError(f"{text!r} is too long") from None
    if delta <= timedelta(0):
        raise DurationError(f"{text!r} is zero; give a duration longer than zero, e.g. 'PT1H'")
    if delta.microseconds:
        raise DurationError(f"{text!r} is not a whole number of seconds; e.g. 'PT1S' or 'PT1M'")
    if delta > MAX_DURATION:
        raise DurationError(f"{text!r} is longer than ten years ('P3650D')")
    return delta


def format_duration(delta: timedelta) -> str:
    """The canonical ISO 8601 text of a positive timedelta: ``P1D``, ``PT1H30M``, ``P2DT3H``."""
    seconds_total = int(delta.total_seconds())
    days, rest = divmod(seconds_total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = "P" + (f"{days}D" if days else "")
    time_part = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds:
        time_part += f"{seconds}S"
    if time_part:
        text += "T" + time_part
    return text if text != "P" else "PT0S"


def humanize_duration(delta: timedelta) -> str:
    """Plain words: ``24 hours``, ``7 days``, ``1 hour 30 minutes``.

    Whole hours under two days are said in hours ("24 hours", "36 hours"), as people do.
    """
    seconds_total = int(delta.total_seconds())
    if seconds_total < 2 * 86400 and seconds_total % 3600 == 0:
        days, hours = 0, seconds_total // 3600
        rest = 0
    else:
        days, rest = divmod(seconds_total, 86400)
        hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'' if n == 1 else 's'}"
        for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"), (seconds, "second"))
        if n
    ]
    return " ".join(parts) or "0 seconds"
