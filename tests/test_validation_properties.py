"""Property tests for scheduling/validation.py: date parsing and the scheduled_events object."""

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import example, given
from hypothesis import strategies as st

from elections.errors import InvalidInput
from scheduling.validation import parse_event_at, parse_scheduled_events

offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))
aware = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31),
                     timezones=offsets)
naive = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)


@given(aware)
def test_an_aware_iso_datetime_parses_to_the_same_instant_in_utc(moment):
    parsed = parse_event_at(moment.isoformat())
    assert parsed == moment
    assert parsed.utcoffset() == timedelta(0)


@given(aware)
def test_z_suffix_and_space_separator_mean_the_same_instant(moment):
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    assert parse_event_at(utc.isoformat() + "Z") == moment
    assert parse_event_at(moment.isoformat(sep=" ")) == moment
    assert parse_event_at(f"  {moment.isoformat()}\n") == moment


@given(naive)
def test_a_datetime_without_offset_is_refused_as_ambiguous(moment):
    try:
        parse_event_at(moment.isoformat())
    except ValueError as exc:
        assert "UTC offset" in str(exc)
    else:
        raise AssertionError("a naive date-time must be refused")


@given(st.dates())
def test_a_date_alone_is_refused(day):
    try:
        parse_event_at(day.isoformat())
    except ValueError as exc:
        assert "date and a time" in str(exc)
    else:
        raise AssertionError("a date without a time must be refused")


@example("0001-01-01T00:00:00+01:00")   # before year 1 in UTC
@example("9999-12-31T23:59:59-01:00")   # after year 9999 in UTC
@example("2026-02-30T10:00:00Z")
@example("2026-09-12T09:26:00+24:00")
@given(st.one_of(st.text(max_size=40), json_values,
                 aware.map(lambda m: m.isoformat()[: len(m.isoformat()) // 2])))
def test_any_input_either_parses_to_aware_utc_or_raises_value_error(value):
    try:
        parsed = parse_event_at(value)
    except ValueError as exc:
        assert str(exc)  # a message the client can show
        return
    assert isinstance(parsed, datetime) and parsed.utcoffset() == timedelta(0)


@given(json_values)
def test_any_json_body_gives_known_kinds_or_invalid_input(data):
    for partial in (False, True):
        try:
            result = parse_scheduled_events(data, partial=partial)
        except InvalidInput as exc:
            assert exc.detail and isinstance(exc.detail, dict)
            continue
        assert set(result) <= {"start_voting", "end_voting"}
        if not partial:
            assert set(result) == {"start_voting", "end_voting"}
        assert all(v is None or v.utcoffset() == timedelta(0) for v in result.values())


@given(st.dictionaries(st.sampled_from(["start_voting", "end_voting"]),
                       st.none() | aware.map(lambda m: {"event_at": m.isoformat()}), max_size=2),
       st.booleans())
def test_well_formed_events_parse_and_missing_kinds_cancel_on_replace(data, partial):
    result = parse_scheduled_events(data, partial=partial)
    for kind in ("start_voting", "end_voting"):
        if kind in data:
            want = None if data[kind] is None else datetime.fromisoformat(data[kind]["event_at"])
            assert result[kind] == want
        elif partial:
            assert kind not in result
        else:
            assert result[kind] is None


@given(st.sampled_from(["start_voting", "end_voting"]), st.sampled_from(["task_id", "state", "extra"]),
       aware)
def test_server_fields_and_unknown_fields_are_named_in_the_error(kind, field, moment):
    try:
        parse_scheduled_events({kind: {"event_at": moment.isoformat(), field: "x"}}, partial=True)
    except InvalidInput as exc:
        assert field in exc.detail[kind]
    else:
        raise AssertionError(f"{field} must be refused")
