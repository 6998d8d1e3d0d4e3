"""Cron rules across the 2027 DST changes, against a frozen clock.

The clock is frozen by construction: ``next_occurrences`` is given the instant to
start from, so every test here is exact. The oracle is brute force and knows
nothing of the implementation: it walks every UTC minute of a window and reads
the wall clock with zoneinfo.

* a periodic rule (minute or hour starts with ``*``) runs at every real minute
  whose wall clock matches;
* a fixed-time rule runs each matching wall time at the first real minute whose
  wall clock reads that time or later (that is: itself; the gap's end when it
  does not exist; its first occurrence when it happens twice).
"""

from bisect import bisect_left
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate, pairwise, takewhile
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automations import Cron, dst_warnings, next_occurrences
from automations.cron import is_fixed_time, iter_occurrences

#: (zone, the instant of the change in UTC, "gap" or "fold", first and last wall minute skipped or repeated)
TRANSITIONS = [
    ("Europe/Paris", datetime(2027, 3, 28, 1, 0, tzinfo=UTC), "gap", (2, 0), (2, 59)),
    ("Europe/Paris", datetime(2027, 10, 31, 1, 0, tzinfo=UTC), "fold", (2, 0), (2, 59)),
    ("America/New_York", datetime(2027, 3, 14, 7, 0, tzinfo=UTC), "gap", (2, 0), (2, 59)),
    ("America/New_York", datetime(2027, 11, 7, 6, 0, tzinfo=UTC), "fold", (1, 0), (1, 59)),
    ("Australia/Sydney", datetime(2027, 10, 2, 16, 0, tzinfo=UTC), "gap", (2, 0), (2, 59)),
    ("Australia/Sydney", datetime(2027, 4, 3, 16, 0, tzinfo=UTC), "fold", (2, 0), (2, 59)),
    ("Australia/Lord_Howe", datetime(2027, 10, 2, 15, 30, tzinfo=UTC), "gap", (2, 0), (2, 29)),
    ("Australia/Lord_Howe", datetime(2027, 4, 3, 15, 0, tzinfo=UTC), "fold", (1, 30), (1, 59)),
]
WINDOW = timedelta(hours=30)
MINUTE = timedelta(minutes=1)
ONE_DAY = timedelta(days=1)


def test_the_transitions_are_where_the_table_says():
    """Guard the fixture itself: the offset changes at exactly that instant, by that much."""
    for zone, change, kind, first, last in TRANSITIONS:
        tz = ZoneInfo(zone)
        before, after = (change - MINUTE).astimezone(tz), change.astimezone(tz)
        shift = after.utcoffset() - before.utcoffset()
        assert (shift > timedelta(0)) == (kind == "gap"), zone
        wall_minutes = (last[0] * 60 + last[1]) - (first[0] * 60 + first[1]) + 1
        assert abs(shift) == timedelta(minutes=wall_minutes), zone


def occurrences_in(rule, zone, start, end):
    """Occurrences strictly after ``start`` and before ``end``."""
    return list(takewhile(lambda o: o.at_utc < end, iter_occurrences(Cron(rule, zone), start)))


def parse_field(text, low, high):
    values = set()
    for term in text.split(","):
        base, _, step = term.partition("/")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first, last = map(int, base.split("-"))
        else:
            first = last = int(base)
            if step:
                last = high
        values.update(range(first, last + 1, int(step or 1)))
    return values


def oracle(rule, zone, start, end):
    """The UTC instants in (start, end) at which ``rule`` (any day) must run, by brute force."""
    tz = ZoneInfo(zone)
    minute_field, hour_field = rule.split()[:2]
    minutes, hours = parse_field(minute_field, 0, 59), parse_field(hour_field, 0, 23)
    scan_from, scan_to = start - timedelta(days=1), end + timedelta(days=1)
    instants, walls = [], []
    t = scan_from
    while t <= scan_to:
        instants.append(t)
        walls.append(t.astimezone(tz).replace(tzinfo=None))
        t += MINUTE
    if not is_fixed_time(rule):
        return [t for t, w in zip(instants, walls, strict=True)
                if start < t < end and w.minute in minutes and w.hour in hours]
    highest = list(accumulate(walls, max))  # the wall clock's high-water mark, monotone
    runs = set()
    day = walls[0].date() + timedelta(days=1)
    while day < walls[-1].date():
        for hour in hours:
            for minute in minutes:
                wall = datetime(day.year, day.month, day.day, hour, minute)
                runs.add(instants[bisect_left(highest, wall)])
        day += timedelta(days=1)
    return sorted(t for t in runs if start < t < end)


