"""Cron rules read in the wall-clock time of an IANA zone, with explicit DST rules.

cronsim parses and matches the five fields; this module decides what a matching
*wall-clock* time means as an instant, because no library gets every rule right
(see docs/automations.md, "Which cron library"). Two kinds of rule:

* **Fixed-time rules**: the minute field and the hour field are numbers, lists
  or ranges (``30 2 * * *``, ``0 9,17 * * 1-5``, ``0 1-3 * * *``). They are
  evaluated per calendar day in naive wall-clock time; each wall time becomes
  one instant:

  - a time that does not exist that day (spring forward) runs once, at the
    first instant after the gap (02:30 Paris on 28 Mar 2027 -> 03:00 local);
  - a time that happens twice (fall back) runs once, at its first occurrence;
  - several wall times that land on the same instant (02:15 and 02:45 in a
    gap) run once.

* **Periodic rules**: the minute or the hour field starts with ``*`` (``*``,
  ``*/15``): ``0 * * * *``, ``*/15 * * * *``, ``0 */2 * * *``, ``*/10 9 * * *``.
  They run in real (absolute) time, at every instant whose wall clock matches:
  an hour that happens twice runs twice, an hour that does not exist does not
  run. So ``0 * * * *`` runs once per real hour.

This is the rule of Debian's cron (and of cronsim's own DST handling, which we
do not use for iteration: it loses a run in zones with a 30-minute shift).
"""

from __future__ import annotations

import copy
import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from automations.durations import format_duration

__all__ = [
    "DEFAULT_CATCH_UP",
    "Cron",
    "CronRuleError",
    "Occurrence",
    "coalesce_missed",
    "dst_warnings",
    "explain_rule",
    "is_fixed_time",
    "iter_occurrences",
    "next_occurrences",
    "normalize_rule",
]

DEFAULT_CATCH_UP = timedelta(hours=1)

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# name, low, high, names (index 0 is the value `low`)
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DAYS),
)
_FIELD_HINT = "use numbers, ranges (1-5), lists (1,15) and steps (*/15)"


class CronRuleError(ValueError):
    """A cron rule that is malformed or can never fire; the message says how to fix it."""


@dataclass(frozen=True)
class Cron:
    """A recurring rule: five-field ``rule`` read in the wall clock of ``zone``.

    ``until`` (aware, optional) is the last instant a run may happen; ``catch_up``
    is how late a missed run may still happen (see ``coalesce_missed``). Build it
    with ``parse_when``, which validates and normalizes the rule and the zone.
    """

    rule: str
    zone: str
    until: datetime | None = None
    catch_up: timedelta = DEFAULT_CATCH_UP

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def to_json(self) -> dict:
        data = {"cron_rule": self.rule, "timezone": self.zone}
        if self.until is not None:
            data["until"] = self.until.isoformat()
        data["catch_up"] = format_duration(self.catch_up)
        return data


@dataclass(frozen=True)
class Occurrence:
    """One run of a cron rule: the instant in UTC, the same instant on the zone's
    wall clock, and a note when a DST change moved or dropped a run."""

    at_utc: datetime
    local: datetime
    note: str | None = field(default=None, compare=False)

    def to_json(self) -> dict:
        data = {"at": self.at_utc.isoformat().replace("+00:00", "Z"), "local": self.local.isoformat()}
        if self.note:
            data["note"] = self.note
        return data


# --- parsing --------------------------------------------------------------------------------


def normalize_rule(rule: object) -> str:
    """Validate a five-field cron rule; return it with single spaces and upper-case names.

    Raises ``CronRuleError`` naming the field and the value at fault, e.g.
    ``'0 25 * * *': hour 25 is out of range 0-23`` (with an en dash). A rule that can never fire
    because no chosen month has the chosen day (``0 0 30 2 *``) is refused here too.
    """
    if not isinstance(rule, str):
        raise CronRuleError(f"must be a string of five fields such as '0 7 * * 1', not {rule!r}")
    parts = rule.upper().split()
    if len(parts) != 5:
        raise CronRuleError(
            f"{rule!r}: a cron rule has five fields (minute hour day-of-month month day-of-week), "
            f"e.g. '0 7 * * 1'; this one has {len(parts)}"
        )
    for text, spec in zip(parts, _FIELDS, strict=True):
        for term in text.split(","):
            _check_term(rule, term, spec)
    canonical = " ".join(parts)
    try:
        CronSim(canonical, datetime(2000, 1, 1))
    except CronSimError as exc:  # what is left after the checks above: impossible days
        raise CronRuleError(
            f"{rule!r} can never fire: no chosen month has day {parts[2]}; "
            "check the day-of-month and month fields"
        ) from exc
    return canonical


def _check_term(rule: str, term: str, spec: tuple) -> None:
    name = spec[0]
    base, slash, step = term.partition("/")
    if slash and (not step.isdigit() or int(step) < 1):
        raise CronRuleError(f"{rule!r}: {name} step {step!r} must be a whole number of 1 or more")
    if base == "*":
        return
    start, dash, end = base.partition("-")
    first = _value(rule, start, spec)
    if dash and _value(rule, end, spec) < first:
        raise CronRuleError(
            f"{rule!r}: {name} range {base} goes backwards; write it low to high, e.g. {end}-{start}"
        )


