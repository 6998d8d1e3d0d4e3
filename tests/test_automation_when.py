"""Automations' ``when``: what may be sent, what it becomes, and what a wrong one is told.

Pure functions: the clock is the ``now`` every call is given, so nothing here waits.
"""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automations import (
    At,
    Cron,
    DurationError,
    OnStatus,
    OnUser,
    Relative,
    WhenError,
    coalesce_missed,
    describe,
    dst_warnings,
    next_occurrences,
    parse_duration,
    parse_when,
)

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def election_when(data, zone="Europe/Paris"):
    return parse_when(data, scope="election", default_zone=zone, now=NOW)


def global_when(data, zone="UTC"):
    return parse_when(data, scope="global", default_zone=zone, now=NOW)


def refusal(data, scope="election") -> WhenError:
    with pytest.raises(WhenError) as caught:
        parse_when(data, scope=scope, default_zone="Europe/Paris", now=NOW)
    return caught.value


# --- what each variant becomes --------------------------------------------------------------


def test_at_is_a_due_date_kept_with_its_offset():
    when = election_when({"at": "2026-12-01T09:00:00+01:00"})
    assert when == At(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    assert when.to_json() == {"at": "2026-12-01T09:00:00+01:00"}


def test_cron_rule_takes_the_election_zone_when_none_is_given():
    when = election_when({"cron_rule": "0  7 * * mon"}, zone="America/New_York")
    assert when == Cron("0 7 * * MON", "America/New_York", None, timedelta(hours=1))
    assert when.to_json() == {"cron_rule": "0 7 * * MON", "timezone": "America/New_York", "catch_up": "PT1H"}


def test_cron_rule_with_its_own_zone_until_and_catch_up():
    when = election_when({
        "cron_rule": "0 7 * * 1", "timezone": "Australia/Sydney",
        "until": "2027-06-01T00:00:00+10:00", "catch_up": "PT2H",
    })
    assert when.zone == "Australia/Sydney"
    assert when.until == datetime(2027, 5, 31, 14, 0, tzinfo=UTC)
    assert when.catch_up == timedelta(hours=2)


@pytest.mark.parametrize("data, expected", [
    ({"before": "end_voting", "offset": "PT24H"}, Relative("end_voting", -1, timedelta(hours=24))),
    ({"after": "start_voting", "delay": "PT1H"}, Relative("start_voting", +1, timedelta(hours=1))),
    ({"on": "election.started"}, OnStatus("election.started")),
    ({"after": "election.stopped", "delay": "PT1H"}, OnStatus("election.stopped", timedelta(hours=1))),
])
def test_election_variants(data, expected):
    assert election_when(data) == expected


@pytest.mark.parametrize("data, expected", [
    ({"on": "user.created"}, OnUser("user.created")),
    ({"on": "user.activated"}, OnUser("user.activated")),
    ({"after": "user.last_login", "delay": "P7D"}, OnUser("user.last_login", timedelta(days=7))),
    ({"cron_rule": "0 7 * * 1"}, Cron("0 7 * * 1", "UTC")),
])
def test_global_variants(data, expected):
    assert global_when(data) == expected


def test_relative_run_moves_with_its_anchor():
    when = election_when({"before": "end_voting", "offset": "PT24H"})
    end = datetime(2027, 3, 1, 18, 0, tzinfo=UTC)
    assert when.run_at(end) == datetime(2027, 2, 28, 18, 0, tzinfo=UTC)
    assert when.run_at(end + timedelta(days=2)) == datetime(2027, 3, 2, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize("data", [
    {"at": "2026-12-01T09:00:00+01:00"},
    {"cron_rule": "*/15 9-17 * * MON-FRI", "timezone": "Europe/Paris"},
    {"cron_rule": "30 2 * * *", "timezone": "Europe/Paris", "until": "2027-12-31T23:00:00+01:00",
     "catch_up": "PT30M"},
    {"before": "end_voting", "offset": "PT36H"},
    {"after": "start_voting", "delay": "P1DT2H30M"},
    {"on": "election.suspended"},
    {"after": "election.resumed", "delay": "PT5M"},
])
def test_to_json_is_canonical_and_round_trips(data):
    when = election_when(data)
    canonical = when.to_json()
    again = election_when(canonical)
    assert again == when
    assert again.to_json() == canonical


def test_equivalent_inputs_share_one_canonical_form():
    assert election_when({"before": "end_voting", "offset": "PT24H"}).to_json() == {
        "before": "end_voting", "offset": "P1D"}
    assert election_when({"after": "start_voting", "delay": "PT90M"}).to_json() == {
        "after": "start_voting", "delay": "PT1H30M"}


# --- bad input: the field to blame and the fix ----------------------------------------------


@pytest.mark.parametrize("data, field, message", [
    # cron rules
    ({"cron_rule": "0 25 * * *"}, "when.cron_rule", "'0 25 * * *': hour 25 is out of range 0\N{EN DASH}23"),
    ({"cron_rule": "60 * * * *"}, "when.cron_rule", "minute 60 is out of range 0\N{EN DASH}59"),
    ({"cron_rule": "0 0 32 * *"}, "when.cron_rule", "day-of-month 32 is out of range 1\N{EN DASH}31"),
    ({"cron_rule": "0 0 * 13 *"}, "when.cron_rule", "month 13 is out of range 1\N{EN DASH}12"),
    ({"cron_rule": "0 0 * * 8"}, "when.cron_rule", "day-of-week 8 is out of range 0\N{EN DASH}7"),
    ({"cron_rule": "0 7 * *"}, "when.cron_rule", "a cron rule has five fields"),
    ({"cron_rule": "@daily"}, "when.cron_rule", "a cron rule has five fields"),
    ({"cron_rule": "0 0 0 7 * * *"}, "when.cron_rule", "this one has 7"),
    ({"cron_rule": "0 5-2 * * *"}, "when.cron_rule", "hour range 5-2 goes backwards; write it low to high"),
    ({"cron_rule": "*/0 * * * *"}, "when.cron_rule", "minute step '0' must be a whole number of 1 or more"),
    ({"cron_rule": "0 0 L * *"}, "when.cron_rule", "day-of-month 'L' is not a number"),
    ({"cron_rule": "0 0 * JANX *"}, "when.cron_rule", "month 'JANX' is not a number, or a name such as JAN"),
    ({"cron_rule": 7}, "when.cron_rule", "must be a string of five fields"),
    # rules that can never fire
    ({"cron_rule": "0 0 30 2 *"}, "when.cron_rule", "'0 0 30 2 *' can never fire"),
    ({"cron_rule": "0 0 31 4,6 *"}, "when.cron_rule", "can never fire"),
    ({"cron_rule": "0 9 * * *", "until": "2026-11-30T09:30:00+01:00"}, "when.until",
     "is before the next run (2026-12-01T09:00:00+01:00), so the rule would never fire"),
    ({"cron_rule": "0 9 * * *", "until": "2027-01-01"}, "when.until", "has no UTC offset"),
    # time zones
    ({"cron_rule": "0 7 * * 1", "timezone": "Europe/Pariss"}, "when.timezone",
     "'Europe/Pariss' is not a known IANA time zone; e.g. Europe/Paris"),
    ({"cron_rule": "0 7 * * 1", "timezone": "CEST"}, "when.timezone", "'CEST' is not a known IANA time zone"),
    ({"cron_rule": "0 7 * * 1", "timezone": "../../etc/passwd"}, "when.timezone", "not a known IANA"),
    ({"cron_rule": "0 7 * * 1", "timezone": None}, "when.timezone", "None is not a known IANA time zone"),
    # durations
    ({"before": "end_voting", "offset": "24h"}, "when.offset", "'24h' is not an ISO 8601 duration"),
    ({"before": "end_voting", "offset": "-PT24H"}, "when.offset", "has a sign; durations are never negative"),
    ({"before": "end_voting", "offset": "PT0S"}, "when.offset", "is zero"),
    ({"before": "end_voting", "offset": "P1M"}, "when.offset", "uses years or months"),
    ({"after": "start_voting", "delay": "P1Y"}, "when.delay", "give days instead, e.g. 'P30D'"),
    ({"after": "start_voting", "delay": 3600}, "when.delay", "must be an ISO 8601 duration string"),
    ({"cron_rule": "0 7 * * 1", "catch_up": "soon"}, "when.catch_up", "not an ISO 8601 duration"),
    ({"before": "end_voting"}, "when.offset", "is required with 'before'"),
    ({"after": "start_voting"}, "when.delay", "is required with 'after'"),
    # unknown events and triggers
    ({"before": "end_vote", "offset": "PT1H"}, "when.before",
     "'end_vote' is not a scheduled event; use start_voting or end_voting"),
    ({"before": "election.started", "offset": "PT1H"}, "when.before", "nothing can run before it"),
    ({"after": "election.exploded", "delay": "PT1H"}, "when.after",
     "'election.exploded' is not a known event"),
    ({"on": "election.paused"}, "when.on",
     "'election.paused' is not a known event; use one of election.started"),
    ({"on": "end_voting"}, "when.on", "is a scheduled time, not a status change"),
    ({"on": ["election.started"]}, "when.on", "must be an event name"),
    # user triggers on an election automation
    ({"on": "user.created"}, "when.on", "'user.created' is a user trigger, only for global automations"),
    ({"after": "user.last_login", "delay": "P7D"}, "when.after", "is a user trigger, only for global"),
    # shape
    ({"before": "end_voting", "after": "start_voting", "offset": "PT1H"}, "when",
     "give exactly one of 'at', 'cron_rule', 'before', 'after' or 'on'; got 'before' and 'after'"),
    ({"at": "2026-12-01T09:00:00Z", "cron_rule": "0 7 * * 1"}, "when", "got 'at' and 'cron_rule'"),
    ({}, "when", "got none"),
    ("tomorrow", "when", "must be an object"),
    ({"on": "election.started", "delay": "PT1H"}, "when.delay", "is not allowed with 'on'"),
    ({"at": "2026-12-01T09:00:00Z", "timezone": "UTC"}, "when.timezone", "is not allowed with 'at'"),
    # at
    ({"at": "2026-11-30T09:00:00Z"}, "when.at", "is in the past (now is 2026-11-30T09:00:00+00:00)"),
    ({"at": "2020-01-01T00:00:00Z"}, "when.at", "give a future moment"),
    ({"at": "2026-12-01T09:00:00"}, "when.at", "has no UTC offset; add one (+01:00 or Z)"),
    ({"at": "next tuesday"}, "when.at", "is not an ISO 8601 date-time"),
])
def test_bad_input_names_the_field_and_the_fix(data, field, message):
    error = refusal(data)
    assert error.field == field
    assert message in error.message


@pytest.mark.parametrize("data, field, message", [
    ({"before": "end_voting", "offset": "PT1H"}, "when.before", "a global automation has no election"),
    ({"after": "start_voting", "delay": "PT1H"}, "when.after", "a global automation has no election"),
    ({"on": "user.last_login"}, "when.on", "is a moment, not an event"),
    ({"on": "user.deleted"}, "when.on", "use one of election.started"),
])
def test_bad_global_input(data, field, message):
    error = refusal(data, scope="global")
    assert error.field == field
    assert message in error.message


def test_a_close_zone_name_is_suggested():
    assert "e.g. America/New_York" in refusal(
        {"cron_rule": "0 7 * * 1", "timezone": "America/NewYork"}).message


# --- durations ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("PT24H", timedelta(hours=24)),
    ("P7D", timedelta(days=7)),
    ("P1W", timedelta(days=7)),
    ("PT1H30M", timedelta(hours=1, minutes=30)),
    ("P1DT2H", timedelta(days=1, hours=2)),
    ("PT1.5H", timedelta(hours=1, minutes=30)),
    ("PT0,5M", timedelta(seconds=30)),
    ("PT45S", timedelta(seconds=45)),
    ("pt1h", timedelta(hours=1)),
])
def test_durations_of_fixed_length(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text, message", [
    ("P1M", "uses years or months"),
    ("P1Y2M", "uses years or months"),
    ("-P1D", "has a sign"),
    ("PT0H", "is zero"),
    ("P", "is not an ISO 8601 duration"),
    ("PT", "is not an ISO 8601 duration"),
    ("P1DT", "is not an ISO 8601 duration"),
    ("1 hour", "is not an ISO 8601 duration"),
    ("P1.5DT2H", "only the last unit may have a fraction"),
    ("PT0.5S", "whole number of seconds"),
    ("P3651D", "longer than ten years"),
])
def test_durations_refused(text, message):
    with pytest.raises(DurationError, match=message):
        parse_duration(text)


