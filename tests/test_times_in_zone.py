"""The pages' times in the page's zone (issue 15, item 15): sentences, stored reasons, day filters,
"what happened" and the page's zone for its scripts. In a browser: tests/browser/test_times_in_zone.py."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template

from activity_log.models import Action, ActivityEntry
from activity_log.presentation import describe, format_time
from activity_log.services import record
from activity_log.views import date_from, day_after
from config.zones import format_in_zone
from elections.services import create_election, set_time_zone
from elections.views import what_happened
from notifications.models import UserSettings
from scheduling.models import Kind, ScheduledEvent, State

pytestmark = pytest.mark.django_db

TOKYO = "Asia/Tokyo"


def entry(what, **metadata):
    return ActivityEntry(action=what, actor_name="alice", election_id=1, election_title="E",
                         metadata=metadata)


def plain_words(text, zone=None) -> str:
    words = "{{ text|plain_words:zone }}" if zone else "{{ text|plain_words }}"
    source = "{% load election_pages %}" + words
    return Template(source).render(Context({"text": text, "zone": zone}))


def test_a_sentence_reads_its_times_in_the_zone_given_and_in_utc_without_one():
    scheduled = entry(Action.EVENT_SCHEDULED, kind="start_voting", event_at="2026-12-01T08:00:00Z")
    assert describe(scheduled, TOKYO) == (
        "alice scheduled the start of voting for Tue 1 Dec 2026 17:00 Asia/Tokyo")
    assert describe(scheduled) == (  # the CSV, emails and API messages
        "alice scheduled the start of voting for 1 Dec 2026 08:00 UTC")
    missed = ActivityEntry(action=Action.AUTOMATION_RUNS_MISSED, election_id=1, election_title="E",
                           metadata={"name": "Ping", "count": 2, "first": "2026-12-01T08:00:00+00:00",
                                     "last": "2026-12-01T08:01:00+00:00"})
    assert "(Tue 1 Dec 2026 17:00 Asia/Tokyo to Tue 1 Dec 2026 17:01 Asia/Tokyo)" in describe(missed, TOKYO)
    run = entry(Action.RUN_SCHEDULED, automation="Ping", event_at="2026-12-01T08:00:30Z")
    assert describe(run, "Europe/Paris") == (
        "alice scheduled a run of “Ping” for Tue 1 Dec 2026 09:00:30 Europe/Paris")
    assert format_time("not a time", TOKYO) == "not a time" and format_time(None, TOKYO) == ""


def test_stored_reasons_read_in_the_page_zone_iso_or_already_in_words():
    reason = "missed while down (due 2026-12-01T08:00:00Z, 40 s ago); moved to 1 Dec 2026 09:30 UTC"
    assert plain_words(reason, TOKYO) == (
        "missed while down (due Tue 1 Dec 2026 17:00 Asia/Tokyo, 40 s ago); "
        "moved to Tue 1 Dec 2026 18:30 Asia/Tokyo")
    assert plain_words(reason) == (
        "missed while down (due 1 Dec 2026 08:00 UTC, 40 s ago); moved to 1 Dec 2026 09:30 UTC")
    in_utc = plain_words(reason, "UTC")
    assert in_utc == plain_words(in_utc, "UTC")  # a time already in the page's words stays as it is
    assert "Tue 1 Dec 2026 09:30 UTC" in in_utc


def test_a_day_filter_is_that_whole_day_in_the_page_zone_also_when_the_clocks_change():
    since = date_from({"from": "2026-12-01"}, "from", TOKYO)
    assert since == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    assert day_after(since).astimezone(UTC) - since == timedelta(hours=24)
    paris_short_day = date_from({"to": "2027-03-28"}, "to", "Europe/Paris")  # spring forward: 23 hours
    assert paris_short_day.astimezone(UTC) == datetime(2027, 3, 27, 23, 0, tzinfo=UTC)
    assert day_after(paris_short_day).astimezone(UTC) == datetime(2027, 3, 28, 22, 0, tzinfo=UTC)
    assert date_from({"from": "nope"}, "from", TOKYO) is None


def test_what_happened_gives_the_time_to_the_hundredth_in_the_zone_and_in_utc(alice):
    election = create_election(title="General", created_by=alice)
    ran = datetime(2026, 12, 1, 8, 0, 0, 40000, tzinfo=UTC)
    ScheduledEvent.objects.create(election=election, kind=Kind.START_VOTING,
                                  event_at=ran.replace(microsecond=0), state=State.DONE, executed_at=ran,
                                  finished_at=ran, next_dispatch_at=ran,
                                  lateness=timedelta(milliseconds=40))
    [line] = what_happened(election.pk, TOKYO)
    assert (line["text"], line["at"], line["when"], line["when_utc"], line["detail"]) == (
        "Voting opened", "2026-12-01T08:00:00.040000Z", "Tue 1 Dec 2026 17:00:00.04 Asia/Tokyo",
        "1 Dec 2026 08:00:00.04 UTC", "40 ms late")
    assert format_in_zone(ran, "UTC", weekday=False, hundredths=True) == line["when_utc"]


def test_the_activity_page_shows_the_users_zone_the_csv_stays_in_utc(alice, client):
    election = set_time_zone(create_election(title="General", created_by=alice), "Europe/Paris")
    record(Action.EVENT_SCHEDULED, election, actor=alice, kind="start_voting",
           event_at="2026-12-01T08:00:00Z")
    client.force_login(alice)
    page = client.get(f"/elections/{election.pk}/activity/").content.decode()
    assert "When (Europe/Paris)" in page and "From (day, Europe/Paris)" in page  # no choice: the election's
    assert "for Tue 1 Dec 2026 09:00 Europe/Paris" in page
    assert '<body data-time-zone="Europe/Paris">' in page

    UserSettings.objects.create(user=alice, time_zone=TOKYO)
    page = client.get(f"/elections/{election.pk}/activity/").content.decode()
    assert "When (Asia/Tokyo)" in page and "for Tue 1 Dec 2026 17:00 Asia/Tokyo" in page
    assert 'data-zone="Asia/Tokyo"' in page and '<body data-time-zone="Asia/Tokyo">' in page

    response = client.get(f"/elections/{election.pk}/activity/", {"format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "time_utc" and rows[1][0].endswith("Z")
    assert "for 1 Dec 2026 08:00 UTC" in "".join(rows[1])


def test_the_dashboard_summary_words_what_happened_in_the_users_zone(alice, client):
    election = create_election(title="General", created_by=alice)
    ran = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    ScheduledEvent.objects.create(election=election, kind=Kind.END_VOTING, event_at=ran, state=State.DONE,
                                  executed_at=ran, finished_at=ran, next_dispatch_at=ran)
    UserSettings.objects.create(user=alice, time_zone=TOKYO)
    client.force_login(alice)
    [line] = client.get(f"/elections/{election.pk}/summary/").json()["happened"]
    assert line["when"] == "Tue 1 Dec 2026 17:00:00.00 Asia/Tokyo"
    page = client.get(f"/elections/{election.pk}/").content.decode()
    assert ('Voting closed at <time datetime="2026-12-01T08:00:00Z" title="1 Dec 2026 08:00:00.00 UTC" '
            'data-zone="Asia/Tokyo">Tue 1 Dec 2026 17:00:00.00 Asia/Tokyo</time>') in page
    assert "Date and time (Asia/Tokyo)" in page