def _value(rule: str, text: str, spec: tuple) -> int:
    name, low, high, names = spec
    if text in names:
        return low + names.index(text) if name == "month" else names.index(text)
    if not text.isdigit():
        extra = f", or a name such as {'JAN' if name == 'month' else 'MON'}" if names else ""
        raise CronRuleError(f"{rule!r}: {name} {text!r} is not a number{extra}; {_FIELD_HINT}")
    value = int(text)
    if not low <= value <= high:
        # an en dash between the bounds, as in print
        raise CronRuleError(f"{rule!r}: {name} {value} is out of range {low}–{high}")  # noqa: RUF001
    return value


def is_fixed_time(rule: str) -> bool:
    """True for a fixed-time rule (wall-clock rules), False for a periodic one (real time).

    Fixed-time: neither the minute nor the hour field starts with ``*``.
    """
    minute, hour = rule.split()[:2]
    return not minute.startswith("*") and not hour.startswith("*")


def explain_rule(rule: str) -> str:
    """cronsim's plain-English reading of the rule: ``At 07:00 on Monday``."""
    return CronSim(rule, datetime(2000, 1, 1)).explain()


# --- wall clock to instants -----------------------------------------------------------------


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _instants(wall: datetime, tz: ZoneInfo) -> tuple[list[datetime], str]:
    """The real instants (UTC) a naive wall time stands for, and what kind of time it is.

    ``([t], "normal")``; ``([first, second], "ambiguous")`` in a fall-back hour;
    ``([gap_end], "gap")`` in a spring-forward gap, gap_end being the instant of the change.
    """
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    off0, off1 = first.utcoffset(), second.utcoffset()
    if off0 == off1:
        return [first.astimezone(UTC)], "normal"
    if off0 > off1:  # the clock went back: the wall time happened twice
        return [first.astimezone(UTC), second.astimezone(UTC)], "ambiguous"
    # Spring forward: fold=0 reads with the offset before the change, fold=1 after.
    # The transition lies between (wall - off1) and (wall - off0); find it to the second.
    naive = wall.replace(tzinfo=UTC)
    lo, hi = naive - off1, naive - off0
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(tz).utcoffset() == off0:
            lo = mid
        else:
            hi = mid
    return [hi], "gap"


def _day(wall: datetime) -> str:
    return f"{wall.day} {wall:%b %Y}"


@lru_cache(maxsize=4096)
def _parsed(rule: str) -> CronSim:
    """``rule`` parsed once: cronsim parses the fields on every construction, which cost
    more than finding the next run. Copies of it iterate (``_walls``)."""
    return CronSim(rule, datetime(2000, 1, 1))


def _walls(rule: str, start: datetime) -> Iterator[datetime]:
    """Naive wall times matching ``rule``, strictly after naive ``start``, in order."""
    # A copy of the parsed rule, started where CronSim(rule, start) would start: a forward
    # iteration from a naive time only sets `dt` (cronsim 2.x; the fields are read-only).
    it = copy.copy(_parsed(rule))
    it.dt = start.replace(microsecond=0)
    while True:
        try:
            yield next(it)
        except StopIteration:  # cronsim gives up after 50 years without a match
            return


def iter_occurrences(cron: Cron, after: datetime) -> Iterator[Occurrence]:
    """All occurrences strictly after the aware instant ``after``, in order, up to ``until``."""
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    tz = _zone(cron.zone)
    after = after.astimezone(UTC)
    # A wall time w is the instant w - offset, so the first wall time that can map after
    # `after` is `after` + the least offset in force around then. Start one offset change
    # (hi - lo) earlier still, so a spring-forward gap just before is seen whole (its runs
    # merge into one, its note names them all). Starting a whole day early, as this did,
    # walked 1,440 wall times of an every-minute rule for each next run.
    lo, hi = _offset_bounds(cron.zone, after.date())
    start = after.replace(tzinfo=None) + lo - (hi - lo)
    runs = _fixed_time(cron.rule, tz, start) if is_fixed_time(cron.rule) else _periodic(cron.rule, tz, start)
    for occurrence in runs:
        if occurrence.at_utc <= after:
            continue
        if cron.until is not None and occurrence.at_utc > cron.until:
            return
        yield occurrence


@cache
def _offset_bounds(zone: str, day: date) -> tuple[timedelta, timedelta]:
    """The least and greatest UTC offsets ``zone`` has at instants from 2 days before UTC
    ``day`` to 3 days after, sampled hourly (no zone keeps an offset for less than an hour).

    Offsets move by at most a day at once (Pacific/Apia, 2011), so every wall time within
    a day of ``day`` maps to an instant whose offset is within these bounds.
    """
    tz = _zone(zone)
    first = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=2)
    offsets = {(first + timedelta(hours=h)).astimezone(tz).utcoffset() for h in range(0, 5 * 24 + 1)}
    return min(offsets), max(offsets)


