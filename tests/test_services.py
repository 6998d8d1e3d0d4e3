"""The service layer's rules, without a broker: what is stored, logged, published and revoked."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from activity_log.models import Action, ActivityEntry
from elections.errors import InvalidInput, TransitionNotAllowed
from elections.models import Election, Status
from elections.services import create_election
from scheduling import configuring, dispatching, executing, planning
from scheduling.models import ScheduledEvent, State
from tests.helpers import actions_of, in_seconds, status_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    """Record what would be published and revoked (the broker is tested in test_integration)."""
    record = {"published": [], "revoked": []}

    def send(name, args, task_id=None, eta=None, **kw):
        if name == dispatching.FIRE_EVENT:
            record["published"].append((args[0], task_id, eta))
        else:
            record["published"].extend((event_id, task_id, eta) for event_id, task_id in args[0])

    monkeypatch.setattr(dispatching, "send", send)
    monkeypatch.setattr(dispatching, "revoke", lambda ids: record["revoked"].extend(ids))
    return record


@pytest.fixture
def tree(alice):
    root = create_election(title="General", created_by=alice)
    north = create_election(title="North", parent=root, created_by=alice)
    deep = create_election(title="North-1", parent=north, created_by=alice)
    return root, north, deep


def configure(election, actor, replace=True, **events):
    return configuring.configure(election, events, actor=actor, replace=replace)


def test_scheduling_creates_a_pending_row_a_log_row_and_publishes_after_commit(
        alice, tree, sent, django_capture_on_commit_callbacks):
    root, *_ = tree
    at = in_seconds(10)  # within the horizon (20 s in tests)
    with django_capture_on_commit_callbacks() as callbacks:
        pending = configure(root, alice, start_voting=at)
        assert sent["published"] == []  # nothing leaves before commit
    assert len(callbacks) == 1
    callbacks[0]()  # the commit
    event = pending["start_voting"]
    assert (event.state, event.event_at, event.scheduled_by) == (State.PENDING, at, alice)
    assert sent["published"] == [(event.pk, event.task_id, at)]
    assert ScheduledEvent.objects.get(pk=event.pk).dispatch_count == 1
    [row] = actions_of(root.pk, Action.EVENT_SCHEDULED)
    assert row.metadata["task_id"] == event.task_id and row.actor == alice


def test_event_beyond_the_horizon_is_not_published_until_the_planner_reaches_it(
        alice, tree, sent, django_capture_on_commit_callbacks, settings):
    root, *_ = tree
    with django_capture_on_commit_callbacks(execute=True):
        event = configure(root, alice, end_voting=timezone.now() + timedelta(days=21))["end_voting"]
    assert sent["published"] == []
    assert planning.plan() == 0
    horizon_reached = event.event_at - timedelta(seconds=settings.SCHEDULING_HORIZON_SECONDS)
    with django_capture_on_commit_callbacks(execute=True):
        assert planning.plan(now=horizon_reached + timedelta(seconds=1)) == 1
    assert [p[1] for p in sent["published"]] == [event.task_id]


def test_rescheduling_supersedes_the_old_row_revokes_its_task_and_keeps_history(
        alice, tree, sent, django_capture_on_commit_callbacks):
    root, *_ = tree
    with django_capture_on_commit_callbacks(execute=True):
        first = configure(root, alice, start_voting=in_seconds(10))["start_voting"]
    assert [p[1] for p in sent["published"]] == [first.task_id]  # within the horizon: sent at once
    with django_capture_on_commit_callbacks(execute=True):
        second = configure(root, alice, start_voting=in_seconds(120))["start_voting"]
    assert second.task_id != first.task_id
    first.refresh_from_db()
    assert (first.state, first.reason) == (State.SUPERSEDED, "rescheduled")
    assert sent["revoked"] == [first.task_id]
    [revoked] = actions_of(root.pk, Action.EVENT_REVOKED)
    assert revoked.metadata["task_id"] == first.task_id and revoked.metadata["reason"] == "rescheduled"
    assert ScheduledEvent.objects.filter(election=root).count() == 2


def test_rescheduling_an_event_never_sent_broadcasts_no_revoke_but_logs_it(
        alice, tree, sent, django_capture_on_commit_callbacks):
    root, *_ = tree
    with django_capture_on_commit_callbacks(execute=True):
        first = configure(root, alice, start_voting=in_seconds(3600))["start_voting"]
        configure(root, alice, start_voting=in_seconds(7200), end_voting=in_seconds(9000))
    assert sent["published"] == [] and sent["revoked"] == []
    first.refresh_from_db()
    assert (first.state, first.reason) == (State.SUPERSEDED, "rescheduled")
    [revoked] = actions_of(root.pk, Action.EVENT_REVOKED)
    assert revoked.metadata["task_id"] == first.task_id
    assert len(actions_of(root.pk, Action.EVENT_SCHEDULED)) == 3


def test_unchanged_time_keeps_the_row_and_task(alice, tree, sent, django_capture_on_commit_callbacks):
    root, *_ = tree
    at = in_seconds(60)
    with django_capture_on_commit_callbacks(execute=True):
        first = configure(root, alice, start_voting=at)["start_voting"]
        again = configure(root, alice, start_voting=at)["start_voting"]
    assert again.pk == first.pk and sent["revoked"] == []


def test_full_update_cancels_a_kind_left_out_and_partial_keeps_it(alice, tree, sent):
    root, *_ = tree
    both = configure(root, alice, start_voting=in_seconds(60), end_voting=in_seconds(120))
    kept = configuring.configure(root, {"end_voting": in_seconds(180)}, actor=alice, replace=False)
    assert kept["start_voting"].pk == both["start_voting"].pk
    replaced = configuring.configure(root, {"end_voting": kept["end_voting"].event_at}, actor=alice,
                                  replace=True)
    assert "start_voting" not in replaced
    assert ScheduledEvent.objects.get(pk=both["start_voting"].pk).state == State.CANCELLED


@pytest.mark.parametrize("events, field", [
    ({"start_voting": -5}, "start_voting"),
    ({"start_voting": 60, "end_voting": 30}, "end_voting"),
    ({"start_voting": 60, "end_voting": 60}, "end_voting"),
])
def test_bad_schedules_are_refused_and_change_nothing(alice, tree, sent, events, field):
    root, *_ = tree
    before = configure(root, alice, start_voting=in_seconds(30))
    log_rows = ActivityEntry.objects.count()
    base = timezone.now()
    with pytest.raises(InvalidInput) as caught:
        configure(root, alice, **{k: base + timedelta(seconds=v) for k, v in events.items()})
    assert "event_at" in caught.value.detail[field]
    assert configuring.pending_events(root.pk) == before
    assert ActivityEntry.objects.count() == log_rows


def test_end_must_follow_the_start_already_stored(alice, tree, sent):
    root, *_ = tree
    configure(root, alice, start_voting=in_seconds(120))
    with pytest.raises(InvalidInput) as caught:
        configuring.configure(root, {"end_voting": in_seconds(60)}, actor=alice, replace=False)
    assert "after the start of voting" in caught.value.detail["end_voting"]["event_at"][0]


def test_start_cannot_be_scheduled_for_an_election_already_started(alice, tree, sent):
    root, *_ = tree
    configuring.change_status(root, "start", actor=alice)
    with pytest.raises(InvalidInput) as caught:
        configure(root, alice, start_voting=in_seconds(60))
    assert "already started" in caught.value.detail["start_voting"]["event_at"][0]
    # ...but its end may be
    assert configure(root, alice, end_voting=in_seconds(60))["end_voting"].state == State.PENDING


def test_at_most_one_pending_event_per_kind_is_enforced_by_the_database(alice, tree):
    root, *_ = tree
    ScheduledEvent.objects.create(election=root, kind="start_voting", event_at=in_seconds(60),
                                  next_dispatch_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        ScheduledEvent.objects.create(election=root, kind="start_voting", event_at=in_seconds(90),
                                      next_dispatch_at=timezone.now())


def test_manual_start_changes_the_tree_and_cancels_the_pending_start(
        alice, tree, sent, django_capture_on_commit_callbacks):
    root, north, deep = tree
    with django_capture_on_commit_callbacks(execute=True):  # within the horizon: sent
        pending = configure(root, alice, start_voting=in_seconds(10), end_voting=in_seconds(120))
    with django_capture_on_commit_callbacks(execute=True):
        configuring.change_status(root, "start", actor=alice)
    assert set(Election.objects.values_list("status", flat=True)) == {Status.STARTED}
    assert ScheduledEvent.objects.get(pk=pending["start_voting"].pk).state == State.CANCELLED
    assert ScheduledEvent.objects.get(pk=pending["end_voting"].pk).state == State.PENDING
    assert pending["start_voting"].task_id in sent["revoked"]
    changed = ActivityEntry.objects.filter(action=Action.STATUS_CHANGED)
    assert sorted(changed.values_list("election_id", flat=True)) == [root.pk, north.pk, deep.pk]
    assert all(row.actor == alice and row.metadata["source"] == "manual" for row in changed)


def test_manual_stop_cancels_both_kinds(alice, tree, sent):
    root, *_ = tree
    configuring.change_status(root, "start", actor=alice)
    end = configure(root, alice, end_voting=in_seconds(60))["end_voting"]
    configuring.change_status(root, "stop", actor=alice)
    assert ScheduledEvent.objects.get(pk=end.pk).state == State.CANCELLED


def test_transition_not_allowed_changes_nothing(alice, tree):
    root, *_ = tree
    expected = "its status is notstarted; suspend needs resumed or started"
    with pytest.raises(TransitionNotAllowed, match=expected):
        configuring.change_status(root, "suspend", actor=alice)
    assert not ActivityEntry.objects.filter(action=Action.STATUS_CHANGED).exists()


def test_deleting_an_election_cancels_and_revokes_its_and_its_descendants_events(
        alice, tree, sent, django_capture_on_commit_callbacks):
    root, north, _ = tree
    with django_capture_on_commit_callbacks(execute=True):  # within the horizon: sent
        mine = configure(root, alice, start_voting=in_seconds(10))["start_voting"]
        child = configure(north, alice, end_voting=in_seconds(15))["end_voting"]
    with django_capture_on_commit_callbacks(execute=True):
        configuring.delete_election(root, actor=alice)
    assert not Election.objects.exists()
    for event in (mine, child):
        event.refresh_from_db()
        assert (event.state, event.reason) == (State.CANCELLED, "election deleted")
        assert event.task_id in sent["revoked"]
    assert ActivityEntry.objects.filter(action=Action.ELECTION_DELETED).count() == 3


# --- execution ------------------------------------------------------------------------

def due_event(election, kind, actor, seconds_ago=0.5):
    """A pending event whose time has just come (created directly: configure refuses the past)."""
    return ScheduledEvent.objects.create(election=election, kind=kind, scheduled_by=actor,
                                         event_at=in_seconds(-seconds_ago),
                                         next_dispatch_at=timezone.now())


def published(*events):
    """The events as ``dispatching.publish`` leaves them once their messages are sent."""
    ScheduledEvent.objects.filter(pk__in=[e.pk for e in events]).update(dispatch_count=1)
    return events if len(events) > 1 else events[0]


def test_execution_flips_the_whole_tree_in_one_go_and_records_lateness(alice, tree, sent):
    root, north, deep = tree
    event = due_event(root, "start_voting", alice)
    assert executing.execute_event(event.pk, event.task_id) == "done"
    assert set(Election.objects.values_list("status", flat=True)) == {Status.STARTED}
    event.refresh_from_db()
    assert event.state == State.DONE
    assert timedelta(seconds=0.5) <= event.lateness < timedelta(seconds=5)
    [executed] = actions_of(root.pk, Action.EVENT_EXECUTED)
    assert executed.on_behalf_of == alice and executed.actor is None
    assert executed.metadata["elections_changed"] == 3
    for election in (root, north, deep):
        [change] = actions_of(election.pk, Action.STATUS_CHANGED)
        assert change.metadata["task_id"] == event.task_id


def test_children_whose_status_does_not_allow_it_are_left_alone(alice, tree, sent):
    root, north, deep = tree
    configuring.change_status(north, "start", actor=alice)
    configuring.change_status(north, "stop", actor=alice)
    event = due_event(root, "start_voting", alice)
    executing.execute_event(event.pk, event.task_id)
    assert Election.objects.get(pk=north.pk).status == Status.STOPPED
    assert Election.objects.get(pk=deep.pk).status == Status.STOPPED
    assert Election.objects.get(pk=root.pk).status == Status.STARTED


def test_second_delivery_and_a_stale_task_id_change_nothing_and_say_so(alice, tree, sent):
    root, *_ = tree
    event = due_event(root, "start_voting", alice)
    assert executing.execute_event(event.pk, "some-other-task-id") == "discarded"
    assert Election.objects.get(pk=root.pk).status == Status.NOT_STARTED
    assert executing.execute_event(event.pk, event.task_id) == "done"
    assert executing.execute_event(event.pk, event.task_id) == "discarded"
    reasons = [row.metadata["reason"] for row in actions_of(root.pk, Action.TASK_DISCARDED)]
    assert "is not the event's current task" in reasons[0]
    assert "done, not pending" in reasons[1]
    assert len(actions_of(root.pk, Action.STATUS_CHANGED)) == 1


def test_scheduled_start_of_an_election_started_by_hand_is_skipped_with_the_reason(alice, tree, sent):
    root, *_ = tree
    event = due_event(root, "end_voting", alice)
    assert executing.execute_event(event.pk, event.task_id) == "skipped"
    event.refresh_from_db()
    assert event.state == State.SKIPPED and "election is notstarted" in event.reason
    [skipped] = actions_of(root.pk, Action.EVENT_SKIPPED)
    assert skipped.metadata["reason"] == event.reason


def test_early_delivery_is_published_again_for_its_time(
        alice, tree, sent, django_capture_on_commit_callbacks):
    root, *_ = tree
    event = ScheduledEvent.objects.create(election=root, kind="start_voting", event_at=in_seconds(30),
                                          next_dispatch_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert executing.execute_event(event.pk, event.task_id) == "early"
    assert sent["published"] == [(event.pk, event.task_id, event.event_at)]
    assert Election.objects.get(pk=root.pk).status == Status.NOT_STARTED


# --- events due at one instant, delivered together ------------------------------------------

def test_events_due_together_open_in_one_delivery_each_guarded_by_its_own_task_id(alice, sent):
    elections = [create_election(title=f"Ward {i}", created_by=alice) for i in range(4)]
    events = [due_event(e, "start_voting", alice) for e in elections]
    stale, *current = events
    outcomes = executing.execute_events(
        [(stale.pk, "an-old-task-id"), *((e.pk, e.task_id) for e in current)], batch_task_id="batch-1")
    assert outcomes == {stale.pk: "discarded", **{e.pk: "done" for e in current}}
    assert status_of(stale.election_id) == Status.NOT_STARTED
    for event in current:
        assert status_of(event.election_id) == Status.STARTED
        [executed] = actions_of(event.election_id, Action.EVENT_EXECUTED)
        assert executed.metadata["task_id"] == event.task_id
        assert executed.metadata["batch_task_id"] == "batch-1"
        assert executed.on_behalf_of == alice
        assert ScheduledEvent.objects.get(pk=event.pk).lateness >= timedelta(seconds=0.5)
    [discarded] = actions_of(stale.election_id, Action.TASK_DISCARDED)
    assert "an-old-task-id is not the event's current task" in discarded.metadata["reason"]


def test_a_lone_message_carries_the_events_due_with_it_and_their_own_messages_change_nothing(
        alice, sent, django_capture_on_commit_callbacks):
    first, second, third, fourth = (create_election(title=f"Ward {i}", created_by=alice) for i in range(4))
    own, other = published(due_event(first, "start_voting", alice), due_event(second, "start_voting", alice))
    published(ScheduledEvent.objects.create(election=third, kind="start_voting", event_at=in_seconds(30),
                                            next_dispatch_at=timezone.now()))
    due_event(fourth, "start_voting", alice)  # its publish failed: the planner's to publish again
    with django_capture_on_commit_callbacks(execute=True):
        assert executing.deliver([(own.pk, own.task_id)], carry=True) == {own.pk: "done", other.pk: "done"}
    assert [status_of(e.pk) for e in (second, third, fourth)] == [
        Status.STARTED, Status.NOT_STARTED, Status.NOT_STARTED]
    [executed] = actions_of(second.pk, Action.EVENT_EXECUTED)
    assert (executed.metadata["task_id"], executed.metadata["batch_task_id"]) == (other.task_id, own.task_id)
    assert "batch_task_id" not in actions_of(first.pk, Action.EVENT_EXECUTED)[0].metadata
    assert sent["revoked"] == [other.task_id]  # hygiene: its own message is no longer needed

    # Its own message arrives anyway: nothing changes, no log row; it was expected, not stale.
    assert executing.deliver([(other.pk, other.task_id)], carry=True) == {other.pk: "carried"}
    assert actions_of(second.pk, Action.TASK_DISCARDED) == []
    # Duplicates, of that message or of the one that carried it, change nothing and are logged.
    again = executing.execute_events([(other.pk, other.task_id)], batch_task_id="b-7")
    assert again == {other.pk: "discarded"}
    assert executing.deliver([(own.pk, own.task_id)], carry=True) == {own.pk: "discarded"}
    assert len(actions_of(first.pk, Action.TASK_DISCARDED)) == 1
    assert len(actions_of(second.pk, Action.TASK_DISCARDED)) == 1
    assert len(actions_of(second.pk, Action.STATUS_CHANGED)) == 1


@pytest.mark.parametrize("error", [OperationalError, IntegrityError, RuntimeError])
def test_an_error_with_the_carried_events_runs_the_own_event_alone_at_once(alice, sent, monkeypatch, error):
    first, second, third = (create_election(title=f"Ward {i}", created_by=alice) for i in range(3))
    own, poison = published(due_event(first, "start_voting", alice), due_event(second, "start_voting", alice))
    again = due_event(third, "start_voting", alice)
    ScheduledEvent.objects.filter(pk=again.pk).update(dispatch_count=2)  # published again by the planner
    report = executing.signals.report_outcomes

    def fail_for_poison(transitions, skipped, done_at):
        if any(event.pk == poison.pk for event, _, _ in transitions):
            raise error("poison")
        report(transitions, skipped, done_at)

    monkeypatch.setattr(executing.signals, "report_outcomes", fail_for_poison)
    assert executing.deliver([(own.pk, own.task_id)], retries=0, carry=True) == {own.pk: "done"}
    assert ScheduledEvent.objects.get(pk=poison.pk).state == State.PENDING  # its own message meets it
    assert status_of(third.pk) == Status.NOT_STARTED, "a re-published event is the planner's"


def test_a_carried_event_rescheduled_before_the_lock_is_left_to_its_new_message(alice, sent, monkeypatch):
    first, second = (create_election(title=f"Ward {i}", created_by=alice) for i in range(2))
    own, other = published(due_event(first, "start_voting", alice), due_event(second, "start_voting", alice))
    read = executing.co_due

    def read_then_reschedule(delivered, now):
        found = read(delivered, now)
        ScheduledEvent.objects.filter(pk=other.pk).update(task_id="moved-meanwhile", event_at=in_seconds(60))
        return found

    monkeypatch.setattr(executing, "co_due", read_then_reschedule)
    assert executing.deliver([(own.pk, own.task_id)], carry=True) == {own.pk: "done"}
    assert status_of(second.pk) == Status.NOT_STARTED
    assert actions_of(second.pk, Action.TASK_DISCARDED) == []  # not this message's to log


def test_an_event_made_moot_by_an_earlier_one_in_the_same_delivery_is_cancelled_not_run(
        alice, tree, sent):
    root, north, deep = tree
    parent_start = due_event(root, "start_voting", alice)
    child_start = due_event(north, "start_voting", alice)
    outcomes = executing.execute_events([(child_start.pk, child_start.task_id),
                                        (parent_start.pk, parent_start.task_id)])
    assert outcomes == {parent_start.pk: "done", child_start.pk: "cancelled"}
    child_start.refresh_from_db()
    assert child_start.state == State.CANCELLED
    assert child_start.reason == f"election started by start_voting {parent_start.task_id}"
    for election in (root, north, deep):
        assert len(actions_of(election.pk, Action.STATUS_CHANGED)) == 1  # started once


def test_one_delivery_runs_its_events_in_order_as_if_delivered_one_by_one(alice, tree, sent):
    root, north, _ = tree
    start = due_event(root, "start_voting", alice)
    stop_child = due_event(north, "end_voting", alice)  # allowed only once the parent's start ran
    outcomes = executing.execute_events([(start.pk, start.task_id), (stop_child.pk, stop_child.task_id)])
    assert outcomes == {start.pk: "done", stop_child.pk: "done"}
    assert (status_of(root.pk), status_of(north.pk)) == (Status.STARTED, Status.STOPPED)
    assert [(c.metadata["from"], c.metadata["to"]) for c in actions_of(north.pk, Action.STATUS_CHANGED)] == [
        ("notstarted", "started"), ("started", "stopped")]


def test_overdue_events_of_one_election_run_in_order_of_time_not_of_id(alice, sent):
    election = create_election(title="Outage", created_by=alice)
    end = due_event(election, "end_voting", alice, seconds_ago=60)  # the lower id ...
    start = due_event(election, "start_voting", alice, seconds_ago=120)  # ... but the earlier time
    outcomes = executing.execute_events([(end.pk, end.task_id), (start.pk, start.task_id)])
    assert outcomes == {start.pk: "done", end.pk: "done"}
    assert status_of(election.pk) == Status.STOPPED


def test_a_delivery_mixing_due_early_skipped_and_missing_events_handles_each(
        alice, sent, django_capture_on_commit_callbacks):
    due, early, skipped = (create_election(title=t, created_by=alice) for t in ("Due", "Early", "Skip"))
    due_now = due_event(due, "start_voting", alice)
    not_yet = ScheduledEvent.objects.create(election=early, kind="start_voting", event_at=in_seconds(30),
                                            next_dispatch_at=timezone.now())
    not_allowed = due_event(skipped, "end_voting", alice)
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = executing.execute_events([(e.pk, e.task_id) for e in (due_now, not_yet, not_allowed)]
                                           + [(999_999, "no-such-event")])
    assert outcomes == {due_now.pk: "done", not_yet.pk: "early", not_allowed.pk: "skipped",
                        999_999: "missing"}
    assert sent["published"] == [(not_yet.pk, not_yet.task_id, not_yet.event_at)]  # on its own
    assert ScheduledEvent.objects.get(pk=not_allowed.pk).state == State.SKIPPED
    assert status_of(early.pk) == Status.NOT_STARTED


def test_events_due_at_one_instant_are_published_together_in_bounded_batches(alice, monkeypatch):
    messages = []

    def send(name, args, task_id=None, eta=None, **kw):
        messages.append(("one", [args[0]], task_id, eta) if name == dispatching.FIRE_EVENT
                        else ("batch", [pk for pk, _ in args[0]], None, eta))

    monkeypatch.setattr(dispatching, "send", send)
    at, alone_at = in_seconds(10), in_seconds(11)
    size = dispatching.FIRE_BATCH_SIZE
    together = [ScheduledEvent.objects.create(
        election=create_election(title=f"E{i}"), kind="start_voting", event_at=at,
        next_dispatch_at=timezone.now()) for i in range(size + 5)]
    alone = ScheduledEvent.objects.create(election=create_election(title="Alone"), kind="start_voting",
                                          event_at=alone_at, next_dispatch_at=timezone.now())
    assert planning.plan() == size + 6
    assert sorted((kind, len(pks), eta) for kind, pks, _, eta in messages) == sorted([
        ("batch", size, at), ("batch", 5, at), ("one", 1, alone_at)])
    assert sorted(pk for _, pks, _, _ in messages for pk in pks) == sorted(
        e.pk for e in [*together, alone])
    assert [task_id for kind, _, task_id, _ in messages if kind == "one"] == [alone.task_id]
    assert set(ScheduledEvent.objects.values_list("dispatch_count", flat=True)) == {1}


def test_overdue_events_of_one_tree_share_a_message_so_a_start_cannot_run_after_its_end(
        alice, monkeypatch):
    """Outage recovery: messages run in parallel, so a tree's start and end must not be split."""
    messages = []
    monkeypatch.setattr(dispatching, "send", lambda name, args, **kw: messages.append(
        [args[0]] if name == dispatching.FIRE_EVENT else [pk for pk, _ in args[0]]))
    monkeypatch.setattr(dispatching, "FIRE_BATCH_SIZE", 3)

    def overdue(election, kind, seconds_ago):
        return ScheduledEvent.objects.create(election=election, kind=kind, event_at=in_seconds(-seconds_ago),
                                             next_dispatch_at=timezone.now()).pk

    parent = create_election(title="Parent")
    child = create_election(title="Child", parent=parent)
    big = create_election(title="Big")
    parent_start = overdue(parent, "start_voting", 60)
    others = [overdue(create_election(title=f"E{i}"), "start_voting", 50) for i in range(3)]
    child_end = overdue(child, "end_voting", 40)  # in time order, 4 events after the parent's start
    big_tree = [overdue(big, "start_voting", 30),
                *(overdue(create_election(title=f"Big-{i}", parent=big), "end_voting", 20) for i in range(3))]
    no_event = create_election(title="No event")
    siblings = [overdue(create_election(title=f"Sibling-{i}", parent=no_event), "start_voting", 10)
                for i in range(4)]

    assert planning.plan() == 13
    assert sorted(pk for message in messages for pk in message) == sorted(
        [parent_start, *others, child_end, *big_tree, *siblings])
    [with_parent] = [m for m in messages if parent_start in m]
    assert child_end in with_parent
    assert big_tree in messages  # one tree larger than the limit: one message of its own
    assert all(len(m) <= 3 for m in messages if m != big_tree)
    # Siblings under an election without an event lock nothing in common: they may part.
    assert len([m for m in messages if set(m) & set(siblings)]) == 2


