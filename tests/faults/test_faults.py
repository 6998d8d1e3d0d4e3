"""Fault injection against real worker and beat processes: each fault, then exactly one effect.

Each test checks the three promises of DESIGN.md guarantee 1: the event took
effect exactly once (one ``event_executed``, one ``status_changed`` per
election), nothing was lost, and the activity log says what happened.
"""

import os
import re
import signal
import socket
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from activity_log.models import Action
from scheduling import configuring, dispatching, planning
from scheduling.faults import PAUSE_IN_TRANSITION_ENV, PAUSE_MARKER
from scheduling.models import ScheduledEvent, State
from scheduling.tasks import fire_event
from tests.faults.support import (
    AMQP,
    assert_changed_once,
    assert_lost_events_recovered,
    make_tree,
    on_postgres,
    pending,
    purge_queue,
    queue_depth,
    rabbitmq_stopped,
    run_in_threads,
    sleep_until,
    statuses,
    terminate_other_backends,
)
from tests.helpers import actions_of, in_seconds
from tests.processes import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def executed(root_id: int) -> list:
    return actions_of(root_id, Action.EVENT_EXECUTED)


def received(event) -> str:
    """The worker's log line once the event's message is in its hands."""
    return f"scheduling.tasks.fire_event[{event.task_id}] received"


def planner_ticked_since(moment) -> bool:
    from scheduling.models import PlannerHeartbeat

    return PlannerHeartbeat.objects.filter(last_tick_at__gte=moment).exists()


def test_worker_killed_before_the_event_fires_once_soon_after_restart(alice, start_celery):
    worker = start_celery("worker")
    start_celery("beat")
    root, ids = make_tree(alice, start=in_seconds(2.5))
    event = pending(root.pk)
    worker.wait_for_log(received(event), timeout=10)  # it holds the ETA message, unacknowledged
    worker.kill()

    sleep_until(event.event_at + timedelta(seconds=3))
    assert statuses(ids) == {"notstarted"}, "nothing may happen while no worker runs"
    restarted_at = timezone.now()
    start_celery("worker")
    wait_until(lambda: statuses(ids) == {"started"}, timeout=40, message="the event after the restart")

    done = ScheduledEvent.objects.get(pk=event.pk)
    assert done.state == State.DONE
    assert done.executed_at >= restarted_at
    assert (done.executed_at - restarted_at).total_seconds() < 30, "fires soon after the restart"
    assert done.lateness >= restarted_at - event.event_at
    time.sleep(2)  # a planner re-publish or the redelivery may still arrive: it must change nothing
    assert_changed_once(ids)
    [entry] = executed(root.pk)
    assert entry.metadata["task_id"] == event.task_id
    assert entry.metadata["lateness_seconds"] >= 3


def test_worker_killed_mid_transition_leaves_nothing_half_done(alice, start_celery):
    worker = start_celery("worker", env={PAUSE_IN_TRANSITION_ENV: "60"})
    root, ids = make_tree(alice, start=in_seconds(1.5))
    event = pending(root.pk)
    worker.wait_for_log(PAUSE_MARKER, timeout=30)
    # The worker has updated all four rows in its open transaction; none is visible.
    assert statuses(ids) == {"notstarted"}
    worker.kill()
    assert statuses(ids) == {"notstarted"}, "a crash mid-transition must leave nothing half-changed"
    assert pending(root.pk).pk == event.pk
    for election_id in ids:
        assert not actions_of(election_id, Action.STATUS_CHANGED)

    if not AMQP:
        # The filesystem broker has no acknowledgements: the message left with the
        # killed worker. The planner re-publishes it (RabbitMQ redelivers by itself).
        start_celery("beat")
    start_celery("worker")
    wait_until(lambda: statuses(ids) == {"started"}, timeout=40, message="the redelivered transition")
    assert ScheduledEvent.objects.get(pk=event.pk).state == State.DONE
    assert_changed_once(ids)
    [entry] = executed(root.pk)
    assert entry.metadata["task_id"] == event.task_id and entry.metadata["elections_changed"] == 4


def test_pool_process_killed_mid_transition_is_requeued_and_completed(alice, start_celery):
    """Only the pool child running the task dies (OOM-killer style): reject_on_worker_lost requeues it."""
    worker = start_celery("worker", env={PAUSE_IN_TRANSITION_ENV: "5"})
    root, ids = make_tree(alice, start=in_seconds(1.5))
    worker.wait_for_log(PAUSE_MARKER, timeout=30)
    [pid] = re.findall(rf"{PAUSE_MARKER}.*\(pid (\d+)\)", worker.log())
    os.kill(int(pid), signal.SIGKILL)  # the pool process inside the transition; the worker lives on
    assert statuses(ids) == {"notstarted"}
    if not AMQP:
        start_celery("beat")  # the filesystem broker does not requeue a rejected message: the planner does
    wait_until(lambda: statuses(ids) == {"started"}, timeout=60, message="the requeued transition")
    worker.wait_for_log("WorkerLostError", timeout=10)
    assert worker.alive
    assert_changed_once(ids)
    assert len(executed(root.pk)) == 1