def _fixed_time(rule: str, tz: ZoneInfo, start: datetime) -> Iterator[Occurrence]:
    last = None
    for wall in _walls(rule, start):
        (at, *_), kind = _instants(wall, tz)
        if at == last:  # two wall times in one gap: one run
            continue
        last = at
        local = at.astimezone(tz)
        note = None
        if kind == "gap":
            note = (
                f"{wall:%H:%M} does not exist on {_day(wall)} in {tz.key}; "
                f"this run will happen at {local:%H:%M}"
            )
        elif kind == "ambiguous":
            note = (
                f"{wall:%H:%M} happens twice on {_day(wall)} in {tz.key}; "
                f"this run happens once, at the first {wall:%H:%M} (UTC{local:%z})"
            )
        yield Occurrence(at, local, note)


def _periodic(rule: str, tz: ZoneInfo, start: datetime) -> Iterator[Occurrence]:
    # Wall times come in wall order; their instants may not (a repeated hour comes
    # back). Hold them in a heap and release an instant once no later wall time can
    # map before it: a later wall time w' is the instant w' - offset(w').
    heap: list[tuple[datetime, int, Occurrence]] = []
    counter = itertools.count()
    skipped: list[datetime] = []
    for wall in _walls(rule, start):
        instants, kind = _instants(wall, tz)
        if kind == "gap":
            skipped.append(wall)
            continue
        note = _skipped_note(skipped, tz) if skipped else None
        skipped = []
        for index, at in enumerate(instants):
            local = at.astimezone(tz)
            this_note = note
            if kind == "ambiguous":
                which = ("first", "second")[index]
                this_note = (
                    f"{wall:%H:%M} happens twice on {_day(wall)} in {tz.key}; "
                    f"this rule runs at both, this is the {which} (UTC{local:%z})"
                )
            heapq.heappush(heap, (at, next(counter), Occurrence(at, local, this_note)))
        # Release what no later wall time can precede: a later one maps at or after
        # wall - (the greatest offset around it); a day or more later, after it anyway.
        horizon = wall.replace(tzinfo=UTC) - _offset_bounds(tz.key, wall.date())[1]
        while heap and heap[0][0] < horizon:
            yield heapq.heappop(heap)[2]
    while heap:
        yield heapq.heappop(heap)[2]


def _skipped_note(walls: list[datetime], tz: ZoneInfo) -> str:
    first = walls[0]
    if len(walls) == 1:
        what = f"{first:%H:%M} does not exist"
    elif len(walls) <= 4:
        what = ", ".join(f"{w:%H:%M}" for w in walls[:-1]) + f" and {walls[-1]:%H:%M} do not exist"
    else:
        what = f"the {len(walls)} runs from {first:%H:%M} to {walls[-1]:%H:%M} do not exist"
    return f"{what} on {_day(first)} in {tz.key} (the clocks jump forward); skipped"


# --- public helpers -------------------------------------------------------------------------


def next_occurrences(cron: Cron, after: datetime, count: int = 5) -> list[Occurrence]:
    """The next ``count`` occurrences strictly after the aware instant ``after``.

    Fewer when the rule ends (``until``) or never fires again.
    """
    return list(itertools.islice(iter_occurrences(cron, after), count))


def coalesce_missed(
    cron: Cron, last_planned: datetime, now: datetime, catch_up: timedelta | None = None
) -> tuple[datetime | None, list[datetime]]:
    """Decide what to do about runs missed while the system was down.

    Missed runs are the occurrences strictly after ``last_planned`` (the last one
    that ran or was recorded) and at or before ``now``. If the latest of them is
    at most ``catch_up`` (default: the rule's own, PT1H) before ``now``, one late
    run stands for all: it is returned as ``run_at`` (its planned instant; run it
    now, lateness = now - run_at) and all the others are ``skipped``, to be
    recorded as "missed while down". If even the latest is older than the window,
    ``run_at`` is None and every missed run is skipped. Nothing missed: ``(None, [])``.
    """
    window = cron.catch_up if catch_up is None else catch_up
    due = itertools.takewhile(lambda o: o.at_utc <= now, iter_occurrences(cron, last_planned))
    missed = [occurrence.at_utc for occurrence in due]
    if not missed:
        return None, []
    latest = missed[-1]
    if now - latest <= window:
        return latest, missed[:-1]
    return None, missed


def dst_warnings(cron: Cron, occurrences: list[Occurrence]) -> list[str]:
    """The DST warnings to show with a preview: each distinct note, in order.

    E.g. "02:30 does not exist on 28 Mar 2027 in Europe/Paris; this run will happen at 03:00".
    """
    del cron  # the notes already name the zone; kept in the signature for the preview API
    seen: list[str] = []
    for occurrence in occurrences:
        if occurrence.note and occurrence.note not in seen:
            seen.append(occurrence.note)
    return seen