def test_a_failed_tree_read_still_publishes_every_event_split_by_time(alice, monkeypatch):
    from django.db import DatabaseError

    messages = []
    monkeypatch.setattr(dispatching, "send", lambda name, args, **kw: messages.append(
        [args[0]] if name == dispatching.FIRE_EVENT else [pk for pk, _ in args[0]]))
    monkeypatch.setattr(dispatching, "FIRE_BATCH_SIZE", 2)

    def unavailable(ids):
        raise DatabaseError("connection lost")

    monkeypatch.setattr(dispatching, "ancestor_paths", unavailable)
    due = [ScheduledEvent.objects.create(election=create_election(title=f"E{i}"), kind="start_voting",
                                         event_at=in_seconds(-10 + i), next_dispatch_at=timezone.now()).pk
           for i in range(5)]
    assert planning.plan() == 5
    assert messages == [due[0:2], due[2:4], due[4:]]


def test_failure_marks_the_event_failed_with_a_summary(alice, tree):
    root, *_ = tree
    event = due_event(root, "start_voting", alice)
    executing.record_failure(event.pk, event.task_id, ValueError("boom"))
    event.refresh_from_db()
    assert event.state == State.FAILED and event.reason == "ValueError: boom"
    assert actions_of(root.pk, Action.EVENT_FAILED)[0].metadata["error"] == "ValueError: boom"


