"""Parsing of scheduled_events: what clients may send and what they are told when it is wrong."""

from datetime import UTC, datetime

import pytest

from elections.errors import InvalidInput
from scheduling.validation import parse_event_at, parse_scheduled_events


@pytest.mark.parametrize("text, expected", [
    ("2026-09-12T09:26:00Z", datetime(2026, 9, 12, 9, 26, tzinfo=UTC)),
    ("2026-09-12T09:26:00+00:00", datetime(2026, 9, 12, 9, 26, tzinfo=UTC)),
    ("2026-09-12T11:26:00+02:00", datetime(2026, 9, 12, 9, 26, tzinfo=UTC)),
    ("2026-09-12T04:26:00.250-05:00", datetime(2026, 9, 12, 9, 26, 0, 250000, tzinfo=UTC)),
])
def test_event_at_with_an_offset_is_stored_in_utc(text, expected):
    parsed = parse_event_at(text)
    assert parsed == expected
    assert parsed.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("value, hint", [
    ("2026-09-12T09:26:00", "no UTC offset"),
    ("2026-09-12", "date and a time"),
    ("next tuesday", "not an ISO 8601"),
    ("2026-13-12T09:26:00Z", "not an ISO 8601"),
    (1757669160, "Must be a string"),
    (None, "Must be a string"),
])
def test_event_at_without_an_offset_or_malformed_is_refused_with_the_fix(value, hint):
    with pytest.raises(ValueError, match=hint):
        parse_event_at(value)


def errors_of(data, partial=False) -> dict:
    with pytest.raises(InvalidInput) as caught:
        parse_scheduled_events(data, partial=partial)
    return caught.value.detail


def test_replace_fills_in_every_kind_and_null_cancels():
    parsed = parse_scheduled_events({"start_voting": {"event_at": "2026-09-12T09:26:00Z"}}, partial=False)
    assert parsed == {"start_voting": datetime(2026, 9, 12, 9, 26, tzinfo=UTC), "end_voting": None}


def test_partial_keeps_only_the_kinds_sent():
    assert parse_scheduled_events({"end_voting": None}, partial=True) == {"end_voting": None}


def test_unknown_kind_is_named():
    assert "use start_voting or end_voting" in errors_of({"open_voting": {"event_at": "x"}})["open_voting"][0]


def test_empty_object_for_a_kind_asks_for_event_at():
    detail = errors_of({"start_voting": {}})
    assert "required" in detail["start_voting"]["event_at"][0]
    assert "null" in detail["start_voting"]["event_at"][0]


@pytest.mark.parametrize("field", ["task_id", "state"])
def test_server_fields_from_the_client_are_refused(field):
    detail = errors_of({"start_voting": {"event_at": "2026-09-12T09:26:00Z", field: "x"}})
    assert "set by the server" in detail["start_voting"][field][0]


def test_naive_datetime_is_named_by_field():
    detail = errors_of({"end_voting": {"event_at": "2026-09-12T09:26:00"}})
    assert "offset" in detail["end_voting"]["event_at"][0]


@pytest.mark.parametrize("data", [[], "start_voting", 3])
def test_not_an_object_is_refused(data):
    assert "Expected an object" in errors_of(data)["non_field_errors"][0]


def test_every_error_is_reported_at_once():
    detail = errors_of({"start_voting": {"event_at": "bad"}, "end_voting": "tomorrow", "x": None})
    assert set(detail) == {"start_voting", "end_voting", "x"}
