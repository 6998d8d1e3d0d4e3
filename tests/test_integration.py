"""End to end with a real worker and beat on the configured broker (RabbitMQ in CI)."""

import time
from datetime import timedelta

import pytest

from activity_log.models import Action
from elections.models import Status
from scheduling.models import ScheduledEvent, State
from scheduling.tasks import fire_event
from tests.helpers import actions_of, in_seconds, iso, status_of
from tests.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def create_tree(api, start_at=None, end_at=None):
    events = {}
    if start_at:
        events["start_voting"] = {"event_at": iso(start_at)}
    if end_at:
        events["end_voting"] = {"event_at": iso(end_at)}
    response = api.post("/api/elections/", {
        "title": "General", "scheduled_events": events,
        "children": [{"title": "North"}, {"title": "South", "children": [{"title": "South-East"}]}],
    }, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def tree(root_id: int) -> list[int]:
    from elections.models import Election
    from elections.selectors import tree_ids

    return tree_ids(Election.objects.get(pk=root_id))


def test_election_with_children_opens_and_closes_by_itself(api, worker, beat):
    start, end = in_seconds(2.5), in_seconds(4.5)
    root = create_tree(api, start, end)
    ids = tree(root["id"])
    assert len(ids) == 4
    assert all(status_of(i) == Status.NOT_STARTED for i in ids)

    wait_until(lambda: all(status_of(i) == Status.STARTED for i in ids), timeout=15,
               message="the whole tree to start")
    start_event = ScheduledEvent.objects.get(task_id=root["scheduled_events"]["start_voting"]["task_id"])
    assert start_event.state == State.DONE
    assert start_event.executed_at >= start
    assert start_event.lateness.total_seconds() < 5

    wait_until(lambda: all(status_of(i) == Status.STOPPED for i in ids), timeout=15,
               message="the whole tree to stop")
    executed = actions_of(root["id"], Action.EVENT_EXECUTED)
    assert [e.metadata["kind"] for e in executed] == ["start_voting", "end_voting"]
    assert executed[0].metadata["task_id"] == start_event.task_id
    assert executed[0].metadata["elections_changed"] == 4
    for election_id in ids:
        changes = actions_of(election_id, Action.STATUS_CHANGED)
        assert [(c.metadata["from"], c.metadata["to"]) for c in changes] == [
            ("notstarted", "started"), ("started", "stopped")]


def test_rescheduled_event_fires_only_at_the_new_time(api, worker, beat):
    root = create_tree(api, start_at=in_seconds(2))
    old_task = root["scheduled_events"]["start_voting"]["task_id"]
    new_time = in_seconds(6)
    response = api.patch(f"/api/elections/{root['id']}/scheduled-events/",
                         {"start_voting": {"event_at": iso(new_time)}}, format="json")
    assert response.status_code == 200, response.content
    new_task = response.json()["start_voting"]["task_id"]
    assert new_task != old_task

    time.sleep(3.5)  # past the old time: nothing may have happened
    assert status_of(root["id"]) == Status.NOT_STARTED
    wait_until(lambda: status_of(root["id"]) == Status.STARTED, timeout=15, message="start at new time")
    done = ScheduledEvent.objects.get(task_id=new_task)
    assert done.executed_at >= new_time
    assert ScheduledEvent.objects.get(task_id=old_task).state == State.SUPERSEDED
    executed = actions_of(root["id"], Action.EVENT_EXECUTED)
    assert [e.metadata["task_id"] for e in executed] == [new_task]


def test_cancelled_event_never_fires(api, worker, beat):
    root = create_tree(api, start_at=in_seconds(2))
    task_id = root["scheduled_events"]["start_voting"]["task_id"]
    response = api.put(f"/api/elections/{root['id']}/scheduled-events/", {}, format="json")
    assert response.status_code == 200
    assert response.json() == {"start_voting": None, "end_voting": None}
    time.sleep(5)
    assert all(status_of(i) == Status.NOT_STARTED for i in tree(root["id"]))
    assert ScheduledEvent.objects.get(task_id=task_id).state == State.CANCELLED
    assert not actions_of(root["id"], Action.EVENT_EXECUTED)
    revoked = actions_of(root["id"], Action.EVENT_REVOKED)
    assert [r.metadata["task_id"] for r in revoked] == [task_id]


def test_duplicated_message_fires_once(api, worker):
    root = create_tree(api, start_at=in_seconds(2))
    pending = ScheduledEvent.objects.get(election_id=root["id"], state=State.PENDING)
    # the broker delivers the same message again
    fire_event.apply_async((pending.pk,), task_id=pending.task_id, eta=pending.event_at)
    fire_event.apply_async((pending.pk,), task_id=pending.task_id, eta=pending.event_at)
    wait_until(lambda: len(actions_of(root["id"], Action.TASK_DISCARDED)) >= 2, timeout=15,
               message="both duplicates to be discarded")
    assert status_of(root["id"]) == Status.STARTED
    assert len(actions_of(root["id"], Action.EVENT_EXECUTED)) == 1
    assert len(actions_of(root["id"], Action.STATUS_CHANGED)) == 1
    for discarded in actions_of(root["id"], Action.TASK_DISCARDED):
        assert discarded.metadata["task_id"] == pending.task_id
        assert "done" in discarded.metadata["reason"]


def test_elections_due_at_one_instant_open_from_one_message_each_checked_by_its_own_task_id(
        api, worker, beat, settings):
    settings.SCHEDULING_HORIZON_SECONDS = 2  # so the planner, not the API, publishes them
    at = in_seconds(4)
    ids = [api.post("/api/elections/", {"title": f"Ward {i}", "scheduled_events": {
        "start_voting": {"event_at": iso(at)}}}, format="json").json()["id"] for i in range(6)]
    wait_until(lambda: ScheduledEvent.objects.filter(election_id__in=ids, dispatch_count=1).count() == 6,
               timeout=5, message="the planner to publish the six events")
    *together, moved = ids
    old_task = ScheduledEvent.objects.get(election_id=moved, state=State.PENDING).task_id
    later = at + timedelta(seconds=1.5)
    response = api.patch(f"/api/elections/{moved}/scheduled-events/",
                         {"start_voting": {"event_at": iso(later)}}, format="json")
    assert response.status_code == 200, response.content

    wait_until(lambda: all(status_of(i) == Status.STARTED for i in together), timeout=10,
               message="the five elections to open")
    assert status_of(moved) == Status.NOT_STARTED  # its old task id came in the same message
    executed = [actions_of(i, Action.EVENT_EXECUTED)[0].metadata for i in together]
    assert len({m["batch_task_id"] for m in executed}) == 1  # one message carried all five
    assert sorted(m["task_id"] for m in executed) == sorted(
        ScheduledEvent.objects.filter(election_id__in=together).values_list("task_id", flat=True))
    [discarded] = actions_of(moved, Action.TASK_DISCARDED)
    assert discarded.metadata["task_id"] == old_task
    assert discarded.metadata["batch_task_id"] == executed[0]["batch_task_id"]

    wait_until(lambda: status_of(moved) == Status.STARTED, timeout=10, message="the moved one to open")
    [moved_run] = actions_of(moved, Action.EVENT_EXECUTED)
    assert moved_run.metadata["task_id"] == response.json()["start_voting"]["task_id"]
    assert "batch_task_id" not in moved_run.metadata  # due alone: its own message
    assert ScheduledEvent.objects.get(task_id=moved_run.metadata["task_id"]).executed_at >= later


def test_elections_created_one_by_one_for_one_instant_open_together_each_logged_once(api, worker):
    at = in_seconds(3)  # inside the horizon: each request publishes its own message
    ids = [api.post("/api/elections/", {"title": f"Ward {i}", "scheduled_events": {
        "start_voting": {"event_at": iso(at)}}}, format="json").json()["id"] for i in range(12)]
    assert ScheduledEvent.objects.filter(election_id__in=ids, dispatch_count=1).count() == 12

    wait_until(lambda: all(status_of(i) == Status.STARTED for i in ids), timeout=15,
               message="the twelve elections to open")
    task_ids = ScheduledEvent.objects.filter(election_id__in=ids).values_list("task_id", flat=True)

    def settled(task_id: str) -> bool:  # its own message ran, or the worker dropped it as revoked
        log = worker.log()
        return (f"fire_event[{task_id}] succeeded" in log
                or f"revoked task: scheduling.tasks.fire_event[{task_id}]" in log)

    wait_until(lambda: all(settled(t) for t in task_ids), timeout=15, message="all twelve messages to arrive")
    executed = [actions_of(i, Action.EVENT_EXECUTED) for i in ids]
    assert all(len(rows) == 1 for rows in executed), "each opened once"
    carriers = {rows[0].metadata.get("batch_task_id") for rows in executed} - {None}
    assert carriers, "one message carried the others"
    assert carriers <= {rows[0].metadata["task_id"] for rows in executed}
    assert [i for i in ids if actions_of(i, Action.TASK_DISCARDED)] == [], \
        "the carried events' own messages change nothing and add nothing to the log"


def test_overdue_event_whose_message_was_lost_is_recovered_by_the_planner(api, worker, beat, monkeypatch):
    from scheduling import dispatching

    # The message is lost: publishing "succeeds" but nothing reaches the broker.
    monkeypatch.setattr(dispatching, "send", lambda *args, **kwargs: None)
    root = create_tree(api, start_at=in_seconds(1))
    monkeypatch.undo()
    pending = ScheduledEvent.objects.get(election_id=root["id"], state=State.PENDING)
    assert pending.dispatch_count == 1
    assert dispatching.redispatch_after().total_seconds() == 3

    wait_until(lambda: status_of(root["id"]) == Status.STARTED, timeout=20,
               message="the planner to re-publish the overdue event")
    done = ScheduledEvent.objects.get(pk=pending.pk)
    assert done.state == State.DONE
    assert done.dispatch_count >= 2
    assert done.lateness.total_seconds() >= 2  # it was late, and that is recorded
    redispatched = actions_of(root["id"], Action.EVENT_DISPATCHED)
    assert redispatched and redispatched[0].metadata["task_id"] == pending.task_id
    executed = actions_of(root["id"], Action.EVENT_EXECUTED)
    assert len(executed) == 1 and executed[0].metadata["lateness_seconds"] >= 2


def test_health_reports_each_part_and_turns_503_when_one_is_down(make_user, start_celery):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    staff = make_user("operator", can_create=False)
    staff.is_staff = True
    staff.save()
    client = APIClient(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")  # details
    down = client.get("/healthz")
    assert down.status_code == 503
    assert down.json()["checks"]["database"]["ok"] is True
    assert down.json()["checks"]["broker"]["ok"] is True
    assert down.json()["checks"]["planner"]["ok"] is False

    start_celery("worker")
    start_celery("beat")
    healthy = wait_until(lambda: (r := client.get("/healthz")).status_code == 200 and r, timeout=20,
                         message="/healthz to report every part up")
    checks = healthy.json()["checks"]
    assert checks["workers"]["ok"] and checks["workers"]["detail"]
    assert checks["planner"]["ok"] and checks["planner"]["detail"]
