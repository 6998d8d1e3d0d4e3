"""``when``: the moment(s) an automation runs, parsed from JSON into typed values.

``parse_when`` is the one entry point; it returns one of five frozen dataclasses
(``At``, ``Cron``, ``Relative``, ``OnStatus``, ``OnUser``), each with ``to_json()``
giving the canonical JSON (``parse_when(w.to_json(), ...) == w``). Bad input raises
``WhenError(field, message)`` with the field path (``when.cron_rule``) for a 400.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo, available_timezones

from automations.cron import (
    DEFAULT_CATCH_UP,
    Cron,
    CronRuleError,
    explain_rule,
    next_occurrences,
    normalize_rule,
)
from automations.durations import DurationError, format_duration, humanize_duration, parse_duration

__all__ = [
    "ANCHORS",
    "STATUS_EVENTS",
    "USER_TRIGGERS",
    "At",
    "Cron",
    "OnStatus",
    "OnUser",
    "Relative",
    "When",
    "WhenError",
    "describe",
    "parse_when",
]

Scope = Literal["election", "global"]

#: the election's own scheduled events, with the words used to describe them
ANCHORS = {"start_voting": "voting opens", "end_voting": "voting closes"}
#: status changes that actually happened (by schedule or by hand)
STATUS_EVENTS = {
    "election.started": "the election starts",
    "election.suspended": "the election is suspended",
    "election.resumed": "the election resumes",
    "election.stopped": "the election stops",
}
#: user triggers, for global automations only; `on` takes the first two
USER_TRIGGERS = {
    "user.created": "a user account is created",
    "user.activated": "a user activates their account",
    "user.last_login": "a user's last login",
}
_USER_EVENTS = ("user.created", "user.activated")
_KINDS = ("at", "cron_rule", "before", "after", "on")
_KEYS = {
    "at": {"at"},
    "cron_rule": {"cron_rule", "timezone", "until", "catch_up"},
    "before": {"before", "offset"},
    "after": {"after", "delay"},
    "on": {"on"},
}


class WhenError(ValueError):
    """Bad ``when`` input: ``field`` is the path to blame (``when.cron_rule``), ``message``
    says what is wrong and how to fix it. The API maps it to a 400."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class At:
    """Once, at an aware instant (kept with the offset it was given in)."""

    at: datetime

    def to_json(self) -> dict:
        return {"at": self.at.isoformat()}


@dataclass(frozen=True)
class Relative:
    """``sign * duration`` from the election's own scheduled ``anchor`` event;
    moves with it when the event is rescheduled. sign is -1 (before) or +1 (after)."""

    anchor: str
    sign: int
    duration: timedelta

    def run_at(self, anchor_at: datetime) -> datetime:
        """The instant to run, given when the anchor event is scheduled."""
        return anchor_at + self.sign * self.duration

    def to_json(self) -> dict:
        if self.sign < 0:
            return {"before": self.anchor, "offset": format_duration(self.duration)}
        return {"after": self.anchor, "delay": format_duration(self.duration)}


@dataclass(frozen=True)
class OnStatus:
    """``delay`` after an election status change actually happened."""

    event: str
    delay: timedelta = timedelta(0)

    def to_json(self) -> dict:
        if not self.delay:
            return {"on": self.event}
        return {"after": self.event, "delay": format_duration(self.delay)}


@dataclass(frozen=True)
class OnUser:
    """``delay`` after a user trigger (global automations only)."""

    trigger: str
    delay: timedelta = timedelta(0)

    def to_json(self) -> dict:
        if not self.delay:
            return {"on": self.trigger}
        return {"after": self.trigger, "delay": format_duration(self.delay)}


When = At | Cron | Relative | OnStatus | OnUser


# --- parsing --------------------------------------------------------------------------------


