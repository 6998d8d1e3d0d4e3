"""Runs of automations in the one due-work machinery, without a broker: stored, guarded, executed, logged.

Delivery by a real worker and beat is in test_run_delivery.py.
"""

import re
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone
from django_celery_results.models import TaskResult

import tests.run_operations  # noqa: F401  (registers "ping")
from activity_log.models import Action, ActivityEntry
from activity_log.presentation import describe
from elections.errors import InvalidInput
from elections.models import Status
from elections.services import create_election
from elections.signals import statuses_changed
from scheduling import configuring, dispatching, executing, operations, planning, runs, signals
from scheduling.models import Kind, ScheduledEvent, State
from tests.conftest import client_for
from tests.helpers import actions_of, in_seconds, status_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sent(monkeypatch):
    """What would be published (event id, task id, message) and revoked."""
    record = {"published": [], "messages": [], "revoked": []}

    def send(name, args, task_id=None, eta=None, **kw):
        pairs = [(args[0], task_id)] if name == dispatching.FIRE_EVENT else [tuple(p) for p in args[0]]
        record["messages"].append([pk for pk, _ in pairs])
        record["published"].extend(pairs)

    monkeypatch.setattr(dispatching, "send", send)
    monkeypatch.setattr(dispatching, "revoke", lambda ids: record["revoked"].extend(ids))
    return record


@pytest.fixture
def tree(alice):
    root = create_election(title="General", created_by=alice)
    north = create_election(title="North", parent=root, created_by=alice)
    deep = create_election(title="North-1", parent=north, created_by=alice)
    return root, north, deep


def spec(at, *, election=None, ops=None, automation_id=7, name="Ping", catch_up=None, part="a", **kw):
    payload = {"automation": {"id": automation_id, "uid": f"uid-{automation_id}", "name": name},
               "operations": ops if ops is not None else {"ping": {}}, "recipients": {},
               "catch_up_seconds": catch_up, "occurrence": {"at": at.isoformat()}}
    return runs.RunSpec(task_id=runs.run_task_id(f"uid-{automation_id}", at, part), run_at=at,
                        election_id=election.pk if election else None, automation_id=automation_id,
                        payload=payload, **kw)


def schedule(at, *, actor=None, **kw) -> ScheduledEvent:
    [run] = runs.schedule_runs([spec(at, **kw)], actor=actor)
    return run


def due_run(alice, **kw) -> ScheduledEvent:
    """A pending run whose time has come (written directly: a run in the past cannot be scheduled)."""
    run = schedule(in_seconds(60), actor=alice, **kw)
    ScheduledEvent.objects.filter(pk=run.pk).update(event_at=in_seconds(-1))
    return ScheduledEvent.objects.get(pk=run.pk)


def fire(run) -> str:
    return executing.execute_events([(run.pk, run.task_id)])[run.pk]


def global_log(action) -> list[ActivityEntry]:
    return actions_of(0, action)


# --- storing -------------------------------------------------------------------------

def test_the_same_decision_twice_creates_one_row_and_one_log_entry(alice):
    at = in_seconds(3600)
    assert runs.run_task_id("uid-7", at, "a") == runs.run_task_id("uid-7", at, "a")
    assert runs.run_task_id("uid-7", at, "a") != runs.run_task_id("uid-7", at, "b")
    first = runs.schedule_runs([spec(at)], actor=alice)
    again = runs.schedule_runs([spec(at), spec(at)], actor=alice)
    assert len(first) == 1 and again == []
    assert ScheduledEvent.objects.filter(kind=Kind.AUTOMATION).count() == 1
    [entry] = global_log(Action.RUN_SCHEDULED)
    assert entry.election_title == "(global)" and entry.metadata["task_id"] == first[0].task_id
    assert describe(entry).startswith("alice scheduled a run of \u201cPing\u201d for ")