# --- plain words ----------------------------------------------------------------------------


@pytest.mark.parametrize("data, words", [
    ({"cron_rule": "0 7 * * 1"}, "At 07:00 on Monday, Europe/Paris time"),
    ({"cron_rule": "*/15 * * * *", "timezone": "UTC"}, "Every 15th minute of every hour, UTC time"),
    ({"before": "end_voting", "offset": "PT24H"}, "24 hours before voting closes"),
    ({"after": "start_voting", "delay": "PT1H"}, "1 hour after voting opens"),
    ({"before": "start_voting", "offset": "P3D"}, "3 days before voting opens"),
    ({"on": "election.started"}, "When the election starts"),
    ({"after": "election.stopped", "delay": "PT1H30M"}, "1 hour 30 minutes after the election stops"),
    ({"at": "2026-12-01T08:00:00Z"}, "Once, on 1 Dec 2026 at 09:00 (Europe/Paris time)"),
])
def test_describe_in_plain_words(data, words):
    assert describe(election_when(data), "Europe/Paris") == words


def test_describe_user_triggers():
    assert describe(global_when({"on": "user.created"}), "UTC") == "When a user account is created"
    assert describe(global_when({"after": "user.last_login", "delay": "P7D"}), "UTC") == (
        "7 days after a user's last login")