def test_planner_republishes_an_overdue_event_with_backoff(alice, tree, sent,
                                                           django_capture_on_commit_callbacks, settings):
    root, *_ = tree
    event = due_event(root, "start_voting", alice, seconds_ago=1)
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert planning.plan(now=now) == 1
    first = ScheduledEvent.objects.get(pk=event.pk)
    assert first.dispatch_count == 1
    assert planning.plan(now=now) == 0  # not again at once
    later = first.next_dispatch_at + timedelta(milliseconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert planning.plan(now=later) == 1
    second = ScheduledEvent.objects.get(pk=event.pk)
    assert second.dispatch_count == 2
    assert second.next_dispatch_at - second.dispatched_at > first.next_dispatch_at - first.dispatched_at
    [again] = actions_of(root.pk, Action.EVENT_DISPATCHED)
    assert again.metadata["task_id"] == event.task_id and again.metadata["attempt"] == 2


def test_an_event_published_on_commit_is_claimed_so_a_planner_tick_does_not_send_it_again(
        alice, tree, sent, django_capture_on_commit_callbacks):
    root, *_ = tree
    with django_capture_on_commit_callbacks() as callbacks:
        event = configure(root, alice, start_voting=in_seconds(10))["start_voting"]
    # committed, but the on-commit publish has not run yet: a planner tick now finds nothing due
    assert planning.plan() == 0
    callbacks[0]()
    assert [p[1] for p in sent["published"]] == [event.task_id]


def test_an_error_in_a_batch_fails_only_the_event_that_raises_it(alice, sent, monkeypatch):
    from types import SimpleNamespace

    from scheduling import tasks

    good, bad = (due_event(create_election(title=t), "start_voting", alice) for t in ("Good", "Bad"))
    execute_events = executing.execute_events

    def broken_for_bad(deliveries, **kwargs):
        if bad.pk in dict(deliveries):
            raise ValueError("a bug that only this event triggers")
        return execute_events(deliveries, **kwargs)

    monkeypatch.setattr(executing, "execute_events", broken_for_bad)
    task = SimpleNamespace(name="fire_events", request=SimpleNamespace(id="batch-2", retries=0))
    with pytest.raises(ValueError):
        tasks._deliver(task, [(good.pk, good.task_id), (bad.pk, bad.task_id)], batch_task_id="batch-2")
    assert status_of(good.election_id) == Status.STARTED
    assert ScheduledEvent.objects.get(pk=good.pk).state == State.DONE
    bad.refresh_from_db()
    assert (bad.state, bad.reason) == (State.FAILED, "ValueError: a bug that only this event triggers")
    assert status_of(bad.election_id) == Status.NOT_STARTED
