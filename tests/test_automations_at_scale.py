"""Automations at scale (issue 16, item 4): the set-based paths stay correct, and their number
of statements does not grow with the number of rules. No broker: what would be published is
recorded. Timings are for ``python -m bench`` (benchmark 9), never asserted here."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activity_log.models import Action, ActivityEntry
from automations import services as automation_services
from automations.models import Automation
from elections.models import Status
from elections.services import create_election
from scheduling import configuring, dispatching, executing, operations, planning
from scheduling.models import Kind, ScheduledEvent, State
from tests.helpers import in_seconds, status_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sent(monkeypatch):
    """The event ids each message would carry; revokes are dropped."""
    messages = []
    monkeypatch.setattr(dispatching, "send", lambda name, args, task_id=None, eta=None, **kw: messages.append(
        [args[0]] if name == dispatching.FIRE_EVENT else [pk for pk, _ in args[0]]))
    monkeypatch.setattr(dispatching, "revoke", lambda ids: None)
    return messages


def runs_of(automation: Automation, **filters) -> list[ScheduledEvent]:
    return list(ScheduledEvent.objects.filter(kind=Kind.AUTOMATION, automation_id=automation.pk, **filters)
                .order_by("event_at"))


# --- the planner ----------------------------------------------------------------------------

def test_one_tick_publishes_every_due_event_even_beyond_one_batch(alice, sent, monkeypatch):
    monkeypatch.setattr(planning, "PLAN_BATCH", 3)
    at = in_seconds(30)
    due = [ScheduledEvent.objects.create(election=create_election(title=f"E{i}"), kind="start_voting",
                                         event_at=at, next_dispatch_at=timezone.now()).pk
           for i in range(7)]
    assert planning.plan() == 7
    assert sorted(pk for message in sent for pk in message) == sorted(due)
    assert set(ScheduledEvent.objects.values_list("dispatch_count", flat=True)) == {1}
    assert planning.plan() == 0, "claimed and published: not again in the next tick"


# --- relative runs move with their anchor, set-based -----------------------------------------------

def _election_with_reminders(alice, n: int):
    election = create_election(title=f"With {n} reminders", created_by=alice)
    start, end = in_seconds(10 * 86400), in_seconds(20 * 86400)
    configuring.configure(election, {"start_voting": start, "end_voting": end}, actor=alice, replace=True)
    reminders = [automation_services.create_automation(
        {"name": f"reminder {i}", "when": {"before": "end_voting", "offset": f"PT{i}H"},
         "operations": {"suspend_voting": {}}}, election=election, actor=alice) for i in range(1, n + 1)]
    after_start = automation_services.create_automation(
        {"name": "after start", "when": {"after": "start_voting", "delay": "PT1H"},
         "operations": {"resume_voting": {}}}, election=election, actor=alice)
    return election, end, reminders, after_start


def test_moving_the_end_of_voting_moves_every_reminder_with_it_in_the_same_statements(alice):
    queries = {}
    for n in (2, 5):
        election, end, reminders, after_start = _election_with_reminders(alice, n)
        untouched = runs_of(after_start, state=State.PENDING)
        new_end = end + timedelta(hours=3)
        with CaptureQueriesContext(connection) as captured:
            configuring.configure(election, {"end_voting": new_end}, actor=alice, replace=False)
        queries[n] = len(captured)
        for i, reminder in enumerate(reminders, start=1):
            [old] = runs_of(reminder, state=State.SUPERSEDED)
            [new] = runs_of(reminder, state=State.PENDING)
            assert old.event_at == end - timedelta(hours=i) and new.event_at == new_end - timedelta(hours=i)
            assert old.reason.startswith("the end of voting moved to ") and old.task_id != new.task_id
        assert runs_of(after_start, state=State.PENDING) == untouched, "its anchor did not move"
        log = ActivityEntry.objects.filter(election_id=election.pk)
        assert log.filter(action=Action.RUN_SUPERSEDED).count() == n
        assert log.filter(action=Action.RUN_SCHEDULED).count() == 2 * n + 1  # created, moved; after start

        configuring.configure(election, {"end_voting": None}, actor=alice, replace=False)
        for reminder in reminders:
            [cancelled] = runs_of(reminder, state=State.CANCELLED)
            assert cancelled.reason == "the end of voting was cancelled"
            assert not runs_of(reminder, state=State.PENDING)
    assert queries[2] == queries[5], f"statements grew with the number of reminders: {queries}"


# --- cron runs due together -------------------------------------------------------------------------

def _cron_elections(alice, n: int, minute):
    """``n`` open elections, each with an hourly rule at ``minute``'s minute that suspends it,
    due at ``minute`` (a minute ago: on time, and its next run an hour later whatever the
    test's own duration)."""
    rules = []
    for i in range(n):
        election = create_election(title=f"Cron {i}", created_by=alice)
        configuring.change_status(election, "start", actor=alice)
        rules.append(automation_services.create_automation(
            {"name": f"hourly {i}", "when": {"cron_rule": f"{minute.minute} * * * *", "timezone": "UTC"},
             "operations": {"suspend_voting": {}}}, election=election, actor=alice))
    _plan_again(rules, minute)
    return rules


def _last_minute():
    return timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=1)