def test_preview_warns_about_a_time_that_does_not_exist():
    cron = election_when({"cron_rule": "30 2 * * *"})
    occurrences = next_occurrences(cron, datetime(2027, 3, 27, 12, 0, tzinfo=UTC), 5)
    assert [o.to_json()["at"] for o in occurrences[:2]] == ["2027-03-28T01:00:00Z", "2027-03-29T00:30:00Z"]
    assert occurrences[0].to_json()["local"] == "2027-03-28T03:00:00+02:00"
    assert dst_warnings(cron, occurrences) == [
        "02:30 does not exist on 28 Mar 2027 in Europe/Paris; this run will happen at 03:00"]


def test_preview_on_an_ordinary_day_has_no_warning():
    cron = election_when({"cron_rule": "0 7 * * 1"})
    occurrences = next_occurrences(cron, NOW, 5)
    assert [o.local.isoformat() for o in occurrences] == [
        "2026-12-07T07:00:00+01:00", "2026-12-14T07:00:00+01:00", "2026-12-21T07:00:00+01:00",
        "2026-12-28T07:00:00+01:00", "2027-01-04T07:00:00+01:00"]
    assert dst_warnings(cron, occurrences) == []


def test_occurrences_stop_at_until():
    cron = election_when({"cron_rule": "0 9 * * *", "until": "2026-12-02T09:00:00+01:00"})
    assert [o.local.day for o in next_occurrences(cron, NOW, 5)] == [1, 2]