def test_message_lost_from_the_queue_is_recovered_by_the_planner(alice, start_celery):
    root, ids = make_tree(alice, start=in_seconds(2))  # no worker yet: the message waits in the queue
    event = pending(root.pk)
    assert event.dispatch_count == 1
    assert queue_depth() == 1
    assert purge_queue() == 1, "the message is lost"
    assert queue_depth() == 0

    start_celery("worker")
    start_celery("beat")
    wait_until(lambda: statuses(ids) == {"started"}, timeout=40, message="the planner to recover the event")
    done = ScheduledEvent.objects.get(pk=event.pk)
    assert done.state == State.DONE and done.dispatch_count >= 2
    assert_changed_once(ids)
    redispatched = actions_of(root.pk, Action.EVENT_DISPATCHED)
    assert redispatched and redispatched[0].metadata["task_id"] == event.task_id
    assert "after its time" in redispatched[0].metadata["reason"]
    [entry] = executed(root.pk)
    assert entry.metadata["lateness_seconds"] > 0


def test_lost_revoke_the_old_message_changes_nothing_and_the_new_time_wins(alice, start_celery):
    root, ids = make_tree(alice, start=in_seconds(2))
    old = pending(root.pk)
    new_at = in_seconds(6)
    # No worker is running, so the revoke broadcast reaches nobody: the old message stays queued.
    configuring.configure(root, {"start_voting": new_at}, actor=alice, replace=False)
    new = pending(root.pk)
    assert new.task_id != old.task_id
    assert queue_depth() == 2

    sleep_until(old.event_at + timedelta(seconds=0.5))
    start_celery("worker")
    start_celery("beat")
    wait_until(lambda: any(d.metadata["task_id"] == old.task_id
                           for d in actions_of(root.pk, Action.TASK_DISCARDED)),
               timeout=30, message="the stale message to be discarded")
    if timezone.now() < new_at:
        assert statuses(ids) == {"notstarted"}, "the old message must change nothing"
    wait_until(lambda: statuses(ids) == {"started"}, timeout=30, message="the start at the new time")
    assert ScheduledEvent.objects.get(pk=old.pk).state == State.SUPERSEDED
    done = ScheduledEvent.objects.get(pk=new.pk)
    assert done.state == State.DONE and done.executed_at >= new_at
    assert_changed_once(ids)
    assert [e.metadata["task_id"] for e in executed(root.pk)] == [new.task_id]
    discarded = [d for d in actions_of(root.pk, Action.TASK_DISCARDED)
                 if d.metadata["task_id"] == old.task_id]
    assert "superseded" in discarded[0].metadata["reason"]


def test_duplicate_deliveries_and_two_beats_have_one_effect(alice, start_celery, monkeypatch):
    start_celery("worker")
    start_celery("beat")
    start_celery("beat")
    duplicated = [make_tree(alice, start=in_seconds(2.5), title=f"dup {i}") for i in range(2)]
    # These messages are lost, so both planners compete to recover them. Due after the others,
    # so the planners usually do before a late message of theirs carries them (executing.co_due).
    monkeypatch.setattr(dispatching, "send", lambda *args, **kwargs: None)
    lost = [make_tree(alice, start=in_seconds(4), title=f"lost {i}") for i in range(2)]
    monkeypatch.undo()
    for root, _ in duplicated:
        event = pending(root.pk)
        for _ in range(2):  # the broker delivers the same message twice more
            fire_event.apply_async((event.pk,), task_id=event.task_id, eta=event.event_at)

    every_id = [i for _, ids in duplicated + lost for i in ids]
    wait_until(lambda: statuses(every_id) == {"started"}, timeout=40, message="all four trees to start")
    for root, _ in duplicated:
        wait_until(lambda root=root: len(actions_of(root.pk, Action.TASK_DISCARDED)) >= 2, timeout=20,
                   message="both duplicates to be discarded")
    time.sleep(2)  # more planner ticks from both beats: still nothing more may happen
    for root, ids in duplicated + lost:
        assert_changed_once(ids)
        assert len(executed(root.pk)) == 1
    assert_lost_events_recovered([root for root, _ in lost])


def test_concurrent_planners_publish_each_due_event_once_per_round(alice, monkeypatch):
    trees = [make_tree(alice, start=in_seconds(120), title=f"t{i}") for i in range(12)]
    events = [pending(root.pk) for root, _ in trees]
    assert all(e.dispatch_count == 0 for e in events), "beyond the horizon: not published yet"
    published: list[str] = []
    monkeypatch.setattr(dispatching, "send", lambda name, args, task_id=None, **k: published.append(task_id))

    moment = max(e.next_dispatch_at for e in events) + timedelta(seconds=1)
    results = run_in_threads(planning.plan, [(moment,)] * 6)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sum(results) == len(events)
    assert sorted(published) == sorted(e.task_id for e in events), "each event published exactly once"
    assert {e.dispatch_count for e in ScheduledEvent.objects.filter(pk__in=[e.pk for e in events])} == {1}