values = st.integers
minute_fields = st.one_of(
    values(0, 59).map(str),
    st.lists(values(0, 59), min_size=2, max_size=4, unique=True).map(
        lambda xs: ",".join(map(str, sorted(xs)))
    ),
    st.sampled_from(["*/5", "*/15", "*/20", "*/30", "*/7", "10-40/10"]),
)
fixed_hour_fields = st.one_of(
    values(0, 23).map(str),
    st.sampled_from(["1,2,3", "2,3", "0-4", "1-3", "2", "1", "3"]),
)
hour_fields = st.one_of(fixed_hour_fields, st.sampled_from(["*", "*/2", "*/3", "*/5"]))
fixed_minutes = st.one_of(values(0, 59).map(str), st.sampled_from(["0", "15", "30", "45", "0,30", "15,45"]))
transitions = st.sampled_from(TRANSITIONS)


@settings(max_examples=120, deadline=None)
@given(transitions, minute_fields, hour_fields)
def test_runs_match_the_brute_force_oracle(transition, minute, hour):
    zone, change, *_ = transition
    rule = f"{minute} {hour} * * *"
    start, end = change - WINDOW, change + WINDOW
    got = occurrences_in(rule, zone, start, end)
    at = [o.at_utc for o in got]
    assert at == sorted(set(at)), "every occurrence is unique and strictly increasing"
    assert at == oracle(rule, zone, start, end)
    for occurrence in got:
        assert occurrence.local == occurrence.at_utc.astimezone(ZoneInfo(zone))


@settings(max_examples=80, deadline=None)
@given(transitions, values(0, 59), st.sampled_from(range(24)))
def test_a_fixed_time_runs_exactly_once_per_day(transition, minute, hour):
    zone, change, *_ = transition
    tz = ZoneInfo(zone)
    start, end = change - timedelta(days=3), change + timedelta(days=3)
    got = occurrences_in(f"{minute} {hour} * * *", zone, start, end)
    days = [o.local.date() for o in got]
    assert len(days) == len(set(days)), "never twice on one day"
    first_full_day = start.astimezone(tz).date() + timedelta(days=1)
    last_full_day = end.astimezone(tz).date() - timedelta(days=1)
    expected = [first_full_day + timedelta(days=n) for n in range((last_full_day - first_full_day).days + 1)]
    assert [d for d in days if first_full_day <= d <= last_full_day] == expected


def affected_walls(transition):
    zone, change, _, (h1, m1), (h2, m2) = transition
    day = change.astimezone(ZoneInfo(zone)).date()
    first, last = h1 * 60 + m1, h2 * 60 + m2
    return [(day, divmod(m, 60)) for m in range(first, last + 1)]


GAPS = [t for t in TRANSITIONS if t[2] == "gap"]
FOLDS = [t for t in TRANSITIONS if t[2] == "fold"]


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(GAPS), st.data())
def test_a_time_in_the_gap_runs_at_the_gap_end(transition, data):
    zone, change, *_ = transition
    day, (hour, minute) = data.draw(st.sampled_from(affected_walls(transition)))
    got = occurrences_in(f"{minute} {hour} * * *", zone, change - timedelta(days=1), change + ONE_DAY / 2)
    on_the_day = [o for o in got if o.local.date() == day]
    assert [o.at_utc for o in on_the_day] == [change]
    assert f"{hour:02d}:{minute:02d} does not exist on {day.day} {day:%b %Y} in {zone}" in on_the_day[0].note


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(FOLDS), st.data())
def test_a_repeated_time_runs_at_its_first_occurrence_only(transition, data):
    zone, change, *_ = transition
    tz = ZoneInfo(zone)
    day, (hour, minute) = data.draw(st.sampled_from(affected_walls(transition)))
    got = occurrences_in(f"{minute} {hour} * * *", zone, change - timedelta(days=1), change + ONE_DAY / 2)
    on_the_day = [o for o in got if o.local.date() == day]
    first = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz, fold=0)
    assert [o.at_utc for o in on_the_day] == [first.astimezone(UTC)]
    assert on_the_day[0].at_utc < change, "the first one is before the clocks go back"
    assert "happens twice" in on_the_day[0].note


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([t for t in TRANSITIONS if t[0] != "Australia/Lord_Howe"]), values(0, 59))
def test_a_star_hour_runs_once_per_real_hour(transition, minute):
    zone, change, *_ = transition
    start = change.replace(minute=0) - timedelta(hours=24)
    end = start + timedelta(hours=48)
    got = occurrences_in(f"{minute} * * * *", zone, start - timedelta(seconds=1), end)
    hours = [o.at_utc.replace(minute=0) for o in got]
    assert hours == [start + timedelta(hours=n) for n in range(48)], "one run in each of 48 UTC hours"


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([t for t in TRANSITIONS if t[0] == "Australia/Lord_Howe"]), values(0, 59))
def test_a_star_hour_in_a_half_hour_shift_zone_runs_at_every_real_match(transition, minute):
    """Lord Howe moves by 30 minutes, so "once per real hour" holds give or take that half hour:
    runs are 60 minutes apart, except once, across the change, 30 or 90 minutes."""
    zone, change, kind, *_ = transition
    tz = ZoneInfo(zone)
    start, end = change - timedelta(hours=24), change + timedelta(hours=24)
    got = [o.at_utc for o in occurrences_in(f"{minute} * * * *", zone, start, end)]
    real = [start + n * MINUTE for n in range(1, 48 * 60)]
    assert got == [t for t in real if t.astimezone(tz).minute == minute]
    gaps = [later - earlier for earlier, later in pairwise(got)]
    odd = [gap for gap in gaps if gap != timedelta(minutes=60)]
    # fold: 01:mm (+11) then, for mm >= 30, the repeated 01:mm (+10:30) 30 minutes later,
    #       else 02:mm (+10:30) 90 minutes later;
    # gap:  01:mm (+10:30) then, for mm >= 30, 02:mm (+11) 30 minutes later,
    #       else (02:mm does not exist) 03:mm (+11) 90 minutes later.
    assert odd == [timedelta(minutes=30 if minute >= 30 else 90)], kind