def parse_when(data: object, *, scope: Scope, default_zone: str, now: datetime | None) -> When:
    """Validate and normalize a ``when`` JSON object.

    ``scope`` is ``"election"`` (an election's automation) or ``"global"``;
    ``default_zone`` is the zone of a cron rule without ``timezone`` (the election's
    ``time_zone``); ``now`` (aware) is the clock to judge "in the past" and "never fires",
    or None for a stored rule, judged when it was saved (nothing is checked against a clock).
    Raises ``WhenError`` naming the field.
    """
    if scope not in ("election", "global"):
        raise ValueError(f"scope must be 'election' or 'global', not {scope!r}")
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if not isinstance(data, dict):
        raise WhenError("when", 'must be an object such as {"at": "2026-12-01T09:00:00+01:00"}')
    kinds = [kind for kind in _KINDS if kind in data]
    if len(kinds) != 1:
        given = " and ".join(f"'{k}'" for k in kinds) if kinds else "none"
        raise WhenError(
            "when", f"give exactly one of 'at', 'cron_rule', 'before', 'after' or 'on'; got {given}"
        )
    (kind,) = kinds
    for key in data:
        if key not in _KEYS[kind]:
            allowed = ", ".join(f"'{k}'" for k in sorted(_KEYS[kind]))
            raise WhenError(f"when.{key}", f"is not allowed with '{kind}'; allowed keys: {allowed}")
    if kind == "at":
        return _parse_at(data, now)
    if kind == "cron_rule":
        return _parse_cron(data, default_zone, now)
    if kind == "before":
        return _parse_before(data, scope)
    if kind == "after":
        return _parse_after(data, scope)
    return _parse_on(data, scope)


