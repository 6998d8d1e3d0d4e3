"""Scale-out: two workers and two beats on one database and one broker (docs/architecture.md).

Real processes. Trees due at one instant, some of whose messages were lost, so both
planners compete to publish them again while both workers take messages. Each
election must change status once, and each event be executed once.
"""

import time
from datetime import timedelta

import pytest

from activity_log.models import Action
from scheduling import dispatching
from tests.faults.support import assert_changed_once, assert_lost_events_recovered, make_tree, statuses
from tests.helpers import actions_of, in_seconds
from tests.processes import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_two_workers_and_two_beats_open_each_election_once(alice, start_celery, monkeypatch):
    for _ in range(2):
        start_celery("worker", ["--concurrency", "1"])
    start_celery("beat")
    start_celery("beat")
    at = in_seconds(15)  # nine trees are made first, on a machine that may be busy
    published = [make_tree(alice, start=at, title=f"published {i}") for i in range(6)]
    monkeypatch.setattr(dispatching, "send", lambda *args, **kwargs: None)  # these messages are lost
    # Due after the others, so the planners usually publish them again before a late message of
    # the others carries them (executing.co_due); either way each opens once.
    lost = [make_tree(alice, start=at + timedelta(seconds=2), title=f"lost {i}") for i in range(3)]
    monkeypatch.undo()

    every_id = [i for _, ids in published + lost for i in ids]
    wait_until(lambda: statuses(every_id) == {"started"}, timeout=60, message="all nine trees to start")
    time.sleep(2)  # more ticks from both planners, more messages taken by both workers: nothing may change
    for root, ids in published + lost:
        assert_changed_once(ids)
        assert len(actions_of(root.pk, Action.EVENT_EXECUTED)) == 1
    assert_lost_events_recovered([root for root, _ in lost])
