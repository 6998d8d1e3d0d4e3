"""Each user's private calendar feed (issue 15 item 18): an iCalendar URL with the voting events and
runs of the elections they may view; a reschedule moves the event, a cancel marks it cancelled, a
revoked or renewed URL is a 404."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from icalendar import Calendar

from accounts.models import CalendarFeed
from elections.services import create_election
from scheduling import configuring, dispatching, runs
from scheduling.models import Kind

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(dispatching, "send", lambda *a, **k: None)
    monkeypatch.setattr(dispatching, "revoke", lambda ids: None)


def page_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_url(user) -> str:
    answer = page_for(user).post("/calendar/", {"action": "renew"})
    assert answer.status_code == 200
    return re.search(r'id="calendar-url" readonly value="([^"]+)"', answer.content.decode()).group(1)


def events_of(url) -> dict[str, dict]:
    """The feed fetched without a session, parsed with icalendar: {UID: VEVENT}."""
    answer = Client().get(url)
    assert answer.status_code == 200, answer.status_code
    assert answer["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(answer.content)
    found = {}
    for event in calendar.walk("VEVENT"):
        uid = str(event["UID"])
        assert uid not in found, f"two events with UID {uid}"
        found[uid] = event
    return found


@pytest.fixture
def general(alice):
    return create_election(title="General", created_by=alice)


def test_an_event_shows_moves_when_rescheduled_and_is_cancelled_with_a_higher_sequence(alice, general):
    now = timezone.now().replace(microsecond=0)
    configuring.configure(general, {Kind.START_VOTING: now + 2 * HOUR}, actor=alice, replace=False)
    url = make_url(alice)
    uid = f"election-{general.pk}-start_voting@election-scheduler"

    event = events_of(url)[uid]
    assert event.decoded("DTSTART") == now + 2 * HOUR
    assert str(event["SUMMARY"]) == "Voting opens: General"
    assert str(event["STATUS"]) == "CONFIRMED" and int(event["SEQUENCE"]) == 0
    assert str(event["URL"]) == f"http://testserver/elections/{general.pk}/"

    configuring.configure(general, {Kind.START_VOTING: now + 5 * HOUR}, actor=alice, replace=False)
    moved = events_of(url)
    assert list(moved) == [uid]  # the same event moved: no second one for the superseded row
    assert moved[uid].decoded("DTSTART") == now + 5 * HOUR
    assert str(moved[uid]["STATUS"]) == "CONFIRMED" and int(moved[uid]["SEQUENCE"]) == 1

    configuring.configure(general, {Kind.START_VOTING: None}, actor=alice, replace=False)
    cancelled = events_of(url)[uid]
    assert str(cancelled["STATUS"]) == "CANCELLED" and int(cancelled["SEQUENCE"]) == 2
    assert cancelled.decoded("DTSTART") == now + 5 * HOUR


def test_runs_have_their_task_id_and_only_viewable_elections_are_in_it(alice, general, make_user):
    at = timezone.now() + 3 * HOUR
    payload = {"automation": {"id": 7, "uid": "uid-7", "name": "Remind voters"}, "operations": {}}
    mine, other, global_run = runs.schedule_runs([
        runs.RunSpec(task_id=runs.run_task_id("uid-7", at, part), run_at=at, election_id=election_id,
                     automation_id=7, payload=payload)
        for part, election_id in (("a", general.pk),
                                  ("b", create_election(title="Secret", created_by=make_user("bob")).pk),
                                  ("c", None))], actor=None)
    events = events_of(make_url(alice))
    uid = f"run-{mine.task_id}@election-scheduler"
    assert list(events) == [uid]
    assert str(events[uid]["SUMMARY"]) == "Run of “Remind voters”: General"
    boss = make_user("boss", superuser=True)
    assert set(events_of(make_url(boss))) == {f"run-{r.task_id}@election-scheduler"
                                              for r in (mine, other, global_run)}


def test_revoked_renewed_or_deactivated_urls_are_404_and_only_a_hash_is_kept(alice, general):
    first = make_url(alice)
    token = first.rsplit("/", 1)[1].removesuffix(".ics")
    feed = CalendarFeed.objects.get(user=alice)
    assert token not in feed.token_hash and len(token) >= 40
    assert token not in page_for(alice).get("/calendar/").content.decode()  # shown once only

    second = make_url(alice)
    assert Client().get(first).status_code == 404
    assert Client().get(second).status_code == 200
    answer = page_for(alice).post("/calendar/", {"action": "revoke"})
    assert answer.status_code == 302 and not CalendarFeed.objects.exists()
    assert Client().get(second).status_code == 404

    third = make_url(alice)
    alice.is_active = False
    alice.save()
    assert Client().get(third).status_code == 404
    assert Client().get("/calendar/not-a-token.ics").status_code == 404


def test_the_page_needs_a_login_and_csrf(alice):
    assert Client().get("/calendar/").status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post("/calendar/", {"action": "renew"}).status_code == 403
    assert not CalendarFeed.objects.exists()