def _parse_instant(field: str, value: object) -> datetime:
    example = "e.g. '2026-12-01T09:00:00+01:00'"
    if not isinstance(value, str):
        raise WhenError(field, f"must be an ISO 8601 date-time string, {example}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise WhenError(field, f"{value!r} is not an ISO 8601 date-time; {example}") from None
    if moment.tzinfo is None:
        raise WhenError(field, f"{value!r} has no UTC offset; add one (+01:00 or Z), {example}")
    try:
        (moment - timedelta(days=2)).astimezone(UTC)
        (moment + timedelta(days=2)).astimezone(UTC)
    except (OverflowError, ValueError):
        raise WhenError(field, f"{value!r} is out of range; {example}") from None
    return moment


def _parse_at(data: dict, now: datetime | None) -> At:
    moment = _parse_instant("when.at", data["at"])
    if now is not None and moment <= now:
        raise WhenError(
            "when.at", f"{data['at']!r} is in the past (now is {now.isoformat(timespec='seconds')}); "
            "give a future moment"
        )
    return At(moment)


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_zone(field: str, name: object) -> str:
    """Return ``name`` if it is a known IANA time zone, else raise ``WhenError`` with a suggestion."""
    if isinstance(name, str) and name in _known_zones():
        ZoneInfo(name)
        return name
    text = str(name)[:64]  # suggest from, and echo, a bounded part of what was sent
    close = difflib.get_close_matches(text, sorted(_known_zones()), n=1, cutoff=0.6)
    suggestion = close[0] if close else "Europe/Paris"
    shown = repr(text) if isinstance(name, str) else repr(name)[:64]
    raise WhenError(field, f"{shown} is not a known IANA time zone; e.g. {suggestion}")


def _duration(field: str, value: object) -> timedelta:
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise WhenError(field, str(exc)) from None


def _parse_cron(data: dict, default_zone: str, now: datetime | None) -> Cron:
    try:
        rule = normalize_rule(data["cron_rule"])
    except CronRuleError as exc:
        raise WhenError("when.cron_rule", str(exc)) from None
    zone = check_zone("when.timezone", data.get("timezone", default_zone))
    until = _parse_instant("when.until", data["until"]) if "until" in data else None
    catch_up = _duration("when.catch_up", data["catch_up"]) if "catch_up" in data else DEFAULT_CATCH_UP
    if now is None:  # stored: judged when saved
        return Cron(rule, zone, until, catch_up)
    upcoming = next_occurrences(Cron(rule, zone), now, 1)
    if not upcoming:
        raise WhenError(
            "when.cron_rule", f"{data['cron_rule']!r} never fires again; check the day and month fields"
        )
    if until is not None and until < upcoming[0].at_utc:
        raise WhenError(
            "when.until",
            f"{data['until']!r} is before the next run ({upcoming[0].local.isoformat()}), "
            "so the rule would never fire; move 'until' later or drop it",
        )
    return Cron(rule, zone, until, catch_up)


def _name(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise WhenError(field, f"must be an event name such as 'end_voting', not {value!r}")
    return value


def _parse_before(data: dict, scope: Scope) -> Relative:
    anchor = _name("when.before", data["before"])
    if anchor not in ANCHORS:
        if anchor in STATUS_EVENTS or anchor in USER_TRIGGERS:
            raise WhenError(
                "when.before",
                f"{anchor!r} is not scheduled ahead, so nothing can run before it; "
                "'before' takes start_voting or end_voting",
            )
        raise WhenError("when.before", f"{anchor!r} is not a scheduled event; use start_voting or end_voting")
    _election_only("when.before", scope)
    if "offset" not in data:
        raise WhenError("when.offset", "is required with 'before', e.g. 'PT24H'")
    return Relative(anchor, -1, _duration("when.offset", data["offset"]))


def _parse_after(data: dict, scope: Scope) -> Relative | OnStatus | OnUser:
    event = _name("when.after", data["after"])
    if "delay" not in data:
        raise WhenError("when.delay", "is required with 'after', e.g. 'PT1H' (use 'on' for no delay)")
    _check_event("when.after", event, scope, allowed_users=tuple(USER_TRIGGERS))
    delay = _duration("when.delay", data["delay"])
    if event in ANCHORS:
        _election_only("when.after", scope)
        return Relative(event, +1, delay)
    if event in STATUS_EVENTS:
        return OnStatus(event, delay)
    return OnUser(event, delay)


def _parse_on(data: dict, scope: Scope) -> OnStatus | OnUser:
    event = _name("when.on", data["on"])
    if event in ANCHORS:
        raise WhenError(
            "when.on",
            f"{event!r} is a scheduled time, not a status change; use 'election.started' or "
            "'election.stopped' for when it happens, or 'after'/'before' with a duration",
        )
    if event == "user.last_login":
        raise WhenError(
            "when.on", "'user.last_login' is a moment, not an event; use "
            '{"after": "user.last_login", "delay": "P7D"}'
        )
    _check_event("when.on", event, scope, allowed_users=_USER_EVENTS)
    if event in STATUS_EVENTS:
        return OnStatus(event)
    return OnUser(event)


def _check_event(field: str, event: str, scope: Scope, allowed_users: tuple[str, ...]) -> None:
    if event in ANCHORS or event in STATUS_EVENTS:
        return
    if event in allowed_users:
        if scope != "global":
            raise WhenError(field, f"{event!r} is a user trigger, only for global automations")
        return
    known = [*ANCHORS, *STATUS_EVENTS] if field == "when.after" else [*STATUS_EVENTS]
    if scope == "global":
        known += list(allowed_users)
    raise WhenError(field, f"{event!r} is not a known event; use one of {', '.join(known)}")


def _election_only(field: str, scope: Scope) -> None:
    if scope == "global":
        raise WhenError(
            field, "a global automation has no election of its own to schedule from; "
            "attach it to an election, or use a cron rule"
        )


# --- plain words ----------------------------------------------------------------------------


def describe(when: When, zone: str) -> str:
    """A plain-words reading of ``when``; ``zone`` is the reader's zone, used for ``at``.

    E.g. "At 07:00 on Monday, Europe/Paris time", "24 hours before voting closes".
    """
    if isinstance(when, At):
        local = when.at.astimezone(ZoneInfo(zone))
        return f"Once, on {local.day} {local:%b %Y} at {local:%H:%M} ({zone} time)"
    if isinstance(when, Cron):
        text = f"{explain_rule(when.rule)}, {when.zone} time"
        if when.until is not None:
            until = when.until.astimezone(when.tz)
            text += f", until {until.day} {until:%b %Y} {until:%H:%M}"
        return text
    if isinstance(when, Relative):
        word = "before" if when.sign < 0 else "after"
        return f"{humanize_duration(when.duration)} {word} {ANCHORS[when.anchor]}"
    if isinstance(when, OnStatus):
        what = STATUS_EVENTS[when.event]
        if not when.delay:
            return f"When {what}"
        return f"{humanize_duration(when.delay)} after {what}"
    what = USER_TRIGGERS[when.trigger]
    if not when.delay:
        return f"When {what}"
    return f"{humanize_duration(when.delay)} after {what}"