def test_concurrent_planner_processes_and_duplicates_fire_once(alice, start_celery, monkeypatch):
    """Planners in two processes (beat) and six threads at once, on lost messages: one effect each."""
    start_celery("worker")
    start_celery("beat")
    start_celery("beat")
    monkeypatch.setattr(dispatching, "send", lambda *args, **kwargs: None)
    trees = [make_tree(alice, start=in_seconds(1.5), title=f"p{i}") for i in range(3)]
    monkeypatch.undo()
    sleep_until(pending(trees[-1][0].pk).next_dispatch_at)
    results = run_in_threads(planning.plan, [()] * 6)
    assert not [r for r in results if isinstance(r, BaseException)], results
    every_id = [i for _, ids in trees for i in ids]
    wait_until(lambda: statuses(every_id) == {"started"}, timeout=40, message="all trees to start")
    time.sleep(2)
    for root, ids in trees:
        assert_changed_once(ids)
        assert len(executed(root.pk)) == 1


@pytest.mark.skipif(not AMQP, reason="needs RabbitMQ (CELERY_BROKER_URL=amqp://...) to restart it")
def test_rabbitmq_restarted_while_events_pending(alice, start_celery):
    worker = start_celery("worker")
    start_celery("beat")
    before, before_ids = make_tree(alice, start=in_seconds(5), title="before")
    worker.wait_for_log(received(pending(before.pk)), timeout=10)  # it holds the ETA message
    with rabbitmq_stopped():
        during, during_ids = make_tree(alice, start=in_seconds(2), title="during")  # publish fails
        assert ScheduledEvent.objects.get(pk=pending(during.pk).pk).dispatch_count == 0
        time.sleep(2)
    wait_until(lambda: statuses(before_ids + during_ids) == {"started"}, timeout=90,
               message="both events after RabbitMQ is back")
    time.sleep(3)
    for root, ids in ((before, before_ids), (during, during_ids)):
        assert_changed_once(ids)
        assert len(executed(root.pk)) == 1
    # Its publish failed during the outage; the planner published it once the broker was back.
    assert ScheduledEvent.objects.get(election_id=during.pk).dispatch_count >= 1
    assert executed(during.pk)[0].metadata["lateness_seconds"] > 0


def test_postgres_drops_connections_while_the_event_fires(alice, start_celery):
    if not on_postgres():
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...) to terminate backends")
    worker = start_celery("worker", env={PAUSE_IN_TRANSITION_ENV: "3"})
    start_celery("beat")
    root, ids = make_tree(alice, start=in_seconds(1.5))
    event = pending(root.pk)
    worker.wait_for_log(PAUSE_MARKER, timeout=30)
    assert terminate_other_backends() >= 1
    assert statuses(ids) == {"notstarted"}
    wait_until(lambda: statuses(ids) == {"started"}, timeout=60, message="the retried transition")
    time.sleep(2)
    assert ScheduledEvent.objects.get(pk=event.pk).state == State.DONE
    assert_changed_once(ids)
    assert len(executed(root.pk)) == 1
    assert worker.log().count(PAUSE_MARKER) >= 2, "the first attempt was cut off and retried"


def test_event_weeks_ahead_is_held_by_no_queue_until_within_the_horizon(alice, start_celery):
    from config.celery import app

    worker = start_celery("worker")
    beat = start_celery("beat")
    event_at = timezone.now() + timedelta(weeks=3)
    root, _ = make_tree(alice, start=event_at)
    event = pending(root.pk)
    assert event.next_dispatch_at == event.event_at - dispatching.horizon()
    ticks_from = timezone.now()
    wait_until(lambda: planner_ticked_since(ticks_from + timedelta(seconds=2)), timeout=20,
               message="several planner ticks")
    beat.stop()
    event.refresh_from_db()
    assert (event.dispatch_count, event.dispatched_at) == (0, None)
    # The queue holds only planner ticks, which the worker drains: nothing for this event.
    wait_until(lambda: queue_depth() == 0, timeout=15, message="an empty broker queue")
    inspect = app.control.inspect(destination=[f"{worker.name}@{socket.gethostname()}"], timeout=3)
    scheduled, reserved = inspect.scheduled(), inspect.reserved()
    if AMQP:
        assert scheduled is not None and reserved is not None, "the worker answers inspect"
    held = [task for replies in (scheduled or {}, reserved or {}) for tasks in replies.values()
            for task in tasks]
    assert not held, f"no worker holds it: {held}"
    worker.stop()

    # When its time comes within the horizon, the planner publishes it.
    assert planning.plan(now=event.next_dispatch_at + timedelta(seconds=1)) == 1
    event.refresh_from_db()
    assert event.dispatch_count == 1
    assert queue_depth() == 1
    purge_queue()
