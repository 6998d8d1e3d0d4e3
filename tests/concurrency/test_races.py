"""Races against a real worker: reschedule vs firing, many writers at once, manual vs scheduled start.

On SQLite writers serialise (every transaction takes the write lock at BEGIN),
so the races still run and must still end in exactly one effect; PostgreSQL
gives real row-level concurrency.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from activity_log.models import Action
from elections.errors import InvalidInput, TransitionNotAllowed
from elections.services import create_election
from scheduling import configuring, dispatching
from scheduling.models import ScheduledEvent, State
from tests.faults.support import (
    assert_changed_once,
    make_tree,
    pending,
    run_in_threads,
    sleep_until,
    statuses,
)
from tests.helpers import actions_of, in_seconds
from tests.processes import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TRIALS = 20


def test_reschedule_racing_the_firing_ends_with_exactly_one_time(alice, start_celery):
    start_celery("worker")
    start_celery("beat")
    first_at = in_seconds(4)
    second_at = first_at + timedelta(seconds=3)
    elections = [create_election(title=f"race {i}", created_by=alice) for i in range(TRIALS)]
    for election in elections:
        configuring.configure(election, {"start_voting": first_at}, actor=alice, replace=False)
    originals = {e.pk: pending(e.pk) for e in elections}

    rescheduled: dict[int, bool] = {}
    for i, election in enumerate(elections):
        # Reschedule attempts spread from 0.5 s before to 0.5 s after the first time.
        sleep_until(first_at + timedelta(seconds=-0.5 + i / TRIALS))
        try:
            configuring.configure(election, {"start_voting": second_at}, actor=alice, replace=False)
            rescheduled[election.pk] = True
        except InvalidInput as exc:
            assert "already started" in str(exc.detail)
            rescheduled[election.pk] = False

    ids = [e.pk for e in elections]
    wait_until(lambda: statuses(ids) == {"started"}, timeout=40, message="every trial to start")
    time.sleep(2)  # stale messages may still arrive: they must change nothing
    for election in elections:
        old = ScheduledEvent.objects.get(pk=originals[election.pk].pk)
        executed = actions_of(election.pk, Action.EVENT_EXECUTED)
        assert len(executed) == 1, f"trial {election}: exactly one time takes effect"
        assert_changed_once([election.pk])
        if rescheduled[election.pk]:
            new = ScheduledEvent.objects.exclude(pk=old.pk).get(election_id=election.pk)
            assert (old.state, new.state) == (State.SUPERSEDED, State.DONE)
            assert new.executed_at >= second_at
            assert executed[0].metadata["task_id"] == new.task_id
            [revoked] = actions_of(election.pk, Action.EVENT_REVOKED)
            assert revoked.metadata["task_id"] == old.task_id
        else:
            assert old.state == State.DONE and old.executed_at >= first_at
            assert ScheduledEvent.objects.filter(election_id=election.pk).count() == 1
            assert executed[0].metadata["task_id"] == old.task_id
            assert not actions_of(election.pk, Action.EVENT_REVOKED)
    print(f"\n{sum(rescheduled.values())} of {TRIALS} reschedules beat the firing")


def test_dozens_of_concurrent_schedule_updates_keep_one_pending_per_kind(alice, start_celery, monkeypatch):
    start_celery("worker")
    writers = 24
    election = create_election(title="contended", created_by=alice)
    base = in_seconds(6)
    revoked: list[str] = []
    original_revoke = dispatching.revoke

    def recording_revoke(task_ids):
        revoked.extend(task_ids)
        original_revoke(task_ids)

    monkeypatch.setattr(dispatching, "revoke", recording_revoke)

    worst = {"pending": 0}
    stop = threading.Event()

    def monitor():
        try:
            while not stop.is_set():
                for kind in ("start_voting", "end_voting"):
                    count = ScheduledEvent.objects.filter(election_id=election.pk, kind=kind,
                                                          state=State.PENDING).count()
                    worst["pending"] = max(worst["pending"], count)
                time.sleep(0.005)
        finally:
            connections.close_all()

    watcher = threading.Thread(target=monitor)
    watcher.start()
    try:
        def update(i):
            start = base + timedelta(milliseconds=10 * i)
            return configuring.configure(election, {"start_voting": start,
                                                 "end_voting": start + timedelta(seconds=1.5)},
                                      actor=alice, replace=True)

        results = run_in_threads(update, [(i,) for i in range(writers)])
    finally:
        stop.set()
        watcher.join()
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert worst["pending"] <= 1, "never more than one pending event per kind"

    rows = ScheduledEvent.objects.filter(election_id=election.pk)
    for kind in ("start_voting", "end_voting"):
        assert rows.filter(kind=kind, state=State.PENDING).count() == 1
        assert rows.filter(kind=kind, state=State.SUPERSEDED).count() == writers - 1
    superseded = set(rows.filter(state=State.SUPERSEDED).values_list("task_id", flat=True))
    assert set(revoked) == superseded, "every superseded task is revoked"
    scheduled = actions_of(election.pk, Action.EVENT_SCHEDULED)
    assert sorted(e.metadata["task_id"] for e in scheduled) == sorted(rows.values_list("task_id", flat=True))
    revoked_log = actions_of(election.pk, Action.EVENT_REVOKED)
    assert sorted(e.metadata["task_id"] for e in revoked_log) == sorted(superseded)

    final = {e.kind: e.task_id for e in rows.filter(state=State.PENDING)}
    wait_until(lambda: statuses([election.pk]) == {"stopped"}, timeout=40, message="start then stop")
    time.sleep(1)
    executed = actions_of(election.pk, Action.EVENT_EXECUTED)
    assert [e.metadata["task_id"] for e in executed] == [final["start_voting"], final["end_voting"]]
    changes = actions_of(election.pk, Action.STATUS_CHANGED)
    assert [c.metadata["to"] for c in changes] == ["started", "stopped"]
    for discarded in actions_of(election.pk, Action.TASK_DISCARDED):
        assert discarded.metadata["task_id"] in superseded


def test_manual_start_racing_the_scheduled_start_changes_status_once(alice, start_celery):
    start_celery("worker")
    start_celery("beat")
    trials = 10
    start_at = in_seconds(4)
    trees = [make_tree(alice, start=start_at, title=f"m{i}") for i in range(trials)]
    events = {root.pk: pending(root.pk) for root, _ in trees}

    by_hand: dict[int, bool] = {}
    for i, (root, _) in enumerate(trees):
        sleep_until(start_at + timedelta(seconds=-0.3 + 0.6 * i / trials))
        try:
            configuring.change_status(root, "start", actor=alice)
            by_hand[root.pk] = True
        except TransitionNotAllowed:
            by_hand[root.pk] = False

    every_id = [i for _, ids in trees for i in ids]
    wait_until(lambda: statuses(every_id) == {"started"}, timeout=40, message="every tree to start")
    time.sleep(2)
    for root, ids in trees:
        assert_changed_once(ids)
        event = ScheduledEvent.objects.get(pk=events[root.pk].pk)
        executed = actions_of(root.pk, Action.EVENT_EXECUTED)
        source = actions_of(root.pk, Action.STATUS_CHANGED)[0].metadata["source"]
        if by_hand[root.pk]:
            assert event.state == State.CANCELLED and not executed and source == "manual"
            [revoked] = actions_of(root.pk, Action.EVENT_REVOKED)
            assert revoked.metadata["task_id"] == event.task_id and "by hand" in revoked.metadata["reason"]
        else:
            assert event.state == State.DONE and len(executed) == 1 and source == "scheduled_event"
    assert timezone.now() > start_at
    print(f"\n{sum(by_hand.values())} of {trials} manual starts beat the scheduled one")