def _plan_again(rules, minute) -> None:
    """Replace the rules' pending runs by the runs a worker start plans for ``minute``."""
    ScheduledEvent.objects.filter(kind=Kind.AUTOMATION, automation_id__in=[r.pk for r in rules],
                                  state=State.PENDING).delete()
    automation_services.plan_missing_runs(now=minute - timedelta(seconds=1))


def test_cron_runs_due_at_one_minute_run_once_each_and_plan_their_next_in_the_same_statements(alice):
    minute = _last_minute()
    queries = {}
    for n in (2, 4):
        rules = _cron_elections(alice, n, minute)
        due = [run for rule in rules for run in runs_of(rule, state=State.PENDING)]
        deliveries = [(run.pk, run.task_id) for run in due]
        with CaptureQueriesContext(connection) as captured:
            outcomes = executing.execute_events(deliveries, batch_task_id=f"batch-{n}")
        queries[n] = len(captured)
        assert set(outcomes.values()) == {"done"}
        for rule, run in zip(rules, due, strict=True):
            run.refresh_from_db()
            assert run.state == State.DONE and run.result["status_changes"] == 1
            assert status_of(rule.election_id) == Status.SUSPENDED
            [after] = runs_of(rule, state=State.PENDING)
            assert after.event_at == minute + timedelta(hours=1), "the next occurrence, planned once"
            executed = ActivityEntry.objects.filter(action=Action.RUN_EXECUTED, election_id=rule.election_id)
            assert [e.metadata["task_id"] for e in executed] == [run.task_id]
        assert set(executing.execute_events(deliveries).values()) == {"discarded"}, "never twice"
        assert all(len(runs_of(rule, state=State.PENDING)) == 1 for rule in rules)
    assert queries[2] == queries[4], f"statements grew with the number of runs: {queries}"


