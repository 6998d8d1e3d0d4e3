"""Runs delivered end to end by a real worker and beat (RabbitMQ in CI), like voting events."""

import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from activity_log.models import Action
from scheduling import runs
from scheduling.models import ScheduledEvent, State
from tests.faults.support import sleep_until
from tests.helpers import actions_of, in_seconds
from tests.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

#: the worker imports the test operation "ping" (tests/run_operations.py)
WITH_PING = ["--include", "tests.run_operations"]


def schedule(at, *, actor, part="a", ops=None) -> ScheduledEvent:
    payload = {"automation": {"id": 1, "uid": "uid-1", "name": "Ping"},
               "operations": ops or {"ping": {}}, "recipients": {}, "catch_up_seconds": None,
               "occurrence": {}}
    with transaction.atomic():  # published on commit
        [run] = runs.schedule_runs([runs.RunSpec(
            task_id=runs.run_task_id("uid-1", at, part), run_at=at, election_id=None, automation_id=1,
            payload=payload)], actor=actor)
    return run


def state_of(run) -> str:
    return ScheduledEvent.objects.values_list("state", flat=True).get(pk=run.pk)


def test_a_run_fires_once_at_its_time(alice, start_celery):
    start_celery("worker", WITH_PING)
    start_celery("beat")
    run = schedule(in_seconds(2), actor=alice)
    wait_until(lambda: state_of(run) == State.DONE, timeout=20, message="the run to be done")
    run.refresh_from_db()
    assert run.executed_at >= run.event_at
    assert run.result == {"pings": 1, "operations": {"ping": {"pings": 1}}}
    time.sleep(2)  # planner ticks: nothing more may happen
    [executed] = actions_of(0, Action.RUN_EXECUTED)
    assert executed.metadata["task_id"] == run.task_id


def test_a_run_turned_off_is_skipped_by_the_worker_and_one_turned_on_runs(alice, make_user, start_celery):
    start_celery("worker", WITH_PING)
    start_celery("beat")
    at = in_seconds(2)
    off, on = schedule(at, actor=alice, part="off"), schedule(at, actor=alice, part="on")
    runs.set_run_enabled(off, False, actor=alice)
    runs.set_run_enabled(on, False, actor=alice)
    runs.set_run_enabled(on, True, actor=alice)
    wait_until(lambda: {state_of(off), state_of(on)} == {State.SKIPPED, State.DONE}, timeout=20,
               message="one run skipped, the other done")
    off.refresh_from_db()
    assert (off.state, off.reason) == (State.SKIPPED, "turned off by alice")
    assert state_of(on) == State.DONE


def test_worker_killed_across_a_runs_time_fires_it_once_after_restart(alice, start_celery):
    worker = start_celery("worker", WITH_PING)
    start_celery("beat")
    run = schedule(in_seconds(2.5), actor=alice)
    worker.wait_for_log(f"scheduling.tasks.fire_event[{run.task_id}] received", timeout=10)
    worker.kill()

    sleep_until(run.event_at + timedelta(seconds=3))
    assert state_of(run) == State.PENDING, "nothing may happen while no worker runs"
    restarted_at = timezone.now()
    start_celery("worker", WITH_PING)
    wait_until(lambda: state_of(run) == State.DONE, timeout=40, message="the run after the restart")
    run.refresh_from_db()
    assert run.executed_at >= restarted_at
    time.sleep(2)  # a planner re-publish or the redelivery may still arrive: it must change nothing
    assert len(actions_of(0, Action.RUN_EXECUTED)) == 1