# --- the table: explicit instants on each transition day ------------------------------------


def z(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


TABLE = [
    # Paris, spring forward 28 Mar 2027: 02:00 CET -> 03:00 CEST at 01:00 UTC
    ("Europe/Paris", "30 2 * * *", "2027-03-27T12:00Z", ["2027-03-28T01:00Z", "2027-03-29T00:30Z"]),
    ("Europe/Paris", "30 1 * * *", "2027-03-27T12:00Z", ["2027-03-28T00:30Z", "2027-03-28T23:30Z"]),
    ("Europe/Paris", "30 3 * * *", "2027-03-27T12:00Z", ["2027-03-28T01:30Z", "2027-03-29T01:30Z"]),
    ("Europe/Paris", "0 1-3 * * *", "2027-03-27T23:00Z", ["2027-03-28T00:00Z", "2027-03-28T01:00Z",
                                                         "2027-03-28T23:00Z"]),
    ("Europe/Paris", "0 * * * *", "2027-03-27T23:30Z", ["2027-03-28T00:00Z", "2027-03-28T01:00Z",
                                                       "2027-03-28T02:00Z"]),
    # Paris, fall back 31 Oct 2027: 03:00 CEST -> 02:00 CET at 01:00 UTC
    ("Europe/Paris", "30 2 * * *", "2027-10-30T12:00Z", ["2027-10-31T00:30Z", "2027-11-01T01:30Z"]),
    ("Europe/Paris", "0 * * * *", "2027-10-30T23:30Z", ["2027-10-31T00:00Z", "2027-10-31T01:00Z",
                                                       "2027-10-31T02:00Z"]),
    ("Europe/Paris", "*/30 2 * * *", "2027-10-30T23:30Z", ["2027-10-31T00:00Z", "2027-10-31T00:30Z",
                                                          "2027-10-31T01:00Z", "2027-10-31T01:30Z",
                                                          "2027-11-01T01:00Z"]),
    # New York, spring forward 14 Mar 2027: 02:00 EST -> 03:00 EDT at 07:00 UTC
    ("America/New_York", "30 2 * * *", "2027-03-13T12:00Z", ["2027-03-14T07:00Z", "2027-03-15T06:30Z"]),
    ("America/New_York", "0 * * * *", "2027-03-14T05:30Z", ["2027-03-14T06:00Z", "2027-03-14T07:00Z",
                                                           "2027-03-14T08:00Z"]),
    # New York, fall back 7 Nov 2027: 02:00 EDT -> 01:00 EST at 06:00 UTC
    ("America/New_York", "30 1 * * *", "2027-11-06T12:00Z", ["2027-11-07T05:30Z", "2027-11-08T06:30Z"]),
    ("America/New_York", "0 * * * *", "2027-11-07T04:30Z", ["2027-11-07T05:00Z", "2027-11-07T06:00Z",
                                                           "2027-11-07T07:00Z"]),
    # Sydney, fall back 4 Apr 2027: 03:00 AEDT -> 02:00 AEST at 16:00 UTC on 3 Apr
    ("Australia/Sydney", "30 2 * * *", "2027-04-03T00:00Z", ["2027-04-03T15:30Z", "2027-04-04T16:30Z"]),
    ("Australia/Sydney", "0 2 * * *", "2027-04-03T00:00Z", ["2027-04-03T15:00Z", "2027-04-04T16:00Z"]),
    # Sydney, spring forward 3 Oct 2027: 02:00 AEST -> 03:00 AEDT at 16:00 UTC on 2 Oct
    ("Australia/Sydney", "30 2 * * *", "2027-10-02T00:00Z", ["2027-10-02T16:00Z", "2027-10-03T15:30Z"]),
    ("Australia/Sydney", "0 * * * *", "2027-10-02T14:30Z", ["2027-10-02T15:00Z", "2027-10-02T16:00Z",
                                                           "2027-10-02T17:00Z"]),
    # Lord Howe, fall back 4 Apr 2027: 02:00 (+11) -> 01:30 (+10:30) at 15:00 UTC on 3 Apr
    ("Australia/Lord_Howe", "45 1 * * *", "2027-04-03T00:00Z", ["2027-04-03T14:45Z", "2027-04-04T15:15Z"]),
    ("Australia/Lord_Howe", "30 * * * *", "2027-04-03T14:00Z", ["2027-04-03T14:30Z", "2027-04-03T15:00Z",
                                                               "2027-04-03T16:00Z"]),
    # Lord Howe, spring forward 3 Oct 2027: 02:00 (+10:30) -> 02:30 (+11) at 15:30 UTC on 2 Oct
    ("Australia/Lord_Howe", "15 2 * * *", "2027-10-02T00:00Z", ["2027-10-02T15:30Z", "2027-10-03T15:15Z"]),
    ("Australia/Lord_Howe", "0 * * * *", "2027-10-02T14:00Z", ["2027-10-02T14:30Z", "2027-10-02T16:00Z"]),
]


@pytest.mark.parametrize("zone, rule, after, expected", TABLE)
def test_explicit_instants_on_transition_days(zone, rule, after, expected):
    got = next_occurrences(Cron(rule, zone), z(after), len(expected))
    assert [o.at_utc for o in got] == [z(e) for e in expected]


def test_preview_of_a_gap_day_says_when_the_run_happens():
    cron = Cron("30 2 * * *", "Europe/Paris")
    occurrences = next_occurrences(cron, z("2027-03-26T12:00Z"), 5)
    assert [o.local.isoformat() for o in occurrences[:3]] == [
        "2027-03-27T02:30:00+01:00", "2027-03-28T03:00:00+02:00", "2027-03-29T02:30:00+02:00"]
    assert dst_warnings(cron, occurrences) == [
        "02:30 does not exist on 28 Mar 2027 in Europe/Paris; this run will happen at 03:00"]


def test_preview_of_a_fold_day_says_which_run_happens():
    cron = Cron("30 1 * * *", "America/New_York")
    assert dst_warnings(cron, next_occurrences(cron, z("2027-11-06T12:00Z"), 5)) == [
        "01:30 happens twice on 7 Nov 2027 in America/New_York; "
        "this run happens once, at the first 01:30 (UTC-0400)"]


def test_periodic_rules_warn_about_runs_the_gap_swallows():
    cron = Cron("*/30 2 * * *", "America/New_York")
    warnings = dst_warnings(cron, next_occurrences(cron, z("2027-03-13T12:00Z"), 5))
    assert warnings == ["02:00 and 02:30 do not exist on 14 Mar 2027 in America/New_York "
                        "(the clocks jump forward); skipped"]


def test_starting_inside_the_repeated_hour_does_not_go_back_in_time():
    """From the second 01:10 in New York, the 01:30 run (already done at the first 01:30) is not due."""
    second_0110 = datetime(2027, 11, 7, 1, 10, tzinfo=ZoneInfo("America/New_York"), fold=1)
    got = next_occurrences(Cron("30 1 * * *", "America/New_York"), second_0110, 1)
    assert got[0].at_utc == z("2027-11-08T06:30Z")
    hourly = next_occurrences(Cron("30 * * * *", "America/New_York"), second_0110, 2)
    assert [o.at_utc for o in hourly] == [z("2027-11-07T06:30Z"), z("2027-11-07T07:30Z")]


def test_a_weekly_rule_skips_nothing_across_a_change():
    got = next_occurrences(Cron("0 7 * * 1", "Europe/Paris"), z("2027-03-20T00:00Z"), 3)
    assert [o.local.date() for o in got] == [date(2027, 3, 22), date(2027, 3, 29), date(2027, 4, 5)]
    assert [o.local.hour for o in got] == [7, 7, 7]


@pytest.mark.parametrize("zone, change", [
    ("Pacific/Apia", datetime(2011, 12, 30, 10, 0, tzinfo=UTC)),  # skipped a whole day (-10h -> +14h)
    ("America/Santiago", datetime(2027, 4, 4, 3, 0, tzinfo=UTC)),  # changes at midnight
])
@pytest.mark.parametrize("rule", ["0 */6 * * *", "30 * * * *", "0 0 * * *", "30 23 * * *", "0 12 * * *"])
def test_extreme_changes_match_the_oracle(zone, change, rule):
    start, end = change - timedelta(hours=40), change + timedelta(hours=40)
    assert [o.at_utc for o in occurrences_in(rule, zone, start, end)] == oracle(rule, zone, start, end)