def test_a_run_due_within_the_horizon_is_published_on_commit_and_one_beyond_it_later(
        alice, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        soon = schedule(in_seconds(10), actor=alice, part="soon")
        later = schedule(timezone.now() + timedelta(days=2), actor=alice, part="later")
    assert [task_id for _, task_id in sent["published"]] == [soon.task_id]
    later.refresh_from_db()
    assert later.dispatch_count == 0 and later.next_dispatch_at == later.event_at - dispatching.horizon()
    assert planning.plan() == 0
    with django_capture_on_commit_callbacks(execute=True):
        planning.plan(now=later.next_dispatch_at + timedelta(seconds=1))
    assert (later.pk, later.task_id) in sent["published"]
    assert ScheduledEvent.objects.get(pk=later.pk).dispatch_count == 1


def test_runs_never_show_up_as_voting_events(alice, tree, client):
    root, north, _ = tree
    configuring.configure(root, {"start_voting": in_seconds(600)}, actor=alice, replace=False)
    schedule(in_seconds(300), election=root, actor=alice)
    schedule(in_seconds(400), election=north, actor=alice)
    # The unique "one pending per kind" is for voting kinds: a second run of the root is fine.
    schedule(in_seconds(500), election=root, actor=alice, part="second")
    assert set(configuring.pending_events(root.pk)) == {"start_voting"}
    api = client_for(alice)
    body = api.get(f"/api/elections/{root.pk}/scheduled-events/").json()
    assert set(body) == {"start_voting", "end_voting"} and body["end_voting"] is None
    history = api.get(f"/api/elections/{root.pk}/scheduled-events/history/").json()
    rows = history["results"] if isinstance(history, dict) else history
    assert [row["kind"] for row in rows] == ["start_voting"]
    listed = api.get("/api/elections/").json()
    listed = listed["results"] if isinstance(listed, dict) else listed
    assert {e["id"]: set(k for k, v in e["scheduled_events"].items() if v) for e in listed}[north.pk] == set()
    client.force_login(alice)
    dashboard = client.get(f"/elections/{north.pk}/").content.decode()
    voting = re.findall(r'<dd data-event-kind="(\w+)">(.*?)</dd>', dashboard, re.S)
    assert [(kind, "Not scheduled" in text) for kind, text in voting] == [
        ("start_voting", True), ("end_voting", True)]  # its run is on the automations panel only
    page = client.get("/").content.decode()
    assert "Voting opens" in page and "Automation run" not in page  # the root's next event, not its run
    assert "automation" not in client.get(f"/elections/{root.pk}/events/").content.decode()
    # Configuring still works with runs pending, and leaves them alone.
    configuring.configure(root, {"start_voting": in_seconds(700)}, actor=alice, replace=True)
    assert ScheduledEvent.objects.filter(kind=Kind.AUTOMATION, state=State.PENDING).count() == 3


# --- executing -----------------------------------------------------------------------

def test_a_due_global_run_executes_its_operations_and_logs_the_counts(alice):
    seen = []
    signals.runs_finished.connect(
        receiver := lambda finished, **kw: seen.extend((r.pk, r.state) for r in finished))
    try:
        run = due_run(alice)
        assert fire(run) == "done"
    finally:
        signals.runs_finished.disconnect(receiver)
    run.refresh_from_db()
    assert run.state == State.DONE and run.executed_at and run.lateness >= timedelta(seconds=1)
    assert run.result == {"pings": 1, "operations": {"ping": {"pings": 1}}}
    assert seen == [(run.pk, "done")]
    [entry] = global_log(Action.RUN_EXECUTED)
    assert entry.on_behalf_of_name == "alice" and entry.metadata["result"]["pings"] == 1
    assert fire(run) == "discarded", "delivered again: nothing happens twice"
    assert len(global_log(Action.RUN_EXECUTED)) == 1


def test_a_stale_task_id_or_a_run_no_longer_pending_is_discarded(alice):
    run = due_run(alice)
    assert executing.execute_events([(run.pk, "not-its-task")])[run.pk] == "discarded"
    runs.close_runs([run], state=State.CANCELLED, reason="automation deleted", actor=alice)
    assert fire(run) == "discarded"
    reasons = [e.metadata["reason"] for e in global_log(Action.TASK_DISCARDED)]
    assert reasons == [f"task not-its-task is not the event's current task {run.task_id}",
                       "the event is cancelled, not pending"]
    assert not global_log(Action.RUN_EXECUTED)
    [cancelled] = global_log(Action.RUN_CANCELLED)
    assert describe(cancelled).endswith("cancelled: automation deleted")


def test_a_run_turned_off_is_skipped_and_one_turned_back_on_runs(alice, make_user):
    bob = make_user("bob")
    off = due_run(alice, part="off")
    runs.set_run_enabled(off, False, actor=bob)
    assert fire(off) == "skipped"
    off.refresh_from_db()
    assert (off.state, off.reason) == (State.SKIPPED, "turned off by bob")
    on = due_run(alice, part="on")
    runs.set_run_enabled(on, False, actor=bob)
    runs.set_run_enabled(on, True, actor=alice)
    assert fire(on) == "done"
    assert [describe(e).split(" the run")[0] for e in global_log(Action.RUN_TURNED_OFF)] == [
        "bob turned off", "bob turned off"]
    assert len(global_log(Action.RUN_TURNED_ON)) == 1
    with pytest.raises(InvalidInput) as refused:
        runs.set_run_enabled(on, False, actor=alice)
    assert "enabled" in refused.value.detail
    [skipped] = global_log(Action.RUN_SKIPPED)
    assert describe(skipped).endswith("skipped: turned off by bob")


def test_a_run_missed_beyond_its_catch_up_window_is_skipped(alice):
    missed = due_run(alice, catch_up=60, part="missed")
    ScheduledEvent.objects.filter(pk=missed.pk).update(event_at=in_seconds(-600))
    missed.refresh_from_db()
    assert fire(missed) == "skipped"
    missed.refresh_from_db()
    assert missed.reason.startswith(f"missed while down (due {missed.event_at:%Y-%m-%dT%H:%M:%SZ}, ")
    assert missed.reason.endswith(" s ago)")
    within = due_run(alice, catch_up=60, part="within")
    assert fire(within) == "done"


def test_an_operation_that_skips_undoes_the_run_and_an_error_fails_it(alice, tree):
    root, _north, _deep = tree
    configuring.change_status(root, "start", actor=alice)
    skipping = due_run(alice, election=root, ops={"suspend_voting": {}, "ping": {"skip": "nobody to remind"}},
                       part="skip")
    assert fire(skipping) == "skipped"
    assert ScheduledEvent.objects.get(pk=skipping.pk).reason == "nobody to remind"
    assert {status_of(e.pk) for e in tree} == {Status.STARTED}, "the suspension was undone"
    failing = due_run(alice, ops={"ping": {"fail": "boom"}}, part="fail")
    with pytest.raises(RuntimeError):
        executing.deliver([(failing.pk, failing.task_id)])
    failing.refresh_from_db()
    assert (failing.state, failing.reason) == (State.FAILED, "RuntimeError: boom")
    [failed] = global_log(Action.RUN_FAILED)
    assert describe(failed).endswith("failed: RuntimeError: boom")


def test_a_lone_voting_message_leaves_due_runs_to_their_own_messages(alice):
    election = create_election(title="Carrier", created_by=alice)
    start = ScheduledEvent.objects.create(election=election, kind=Kind.START_VOTING, event_at=in_seconds(-1),
                                          next_dispatch_at=timezone.now(), dispatch_count=1)
    run = due_run(alice, part="not carried")
    ScheduledEvent.objects.filter(pk=run.pk).update(next_dispatch_at=timezone.now(), dispatch_count=1)
    assert executing.deliver([(start.pk, start.task_id)], carry=True) == {start.pk: "done"}
    assert ScheduledEvent.objects.get(pk=run.pk).state == State.PENDING, "its operations are not an opening's"
    assert fire(ScheduledEvent.objects.get(pk=run.pk)) == "done"


def test_suspend_and_resume_runs_change_the_tree_exactly_like_the_buttons(alice, tree, make_user):
    root, north, deep = tree
    button_root = create_election(title="Buttons", created_by=alice)
    button_child = create_election(title="Buttons child", parent=button_root, created_by=alice)
    for election in (root, button_root):
        configuring.change_status(election, "start", actor=alice)
    configuring.change_status(deep, "suspend", actor=alice)  # already suspended: only the others change
    configuring.change_status(create_election(title="x"), "start", actor=alice)

    suspend = due_run(alice, election=root, ops={"suspend_voting": {}}, part="suspend")
    assert fire(suspend) == "done"
    configuring.change_status(button_root, "suspend", actor=alice)
    assert [status_of(e.pk) for e in tree] == [Status.SUSPENDED] * 3
    assert ScheduledEvent.objects.get(pk=suspend.pk).result["status_changes"] == 2
    assert len(actions_of(button_child.pk, Action.STATUS_CHANGED)) == len(actions_of(north.pk,
                                                                                     Action.STATUS_CHANGED))
    [change] = actions_of(north.pk, Action.STATUS_CHANGED)[-1:]
    assert change.metadata["source"] == "automation" and change.on_behalf_of_name == "alice"
    assert describe(change) == "the election went from started to suspended by the automation run"

    resume = due_run(alice, election=root, ops={"resume_voting": {}}, part="resume")
    assert fire(resume) == "done"
    assert [status_of(e.pk) for e in tree] == [Status.RESUMED] * 3
    again = due_run(alice, election=root, ops={"resume_voting": {}}, part="again")
    assert fire(again) == "skipped"
    assert ScheduledEvent.objects.get(pk=again.pk).reason == (
        "resume is not allowed: the election is resumed (needs suspended)")


def test_a_run_and_a_voting_event_due_at_one_instant_travel_and_run_together(alice, tree, sent):
    root, north, _ = tree
    at = in_seconds(60)
    configuring.configure(root, {"start_voting": at}, actor=alice, replace=False)
    run = schedule(at, election=north, actor=alice, ops={"suspend_voting": {}})
    event = configuring.pending_events(root.pk)["start_voting"]
    sent["messages"].clear()
    dispatching.publish([run, event])
    assert [sorted(m) for m in sent["messages"]] == [sorted([event.pk, run.pk])]  # one message
    ScheduledEvent.objects.filter(pk__in=[run.pk, event.pk]).update(event_at=in_seconds(-1))
    outcomes = executing.execute_events([(event.pk, event.task_id), (run.pk, run.task_id)], batch_task_id="b")
    assert outcomes == {event.pk: "done", run.pk: "done"}
    assert status_of(root.pk) == Status.STARTED and status_of(north.pk) == Status.SUSPENDED


def test_maintenance_purges_expired_results_and_sessions(alice):
    old = timezone.now() - timedelta(days=3)
    TaskResult.objects.create(task_id="old", status="SUCCESS")
    TaskResult.objects.filter(task_id="old").update(date_done=old)
    TaskResult.objects.create(task_id="new", status="SUCCESS")
    Session.objects.create(session_key="a" * 32, session_data="", expire_date=old)
    Session.objects.create(session_key="b" * 32, session_data="",
                           expire_date=timezone.now() + timedelta(days=1))
    assert "maintenance" in operations.names("global") and "maintenance" not in operations.names("election")
    run = due_run(alice, ops=operations.validate({"maintenance": {}}, scope="global"))
    assert fire(run) == "done"
    assert ScheduledEvent.objects.get(pk=run.pk).result["celery_results_deleted"] == 1
    assert list(TaskResult.objects.values_list("task_id", flat=True)) == ["new"]
    assert list(Session.objects.values_list("session_key", flat=True)) == ["b" * 32]


def test_operations_are_validated_naming_the_field():
    assert operations.validate({"suspend_voting": None}, scope="election") == {"suspend_voting": {}}
    for given, scope, field in [
        ({}, "election", "operations"),
        ({"nope": {}}, "election", "operations.nope"),
        ({"maintenance": {}}, "election", "operations.maintenance"),
        ({"suspend_voting": {"x": 1}}, "election", "operations.suspend_voting.x"),
        ({"ping": []}, "global", "operations.ping"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            operations.validate(given, scope=scope)
        assert list(refused.value.detail) == [field], given


# --- signals -------------------------------------------------------------------------

@pytest.fixture
def voting_changes():
    seen = []

    def receiver(election_id, changes, **kwargs):
        seen.append((election_id, {kind: (getattr(old, "pk", None), getattr(new, "pk", None))
                                   for kind, (old, new) in changes.items()}))

    signals.voting_events_changed.connect(receiver)
    yield seen
    signals.voting_events_changed.disconnect(receiver)


def test_voting_events_changed_says_old_and_new_for_every_change(alice, tree, voting_changes):
    root, north, _deep = tree
    created = configuring.configure(root, {"start_voting": in_seconds(600), "end_voting": in_seconds(900)},
                                    actor=alice, replace=False)
    start, end = created["start_voting"].pk, created["end_voting"].pk
    moved = configuring.configure(root, {"end_voting": in_seconds(1200)}, actor=alice, replace=False)
    configuring.configure(root, {"end_voting": None}, actor=alice, replace=False)
    assert voting_changes == [
        (root.pk, {"start_voting": (None, start), "end_voting": (None, end)}),
        (root.pk, {"end_voting": (end, moved["end_voting"].pk)}),
        (root.pk, {"end_voting": (moved["end_voting"].pk, None)}),
    ]
    voting_changes.clear()
    configuring.change_status(root, "start", actor=alice)  # by hand: the start is moot
    assert voting_changes == [(root.pk, {"start_voting": (start, None)})]

    voting_changes.clear()
    child_end = configuring.configure(north, {"end_voting": in_seconds(600)}, actor=alice,
                                      replace=False)["end_voting"].pk
    configuring.change_status(root, "stop", actor=alice)
    assert voting_changes[1:] == [(north.pk, {"end_voting": (child_end, None)})]

    voting_changes.clear()
    other = create_election(title="Other", created_by=alice)
    other_start = configuring.configure(other, {"start_voting": in_seconds(600)}, actor=alice,
                                        replace=False)["start_voting"].pk
    run = schedule(in_seconds(700), election=other, actor=alice)
    configuring.delete_election(other, actor=alice)
    assert voting_changes[1:] == [(other.pk, {"start_voting": (other_start, None)})]
    run.refresh_from_db()
    assert (run.state, run.reason) == (State.CANCELLED, "election deleted")


def test_statuses_changed_is_sent_for_every_status_change_with_its_cause(alice, tree):
    root, _north, _deep = tree
    seen = []
    receiver = lambda changes, cause, **kw: seen.append((cause, sorted(c.election_id for c in changes)))  # noqa: E731
    statuses_changed.connect(receiver)
    try:
        configuring.change_status(root, "start", actor=alice)
        assert fire(due_run(alice, election=root, ops={"suspend_voting": {}})) == "done"
        configuring.configure(root, {"end_voting": in_seconds(60)}, actor=alice, replace=False)
        event = configuring.pending_events(root.pk)["end_voting"]
        ScheduledEvent.objects.filter(pk=event.pk).update(event_at=in_seconds(-1))
        assert fire(event) == "done"
    finally:
        statuses_changed.disconnect(receiver)
    everyone = sorted(e.pk for e in tree)
    assert seen == [("manual", everyone), ("automation", everyone), ("scheduled_event", everyone)]


def test_pending_runs_and_closing_them_superseded_revokes_the_published_ones(alice, tree, sent,
                                                                           django_capture_on_commit_callbacks):
    root, north, _ = tree
    with django_capture_on_commit_callbacks(execute=True):
        soon = schedule(in_seconds(10), election=root, actor=alice, part="soon")
        later = schedule(in_seconds(3600), election=root, actor=alice, part="later")
        other = schedule(in_seconds(10), election=north, actor=alice, automation_id=8)
    assert [r.pk for r in runs.pending_runs(automation_id=7)] == [soon.pk, later.pk]
    assert [r.pk for r in runs.pending_runs(election_id=north.pk)] == [other.pk]
    with django_capture_on_commit_callbacks(execute=True):
        closed = runs.close_runs(iter([soon, later]), state=State.SUPERSEDED, reason="the rule changed",
                                 actor=alice)
    assert closed == 2 and soon.state == State.SUPERSEDED
    assert sent["revoked"] == [soon.task_id], "only the one that may have left for the broker"
    assert runs.close_runs([soon], state=State.CANCELLED, reason="again", actor=alice) == 0
    replaced = actions_of(root.pk, Action.RUN_SUPERSEDED)
    assert len(replaced) == 2 and describe(replaced[0]).endswith("replaced: the rule changed")
    assert runs.pending_runs(automation_id=7) == []
