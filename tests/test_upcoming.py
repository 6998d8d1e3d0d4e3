"""Upcoming (issue 15 item 12): everything scheduled across the elections one may view, late,
failed and skipped on top; global runs for superusers only."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from elections.services import create_election, grant
from scheduling import configuring, dispatching, executing, runs
from scheduling.models import ScheduledEvent, State
from scheduling.selectors import upcoming_for

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(dispatching, "send", lambda *a, **k: None)
    monkeypatch.setattr(dispatching, "revoke", lambda ids: None)


def run(at, *, election=None, name="Remind voters", part="a"):
    payload = {"automation": {"id": 7, "uid": "uid-7", "name": name}, "operations": {"ping": {}}}
    [row] = runs.schedule_runs([runs.RunSpec(
        task_id=runs.run_task_id("uid-7", at, part), run_at=at,
        election_id=election.pk if election else None, automation_id=7, payload=payload)], actor=None)
    return row


@pytest.fixture
def world(alice, make_user):
    now = timezone.now()
    general = create_election(title="General", created_by=alice)
    other = create_election(title="Other", created_by=make_user("carol"))
    configuring.configure(general, {"start_voting": now + 2 * HOUR, "end_voting": now + 72 * HOUR},
                          actor=alice, replace=True)
    configuring.configure(other, {"start_voting": now + 3 * HOUR}, actor=None, replace=True)
    failed = run(now + 5 * HOUR, election=general, name="Chase late voters")
    executing.record_failure(failed.pk, failed.task_id, RuntimeError("boom"))
    late = run(now + 6 * HOUR, election=general, name="Late one", part="late")
    ScheduledEvent.objects.filter(pk=late.pk).update(event_at=now - HOUR)
    old = run(now + 7 * HOUR, election=general, name="Failed long ago", part="old")
    executing.record_failure(old.pk, old.task_id, RuntimeError("old"))
    ScheduledEvent.objects.filter(pk=old.pk).update(finished_at=now - timedelta(days=8))
    run(now + 4 * HOUR, name="Nightly maintenance")  # global
    return general


def names(rows):
    return [(row.payload or {}).get("automation", {}).get("name") or row.kind for row in rows]


def test_attention_first_then_by_time_within_the_window(world, alice):
    now = timezone.now()
    rows = list(upcoming_for(alice, within=timedelta(hours=24), now=now))
    assert names(rows) == ["Late one", "Chase late voters", "start_voting"]
    assert [r.needs_attention for r in rows] == [True, True, False]
    assert rows[1].state == State.FAILED
    everything = names(upcoming_for(alice, within=None, now=now))
    assert everything == ["Late one", "Chase late voters", "start_voting", "end_voting"]


def test_other_peoples_elections_and_global_runs_are_for_who_may_see_them(world, make_user):
    now = timezone.now()
    bob = make_user("bob")
    assert list(upcoming_for(bob, within=None, now=now)) == []
    grant(bob, world, "view")
    assert len(upcoming_for(bob, within=None, now=now)) == 4
    boss = make_user("boss", superuser=True)
    assert names(upcoming_for(boss, within=None, now=now)) == [
        "Late one", "Chase late voters", "start_voting", "start_voting", "Nightly maintenance", "end_voting"]


def test_the_page_needs_a_login_and_shows_the_flags(world, alice):
    assert Client().get("/upcoming/").status_code == 302
    client = Client()
    client.force_login(alice)
    page = client.get("/upcoming/?within=24h").content.decode()
    assert page.index("Late one") < page.index("Chase late voters") < page.index("Voting opens")
    assert "RuntimeError: boom" in page and "still pending" in page
    assert "Voting closes" not in page and "Nightly maintenance" not in page and "Other" not in page
    assert "Voting closes" in client.get("/upcoming/?within=all").content.decode()