# --- missed while down ----------------------------------------------------------------------


HOURLY = Cron("0 * * * *", "Europe/Paris")


def test_nothing_missed():
    last = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
    assert coalesce_missed(HOURLY, last, last + timedelta(minutes=59), timedelta(hours=1)) == (None, [])


def test_one_late_run_stands_for_every_missed_one_within_the_window():
    last = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
    now = datetime(2027, 1, 10, 12, 20, tzinfo=UTC)  # down from 09:00 to 12:20 UTC
    run_at, skipped = coalesce_missed(HOURLY, last, now, timedelta(hours=1))
    assert run_at == datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
    assert skipped == [datetime(2027, 1, 10, 10, 0, tzinfo=UTC), datetime(2027, 1, 10, 11, 0, tzinfo=UTC)]


def test_missed_runs_older_than_the_window_are_all_skipped():
    daily = Cron("0 7 * * *", "Europe/Paris", catch_up=timedelta(minutes=30))
    last = datetime(2027, 1, 10, 6, 0, tzinfo=UTC)
    now = datetime(2027, 1, 12, 9, 0, tzinfo=UTC)  # the 07:00 local runs were at 06:00 UTC
    run_at, skipped = coalesce_missed(daily, last, now)
    assert run_at is None
    assert skipped == [datetime(2027, 1, 11, 6, 0, tzinfo=UTC), datetime(2027, 1, 12, 6, 0, tzinfo=UTC)]


