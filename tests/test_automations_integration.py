"""Automations end to end: a real worker and beat on the configured broker (RabbitMQ in CI).

The worker imports ``tests.automation_ops`` (``-I``), whose ``record_call`` operation writes
one activity row per call in the run's transaction: a call counted is a call that happened.
Each test waits for a real effect with a bounded wait; "never" is checked at a later sync
point (a marker run due after the moment in question has executed).
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from activity_log.models import Action, ActivityEntry
from automations import services
from automations.models import Automation
from elections.models import Election
from scheduling.models import Kind, ScheduledEvent, State
from scheduling.tasks import fire_event
from tests.automation_ops import calls
from tests.helpers import in_seconds, iso
from tests.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RECORD = {"record_call": {"template": "weekly"}}
DAY = 86400


@pytest.fixture
def worker(start_celery):
    return start_celery("worker", ["-I", "tests.automation_ops"])


def election(api, **config) -> dict:
    response = api.post("/api/elections/", {"title": "General", **config}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def add(api, election_id, when, **fields) -> dict:
    response = api.post(f"/api/elections/{election_id}/automations/",
                        {"name": "Reminder", "when": when, "operations": RECORD, **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def runs_of(automation_id) -> list[ScheduledEvent]:
    return list(ScheduledEvent.objects.filter(kind=Kind.AUTOMATION, automation_id=automation_id)
                .order_by("id"))


def finished(run: ScheduledEvent) -> ScheduledEvent | None:
    run.refresh_from_db()
    return run if run.state != State.PENDING else None


def marker(api, election_id, seconds: float) -> ScheduledEvent:
    """A due-date run ``seconds`` from now: once it has run, everything due before it has had its chance."""
    (run,) = runs_of(add(api, election_id, {"at": iso(in_seconds(seconds))}, name="Marker")["id"])
    return run


def reminder(api, election_id) -> ScheduledEvent:
    (run,) = runs_of(add(api, election_id, {"before": "end_voting", "offset": "P1D"})["id"])
    return run


def test_a_reminder_fires_once_at_its_time(api, worker, beat):
    root = election(api, scheduled_events={"end_voting": {"event_at": iso(in_seconds(DAY + 3))}})
    run = reminder(api, root["id"])
    done = wait_until(lambda: finished(run), timeout=20, message="the reminder to run")
    assert done.state == State.DONE, done.reason
    assert done.executed_at >= done.event_at and done.lateness < timedelta(seconds=5)
    mark = marker(api, root["id"], 2)
    wait_until(lambda: finished(mark), timeout=20, message="the marker to run")
    assert len(calls(task_id=run.task_id)) == 1
    executed = ActivityEntry.objects.filter(action=Action.RUN_EXECUTED, metadata__task_id=run.task_id)
    assert executed.count() == 1


def test_when_the_end_moves_the_reminder_fires_once_at_the_new_time_never_the_old(api, worker, beat):
    root = election(api, scheduled_events={"end_voting": {"event_at": iso(in_seconds(DAY + 3))}})
    old = reminder(api, root["id"])
    moved = api.patch(f"/api/elections/{root['id']}/scheduled-events/",
                      {"end_voting": {"event_at": iso(in_seconds(DAY + 7))}}, format="json")
    assert moved.status_code == 200
    (_, new) = runs_of(old.automation_id)
    done = wait_until(lambda: finished(new), timeout=25, message="the moved reminder to run")
    assert done.state == State.DONE and done.executed_at >= new.event_at
    old.refresh_from_db()
    assert old.state == State.SUPERSEDED and old.executed_at is None
    assert [len(calls(task_id=old.task_id)), len(calls(task_id=new.task_id))] == [0, 1]


def test_when_the_end_is_cancelled_nothing_is_sent(api, worker, beat):
    root = election(api, scheduled_events={"end_voting": {"event_at": iso(in_seconds(DAY + 3))}})
    run = reminder(api, root["id"])
    api.patch(f"/api/elections/{root['id']}/scheduled-events/", {"end_voting": None}, format="json")
    mark = marker(api, root["id"], 5)
    wait_until(lambda: finished(mark), timeout=25, message="the marker to run")
    run.refresh_from_db()
    assert run.state == State.CANCELLED and run.reason == "the end of voting was cancelled"
    assert calls(task_id=run.task_id) == []


def test_a_run_turned_off_is_skipped(api, worker, beat):
    root = election(api)
    (run,) = runs_of(add(api, root["id"], {"at": iso(in_seconds(3))})["id"])
    url = f"/api/elections/{root['id']}/automations/{run.automation_id}/runs/{run.pk}/"
    assert api.patch(url, {"enabled": False}, format="json").status_code == 200
    skipped = wait_until(lambda: finished(run), timeout=20, message="the run to be skipped")
    assert skipped.state == State.SKIPPED and "turned off by alice" in skipped.reason
    assert calls(task_id=run.task_id) == []


def test_a_cron_rule_every_minute_runs_on_the_minute_and_plans_the_next(api, worker, beat):
    root = election(api)
    created = add(api, root["id"], {"cron_rule": "* * * * *", "timezone": "Europe/Paris"})
    (first,) = runs_of(created["id"])
    assert first.event_at.second == 0 and first.event_at.microsecond == 0
    done = wait_until(lambda: finished(first), timeout=80, message="the first minute's run")
    assert done.state == State.DONE and done.lateness < timedelta(seconds=5)
    assert len(calls(task_id=first.task_id)) == 1
    pending = [r for r in runs_of(created["id"]) if r.state == State.PENDING]
    assert [r.event_at for r in pending] == [first.event_at + timedelta(minutes=1)]


def test_two_planners_and_duplicated_messages_still_send_once(api, worker, start_celery):
    start_celery("beat")
    start_celery("beat")
    root = election(api)
    (run,) = runs_of(add(api, root["id"], {"at": iso(in_seconds(3))})["id"])
    for _ in range(2):  # the same message delivered again, as a broker may
        fire_event.apply_async((run.pk,), task_id=run.task_id, eta=run.event_at)
    wait_until(lambda: finished(run), timeout=20, message="the run")
    mark = marker(api, root["id"], 2)
    wait_until(lambda: finished(mark), timeout=20, message="the marker to run")
    assert len(calls(task_id=run.task_id)) == 1
    executed = ActivityEntry.objects.filter(action=Action.RUN_EXECUTED, metadata__task_id=run.task_id)
    assert executed.count() == 1


def test_recipients_are_resolved_when_the_run_fires_with_the_inactive_flags(
        api, worker, beat, django_user_model, settings):
    now = timezone.now()
    ann = django_user_model.objects.create_user("ann", last_login=now)
    django_user_model.objects.create_user("ivan", last_login=now - timedelta(days=120))
    django_user_model.objects.create_user("deb", last_login=now, is_active=False)
    django_user_model.objects.create_user("eve", last_login=now)
    root = election(api)
    created = add(api, root["id"], {"at": iso(in_seconds(4))}, recipients={
        "users": ["ann", "ivan", "deb", "eve"], "include_inactive_users": True})
    (run,) = runs_of(created["id"])
    django_user_model.objects.filter(username="eve").update(is_active=False)  # after scheduling
    wait_until(lambda: finished(run), timeout=20, message="the run")
    (call,) = calls(task_id=run.task_id)
    assert call.metadata["recipients"] == ["ann", "ivan"]
    assert call.metadata["left_out"] == {"inactivated": ["deb", "eve"]}
    assert ann.is_active


def test_after_an_hour_and_a_half_down_a_rule_every_minute_runs_once_not_ninety_times(
        worker, beat, alice):
    root = Election.objects.create(title="Down", created_by=alice)
    started = timezone.now()
    automation = services.create_automation(
        {"name": "Every minute", "when": {"cron_rule": "* * * * *"}, "operations": RECORD},
        election=root, actor=alice, now=started - timedelta(minutes=90))
    (first,) = runs_of(automation.pk)  # due ~90 minutes ago: the system was "down" since
    assert started - first.event_at > timedelta(minutes=89)

    def late_run_done():
        return [r for r in runs_of(automation.pk) if r.event_at <= started and r.state == State.DONE]

    # 60 s: on a loaded machine the filesystem broker took over 30 s in one full run
    (late,) = wait_until(late_run_done, timeout=60, message="one late run for all the missed ones")
    assert started - late.event_at < timedelta(minutes=1)
    first.refresh_from_db()
    assert first.state == State.SKIPPED and "missed while down" in first.reason
    before = [r for r in runs_of(automation.pk) if r.event_at <= started]
    assert sorted(r.state for r in before) == [State.DONE, State.SKIPPED]
    (missed,) = ActivityEntry.objects.filter(action=Action.AUTOMATION_RUNS_MISSED)
    assert missed.metadata["count"] >= 87 and missed.metadata["reason"] == "missed while down"
    executed = [c for c in calls() if c.metadata["run_id"] in {r.pk for r in before}]
    assert len(executed) == 1
    assert Automation.objects.get(pk=automation.pk).active


def test_a_worker_start_plans_the_installed_daily_maintenance(start_celery):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("automations.migrations.0002_daily_maintenance")
    migration.install(apps, None)  # as `migrate` does (a transactional test starts from a flush)
    daily = Automation.objects.get(election__isnull=True, name="Daily maintenance")
    assert not runs_of(daily.pk)
    start_celery("worker", ["-I", "tests.automation_ops"])
    (run,) = wait_until(lambda: runs_of(daily.pk), timeout=20, message="the first maintenance run")
    assert run.state == State.PENDING and (run.event_at.hour, run.event_at.minute) == (4, 0)
    assert run.payload["operations"] == {"maintenance": {}} and run.election_id is None


def test_a_scheduled_start_triggers_the_runs_of_on_election_started(api, worker, beat):
    root = election(api, scheduled_events={"start_voting": {"event_at": iso(in_seconds(3))}},
                    children=[{"title": "North"}])
    created = add(api, root["id"], {"on": "election.started"}, name="On start")
    child = add(api, root["children"][0], {"on": "election.started"}, name="North on start")
    assert not runs_of(created["id"])
    (run,) = wait_until(lambda: [r for r in runs_of(created["id"]) if r.state == State.DONE], timeout=25,
                        message="the run after the start")
    (child_run,) = wait_until(lambda: [r for r in runs_of(child["id"]) if r.state == State.DONE],
                              timeout=25, message="the child's run after the cascade started it")
    assert run.election_id == root["id"] and child_run.election_id == root["children"][0]
    assert [len(calls(task_id=run.task_id)), len(calls(task_id=child_run.task_id))] == [1, 1]