def test_runs_of_one_delivery_keep_their_own_outcomes_and_the_missed_ones_are_coalesced(alice):
    minute = _last_minute()
    on_time, turned_off, late = _cron_elections(alice, 3, minute)
    [off_run] = runs_of(turned_off, state=State.PENDING)
    automation_services.set_run_enabled(turned_off, off_run.pk, False, actor=alice)
    _plan_again([late], minute - timedelta(hours=3))  # down for three hours
    [late_run] = runs_of(late, state=State.PENDING)
    due = [run for rule in (on_time, turned_off, late) for run in runs_of(rule, state=State.PENDING)]
    outcomes = executing.execute_events([(run.pk, run.task_id) for run in due])
    assert outcomes == {due[0].pk: "done", off_run.pk: "skipped", late_run.pk: "skipped"}
    off_run.refresh_from_db()
    late_run.refresh_from_db()
    assert off_run.state == State.SKIPPED and off_run.reason == "turned off by alice"
    assert late_run.reason.startswith("missed while down")
    assert status_of(turned_off.election_id) == Status.STARTED
    assert status_of(late.election_id) == Status.STARTED
    for rule in (on_time, turned_off):
        [after] = runs_of(rule, state=State.PENDING)
        assert after.event_at == minute + timedelta(hours=1)
    # Three hours late: the latest missed occurrence (within the hour of catch-up) runs at
    # once, the two between are one log row.
    [missed] = ActivityEntry.objects.filter(action=Action.AUTOMATION_RUNS_MISSED)
    assert missed.metadata["count"] == 2 and missed.metadata["automation_id"] == late.pk
    [catch_up] = runs_of(late, state=State.PENDING)
    assert catch_up.event_at == minute


def test_an_in_memory_operation_that_skips_leaves_the_statuses_as_they_were(alice):
    def skip(ctx, params):
        raise operations.RunSkipped("changed my mind")

    operations.register("skip_after", run=skip, validate=operations.no_params, scopes={"election"},
                        writes=False)
    try:
        election = create_election(title="Open", created_by=alice)
        configuring.change_status(election, "start", actor=alice)
        rule = automation_services.create_automation(
            {"name": "suspend then skip", "when": {"at": in_seconds(3600).isoformat()},
             "operations": {"suspend_voting": {}, "skip_after": {}}}, election=election, actor=alice)
        [run] = runs_of(rule, state=State.PENDING)
        ScheduledEvent.objects.filter(pk=run.pk).update(event_at=in_seconds(-1))
        assert executing.execute_events([(run.pk, run.task_id)])[run.pk] == "skipped"
        run.refresh_from_db()
        assert run.reason == "changed my mind" and status_of(election.pk) == Status.STARTED
        assert not ActivityEntry.objects.filter(election_id=election.pk, action=Action.STATUS_CHANGED,
                                                metadata__source="automation").exists()
    finally:
        operations.unregister("skip_after")


# --- a worker start plans what is missing -------------------------------------------------------------

def test_a_worker_start_plans_only_the_rules_without_a_pending_run_in_chunks(alice, monkeypatch):
    monkeypatch.setattr(automation_services, "PLAN_MISSING_CHUNK", 2)
    election = create_election(title="Rules", created_by=alice)
    rules = [automation_services.create_automation(
        {"name": f"daily {i}", "when": {"cron_rule": f"{i} 4 * * *", "timezone": "UTC"},
         "operations": {"suspend_voting": {}}}, election=election, actor=alice) for i in range(5)]
    due_date = automation_services.create_automation(
        {"name": "once", "when": {"at": in_seconds(86400).isoformat()}, "operations": {"suspend_voting": {}}},
        election=election, actor=alice)
    off = automation_services.create_automation(
        {"name": "off", "active": False, "when": {"cron_rule": "0 5 * * *", "timezone": "UTC"},
         "operations": {"suspend_voting": {}}}, election=election, actor=alice)
    automation_services.plan_missing_runs()  # the installed daily maintenance, first
    lost = [*rules[1:4], due_date]
    ScheduledEvent.objects.filter(automation_id__in=[r.pk for r in lost]).delete()  # e.g. a restored backup
    kept = {rule.pk: runs_of(rule)[0].task_id for rule in (rules[0], rules[4])}

    assert automation_services.plan_missing_runs() == 4
    assert automation_services.plan_missing_runs() == 0, "idempotent"
    for rule in [*rules, due_date]:
        assert len(runs_of(rule, state=State.PENDING)) == 1
    assert {pk: runs_of(Automation.objects.get(pk=pk))[0].task_id for pk in kept} == kept
    assert not runs_of(off)