def test_a_run_due_exactly_now_is_run_not_skipped():
    last = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
    now = datetime(2027, 1, 10, 10, 0, tzinfo=UTC)
    assert coalesce_missed(HOURLY, last, now, timedelta(hours=1)) == (now, [])


def test_catch_up_window_defaults_to_the_rule_s_own():
    last = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
    now = datetime(2027, 1, 10, 11, 30, tzinfo=UTC)
    assert coalesce_missed(HOURLY, last, now) == (
        datetime(2027, 1, 10, 11, 0, tzinfo=UTC), [datetime(2027, 1, 10, 10, 0, tzinfo=UTC)])
    assert coalesce_missed(Cron("0 * * * *", "Europe/Paris", catch_up=timedelta(minutes=15)), last, now) == (
        None, [datetime(2027, 1, 10, 10, 0, tzinfo=UTC), datetime(2027, 1, 10, 11, 0, tzinfo=UTC)])


# --- never a 500: any JSON gets a WhenError or a value ----------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=6,
)
cron_terms = st.sampled_from(
    ["*", "*/5", "0", "7", "1-5", "MON", "jan", "L", "61", "5-2", "*/0", "", "?", "1,2"])
keys = st.sampled_from(["at", "cron_rule", "timezone", "until", "catch_up", "before", "after", "on", "offset",
                        "delay", "extra"])


scopes = st.sampled_from(["election", "global"])
likely_values = st.sampled_from(
    ["end_voting", "start_voting", "election.started", "user.created", "user.last_login", "PT1H", "P1M",
     "Europe/Paris", "2027-01-01T00:00:00Z", "0 7 * * 1"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, json_values | likely_values, max_size=4), scopes)
def test_any_json_gets_a_value_or_a_when_error(data, scope):
    try:
        when = parse_when(data, scope=scope, default_zone="Europe/Paris", now=NOW)
    except WhenError as error:
        assert error.field == "when" or error.field.startswith("when.")
        assert error.message
    else:
        assert parse_when(when.to_json(), scope=scope, default_zone="Europe/Paris", now=NOW) == when
        assert describe(when, "Europe/Paris")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(cron_terms, min_size=1, max_size=2).map(",".join), min_size=4, max_size=6))
def test_any_cron_rule_is_refused_clearly_or_runs(fields):
    rule = " ".join(fields)
    try:
        when = parse_when({"cron_rule": rule}, scope="election", default_zone="Europe/Paris", now=NOW)
    except WhenError as error:
        assert error.field == "when.cron_rule"
        return
    occurrences = next_occurrences(when, NOW, 3)
    assert occurrences and all(o.at_utc > NOW for o in occurrences)
    assert describe(when, "Europe/Paris").endswith("Europe/Paris time")
