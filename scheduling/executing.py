"""Executing: the one guard every delivered event passes, and what it does when it may run.

The database is the source of truth: a delivery whose event is no longer pending,
or whose task id is not the event's current one, changes nothing and is logged.
``deliver`` is what the Celery tasks call; it decides between retrying, running
each event of a failed batch on its own, and marking an event failed.
"""

import json
import logging
from contextlib import nullcontext

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Value
from django.utils import timezone

from activity_log.models import Action
from activity_log.services import ElectionRef, Entry, record
from elections import services as election_services
from elections.errors import TransitionNotAllowed
from elections.models import PERMISSION_RANK, TRANSITIONS, Election, Permission
from elections.selectors import granted_ranks

from . import dispatching, faults, operations, signals
from .configuring import MOOT_AFTER, cancel_moot_events
from .models import KIND_ACTION, Kind, ScheduledEvent, State, event_metadata
from .runs import GLOBAL, run_metadata

logger = logging.getLogger(__name__)

#: Deliveries of a message retried after a database error before its events run one by one.
MAX_RETRIES = 8


class RetryLater(Exception):
    """The database is unavailable or the transaction lost a race: deliver the message again later."""

    def __init__(self, error: Exception, countdown: float):
        super().__init__(str(error))
        self.error, self.countdown = error, countdown


def deliver(deliveries: list[tuple[int, str]], *, batch_task_id: str | None = None,
            retries: int = 0, carry: bool = False) -> dict[int, str]:
    """Run one message's deliveries and return each event's outcome (see ``execute_events``).

    ``carry`` (a lone ``fire_event``) also runs the other events already due (``co_due``);
    if that fails, whatever the error, the message's own event runs alone, as without
    ``carry``: the error may be a carried event's, which its own message will meet.
    Raises ``RetryLater`` on a lost database (backoff) and on other database errors
    (serialization failures, deadlocks) until ``MAX_RETRIES``. Any other error, or a
    database error after the last retry, runs each event of a batch on its own, so
    only the event that fails is marked failed; the first failure is re-raised.
    """
    if carry:
        try:
            return execute_events(deliveries, batch_task_id=batch_task_id, carry=True)
        except Exception as exc:
            logger.warning("fire_event %s with the events it carried failed (%r); running its own alone",
                           deliveries[0][1], exc)
    try:
        return execute_events(deliveries, batch_task_id=batch_task_id)
    except (OperationalError, InterfaceError) as exc:
        raise RetryLater(exc, countdown=min(2 ** retries, 30)) from exc
    except DatabaseError as exc:
        if retries < MAX_RETRIES:
            raise RetryLater(exc, countdown=1) from exc
        return _execute_one_by_one(deliveries, batch_task_id, exc)
    except Exception as exc:
        return _execute_one_by_one(deliveries, batch_task_id, exc)


def _execute_one_by_one(deliveries, batch_task_id, error: Exception) -> dict[int, str]:
    """After ``error``, run each delivery in its own transaction; mark failed the ones that fail.

    Re-raises the first failure, so Celery records the task as failed.
    """
    if len(deliveries) == 1:
        record_failure(*deliveries[0], error)
        raise error
    logger.warning("fire_events %s failed (%r); running its %d events one by one",
                   batch_task_id, error, len(deliveries))
    outcomes, first_failure = {}, None
    for event_id, task_id in deliveries:
        try:
            outcomes.update(execute_events([(event_id, task_id)], batch_task_id=batch_task_id))
        except Exception as exc:
            record_failure(event_id, task_id, exc)
            outcomes[event_id] = "failed"
            first_failure = first_failure or exc
    if first_failure is not None:
        raise first_failure
    return outcomes


def execute_event(event_id: int, task_id: str) -> str:
    """Carry out one delivered event; see ``execute_events``."""
    return execute_events([(event_id, task_id)])[event_id]


#: Most other due events one lone ``fire_event`` message carries with its own (``co_due``).
CARRY_LIMIT = dispatching.FIRE_BATCH_SIZE - 1


def co_due(delivered, now) -> dict[int, str]:
    """Other voting events pending, published once and due by ``now``, as {id: current task id},
    oldest first, up to ``CARRY_LIMIT``.

    A lone message runs them with its own. Events created one by one for one instant
    inside the horizon (fifty elections made through the API a minute ahead) are
    published one message each, on each request's commit; carried, they open together
    instead of queueing a transaction each behind one another. Their own messages then
    find them done and change nothing, without a log row (``ScheduledEvent.carried_by``;
    a second delivery of one is logged as ever). Left to their own messages: runs of
    automations (their operations send email and delete rows: not inside an election's
    opening), events whose publish failed or that were published again (the planner's:
    one that keeps failing must not hold up every message that would carry it).
    An index range of ``pending_by_next_dispatch``: a published event's
    ``next_dispatch_at`` is its time plus the re-publish delay.
    """
    return dict(ScheduledEvent.objects
                .filter(state=State.PENDING, kind__in=Kind.VOTING, event_at__lte=now, dispatch_count=1,
                        next_dispatch_at__lte=now + dispatching.redispatch_after())
                .exclude(pk__in=list(delivered)).order_by("event_at", "pk")
                .values_list("pk", "task_id")[:CARRY_LIMIT])


def execute_events(deliveries: list[tuple[int, str]], *, batch_task_id: str | None = None,
                   carry: bool = False) -> dict[int, str]:
    """Carry out each delivered event if, and only if, it is pending and its task id is the one delivered.

    ``deliveries`` are (event id, task id) pairs: one event per message, or the
    events due at one instant in one message (``batch_task_id`` is that message's
    id). ``carry``: one delivery, which also runs the other events due by now
    (``co_due``) under the same guard; their log rows name it as ``batch_task_id``.
    Returns each event's outcome: ``done``, ``skipped``, ``early``
    (re-published for its time), ``cancelled`` (made moot by an earlier event of
    the same delivery), ``carried`` (the event's own message, after another message
    carried it: not logged, once), ``discarded`` (stale delivery, logged) or ``missing``.
    All in one transaction, in order of time (then id), with the same effect as
    delivering the events one by one: each tree changes status with its log rows,
    or nothing does. Runs of automations pass the same guard, then ``_run``'s.
    """
    delivered = dict(deliveries)
    outcomes = dict.fromkeys(delivered, "missing")
    message = batch_task_id or deliveries[0][1]  # the Celery id of the message being run
    carried = co_due(delivered, timezone.now()) if carry else {}
    via = {pk: {"batch_task_id": batch_task_id} for pk in delivered} if batch_task_id else {}
    via.update((pk, {"batch_task_id": message}) for pk in carried)
    with transaction.atomic():
        # Whole trees first, then the events: the lock order of every writer.
        ids = [*delivered, *carried]
        trees = election_services.lock_trees(
            ScheduledEvent.objects.filter(pk__in=ids).values("election_id"))
        # Locked in id order, as every writer of event rows locks them; then run in order of time.
        events = sorted(ScheduledEvent.objects.select_for_update(of=("self",))
                        .select_related("scheduled_by", "toggled_by")
                        .filter(pk__in=ids).order_by("pk"),
                        key=lambda event: (event.event_at, event.pk))
        now = timezone.now()
        transitions: list[tuple[ScheduledEvent, ElectionRef, election_services.Transition]] = []
        skipped: list[tuple[ScheduledEvent, ElectionRef, str]] = []
        early: list[ScheduledEvent] = []
        notes: list[Entry] = []
        mooted: set[tuple[int, str]] = set()
        ordered: list[election_services.Transition] = []  # every status change, in order of time
        runs = RunOutcomes()
        arrived: list[int] = []  # events carried by another message, whose own message this is
        for event in events:
            if event.pk in carried:
                if event.state != State.PENDING or event.task_id != carried[event.pk] or event.event_at > now:
                    continue  # taken or moved since it was read: not this message's to run or log
                task_id = carried[event.pk]
            else:
                task_id = delivered[event.pk]
            batch = via.get(event.pk, {})
            ref = GLOBAL if event.election_id is None else ElectionRef(
                event.election_id, trees.title(event.election_id)
                if event.election_id in trees else "(deleted election)")
            if event.state != State.PENDING or event.task_id != task_id:
                if event.task_id == task_id and event.carried_by not in ("", message):
                    outcomes[event.pk] = "carried"  # the one expected delivery: a second is logged
                    arrived.append(event.pk)
                    continue
                reason = (f"the event is {event.state}, not pending" if event.state != State.PENDING
                          else f"task {task_id} is not the event's current task {event.task_id}")
                notes.append(Entry(Action.TASK_DISCARDED, ref, None, None, event_metadata(
                    event, task_id=task_id, current_task_id=event.task_id, state=event.state,
                    reason=reason, **batch)))
                outcomes[event.pk] = "discarded"
            elif event.event_at > now:
                early.append(event)
                outcomes[event.pk] = "early"
            elif (event.election_id, event.kind) in mooted:
                outcomes[event.pk] = "cancelled"  # closed below with the reason that mooted it
            elif event.kind == Kind.AUTOMATION:
                outcomes[event.pk] = _run(event, ref, trees, now, runs)
                for transition in runs.transitions.get(event.pk, ()):
                    ordered.append(transition)
                    mooted.update((change.election_id, kind) for change in transition.changes
                                  for kind in MOOT_AFTER.get(change.to_status, ()))
            elif event.election_id not in trees:
                skipped.append((event, ref, "the election no longer exists"))
                outcomes[event.pk] = "skipped"
            else:
                try:
                    transition = trees.transition(
                        event.election_id, KIND_ACTION[event.kind], on_behalf_of=event.scheduled_by,
                        metadata={"source": "scheduled_event", "kind": event.kind,
                                  "task_id": event.task_id, **batch})
                except TransitionNotAllowed:
                    action = KIND_ACTION[event.kind]
                    skipped.append((event, ref, (
                        f"{action} is not allowed: the election is {trees.status(event.election_id)} "
                        f"(needs {' or '.join(sorted(TRANSITIONS[action][0]))})")))
                    outcomes[event.pk] = "skipped"
                    continue
                transitions.append((event, ref, transition))
                ordered.append(transition)
                mooted.update((change.election_id, kind) for change in transition.changes
                              for kind in MOOT_AFTER.get(change.to_status, ()))
                outcomes[event.pk] = "done"
        for pk in set(delivered) - {event.pk for event in events}:
            logger.warning("fire_event %s: no scheduled event %s; nothing to do", delivered[pk], pk)
        _write_outcomes(transitions, skipped, notes, via,
                        _schedulers_standing([e for e, _, _ in [*transitions, *skipped]]),
                        runs=runs, ordered=ordered)
        ran_carried = {pk: carried[pk] for pk in carried if outcomes.get(pk) in ("done", "skipped")}
        if ran_carried:  # their own messages will find them run by this one: silently nothing to do
            ScheduledEvent.objects.filter(pk__in=list(ran_carried)).update(carried_by=message)
            transaction.on_commit(lambda: dispatching.revoke(list(ran_carried.values())))
        if arrived:
            ScheduledEvent.objects.filter(pk__in=arrived).update(carried_by="")
        cancelled = cancel_moot_events(
            [(t.changes, f"election {TRANSITIONS[t.action][1]} by {event.kind} {event.task_id}")
             for event, _, t in transitions]
            + [(t.changes, f"election {TRANSITIONS[t.action][1]} by automation run {run.task_id}")
               for run, _, _ in runs.done for t in runs.transitions.get(run.pk, ())], actor=None)
        early = [event for event in early if event.pk not in cancelled]
        if early:
            transaction.on_commit(lambda: dispatching.publish(early))
    return outcomes


def _schedulers_standing(events: list[ScheduledEvent]) -> dict[int, str]:
    """Event id -> ``inactive`` or ``no_grant`` for each event whose scheduler no longer could schedule it.

    The schedule belongs to the election, not to the person: such an event still
    runs, and its log row says on whose behalf and that this person is now inactive
    or no longer holds ``schedule-events`` on the election (or an ancestor). One
    query for the whole delivery, and none when every scheduler is a superuser.
    """
    standing = {e.pk: "inactive" for e in events if e.scheduled_by and not e.scheduled_by.is_active}
    to_check = [e for e in events
                if e.scheduled_by and e.pk not in standing and not e.scheduled_by.is_superuser]
    if not to_check:
        return standing
    ranks = granted_ranks({e.election_id for e in to_check}, {e.scheduled_by_id for e in to_check})
    needed = PERMISSION_RANK[Permission.SCHEDULE_EVENTS]
    standing.update({e.pk: "no_grant" for e in to_check
                     if (ranks.get((e.election_id, e.scheduled_by_id)) or 0) < needed})
    return standing


def _write_outcomes(transitions, skipped, notes: list[Entry], via: dict[int, dict],
                    standing: dict[int, str], *, runs: "RunOutcomes | None" = None,
                    ordered: list | None = None) -> None:
    """Write the status changes, the events' final states and every log row of one delivery.

    ``standing`` marks the events whose scheduler is now inactive or without the grant;
    ``ordered`` is every status change (the runs' too) in order of time.
    """
    done_at = timezone.now()

    def on_behalf(event) -> dict:
        return {"scheduled_by_standing": standing[event.pk]} if event.pk in standing else {}

    entries = [
        *(Entry(Action.EVENT_EXECUTED, ref, None, event.scheduled_by, event_metadata(
            event, lateness_seconds=(done_at - event.event_at).total_seconds(),
            elections_changed=len(t.changes), **on_behalf(event), **via.get(event.pk, {})))
          for event, ref, t in transitions),
        *(Entry(Action.EVENT_SKIPPED, ref, None, event.scheduled_by, event_metadata(
            event, reason=reason, lateness_seconds=(done_at - event.event_at).total_seconds(),
            **on_behalf(event), **via.get(event.pk, {})))
          for event, ref, reason in skipped),
        *notes,
        *(runs.entries(done_at, via) if runs else ()),
    ]
    election_services.save_transitions(ordered if ordered is not None else [t for _, _, t in transitions],
                                       also_record=entries)
    lateness = ExpressionWrapper(Value(done_at, output_field=DateTimeField()) - F("event_at"),
                                 output_field=DurationField())
    if transitions:
        faults.pause_in_transition()  # test-only, inert unless its env var is set
        ScheduledEvent.objects.filter(pk__in=[event.pk for event, _, _ in transitions]).update(
            state=State.DONE, reason="", finished_at=done_at, executed_at=done_at, lateness=lateness)
    by_reason: dict[str, list[int]] = {}
    for event, _, reason in skipped:
        by_reason.setdefault(reason, []).append(event.pk)
    for reason, pks in by_reason.items():
        ScheduledEvent.objects.filter(pk__in=pks).update(
            state=State.SKIPPED, reason=reason, finished_at=done_at, lateness=lateness)
    if runs:
        runs.write(done_at)
    signals.report_outcomes(transitions, skipped, done_at)  # alerts (notifications), same transaction


def record_failure(event_id: int, task_id: str, error: BaseException) -> None:
    """Mark the event failed after an error that retrying will not fix, with a summary."""
    summary = f"{type(error).__name__}: {error}"[:2000]
    with transaction.atomic():
        found = ScheduledEvent.objects.filter(pk=event_id).values_list("election_id", flat=True)
        if not found:
            return
        peek = found[0]
        election = Election.objects.select_for_update().filter(pk=peek).first() if peek else None
        event = ScheduledEvent.objects.select_for_update().get(pk=event_id)
        if event.state != State.PENDING or event.task_id != task_id:
            return
        event.state, event.reason, event.finished_at = State.FAILED, summary, timezone.now()
        event.save(update_fields=["state", "reason", "finished_at"])
        if event.kind == Kind.AUTOMATION:
            record(Action.RUN_FAILED, election or (GLOBAL if peek is None else ElectionRef(
                peek, "(deleted election)")), on_behalf_of=event.scheduled_by,
                **run_metadata(event, error=summary))
            signals.runs_finished.send(sender=ScheduledEvent, finished=[event])
            return
        record(Action.EVENT_FAILED, election or ElectionRef(peek, "(deleted election)"),
               on_behalf_of=event.scheduled_by, **event_metadata(event, error=summary))
        signals.report_failure(event, summary)  # alerts (notifications), same transaction


# --- runs of automations ---------------------------------------------------------------

def _utc(value) -> str:
    return f"{value:%Y-%m-%dT%H:%M:%SZ}"


def _why_not_run(run: ScheduledEvent, trees, now) -> str:
    """The guard's extensions for a run that passed the event guard: why it may not run, or ``""``."""
    if not run.enabled:
        who = run.toggled_by.username if run.toggled_by else ""
        return f"turned off by {who}" if who else "turned off"
    catch_up = (run.payload or {}).get("catch_up_seconds")
    late = (now - run.event_at).total_seconds()
    if catch_up is not None and late > float(catch_up):
        return f"missed while down (due {_utc(run.event_at)}, {late:.0f} s ago)"
    if run.election_id is not None and run.election_id not in trees:
        return "the election no longer exists"
    return ""


def _run(run: ScheduledEvent, ref, trees, now, runs: "RunOutcomes") -> str:
    """Run the operations of one due run in a savepoint; ``done`` or ``skipped``.

    ``RunSkipped`` from an operation undoes what the run did (the savepoint and the
    statuses decided in memory) and skips it with that reason; any other error
    propagates, and ``deliver`` marks the run failed.
    """
    reason = _why_not_run(run, trees, now)
    if reason:
        runs.skipped.append((run, ref, reason))
        return "skipped"
    ctx = operations.RunContext(run, trees, now)
    before = trees.statuses()
    counts: dict[str, dict] = {}
    steps = list(((run.payload or {}).get("operations") or {}).items())
    try:
        todo = [(operations.get(name), params or {}) for name, params in steps]
        # A savepoint undoes what the operations wrote if one of them skips; operations that
        # write nothing (statuses are decided in memory, ``trees.restore`` undoes them) need none.
        with transaction.atomic() if any(op.writes for op, _ in todo) else nullcontext():
            for op, params in todo:
                counts[op.name] = op.run(ctx, params) or {}
    except operations.RunSkipped as skip:
        trees.restore(before)
        runs.skipped.append((run, ref, skip.reason))
        return "skipped"
    runs.done.append((run, ref, _result(counts)))
    runs.transitions[run.pk] = ctx.transitions
    return "done"


def _result(counts: dict[str, dict]) -> dict:
    """The run's result: each count summed over its operations, and each operation's own."""
    total: dict = {}
    for values in counts.values():
        for key, value in values.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    return {**total, "operations": counts}


class RunOutcomes:
    """The runs of one delivery that ran (with their results and status changes) or were skipped."""

    def __init__(self):
        self.done: list[tuple[ScheduledEvent, ElectionRef, dict]] = []
        self.skipped: list[tuple[ScheduledEvent, ElectionRef, str]] = []
        self.transitions: dict[int, list[election_services.Transition]] = {}

    def __bool__(self) -> bool:
        return bool(self.done or self.skipped)

    def entries(self, done_at, via: dict[int, dict]) -> list[Entry]:
        return [
            *(Entry(Action.RUN_EXECUTED, ref, None, run.scheduled_by, run_metadata(
                run, lateness_seconds=(done_at - run.event_at).total_seconds(), result=result,
                **via.get(run.pk, {})))
              for run, ref, result in self.done),
            *(Entry(Action.RUN_SKIPPED, ref, None, run.scheduled_by, run_metadata(
                run, reason=reason, lateness_seconds=(done_at - run.event_at).total_seconds(),
                **via.get(run.pk, {})))
              for run, ref, reason in self.skipped),
        ]

    def write(self, done_at) -> None:
        """Store each run's final state, then announce them all (``runs_finished``) in this transaction.

        One UPDATE per distinct result (done) and per reason (skipped), not one per run: the
        runs of one delivery (a cron minute of 100 automations) mostly share both.
        """
        lateness = ExpressionWrapper(Value(done_at, output_field=DateTimeField()) - F("event_at"),
                                     output_field=DurationField())
        by_result: dict[str, tuple[dict, list[int]]] = {}
        for run, _, result in self.done:
            run.state, run.reason, run.result = State.DONE, "", result
            run.finished_at = run.executed_at = done_at
            run.lateness = done_at - run.event_at
            key = json.dumps(result, sort_keys=True, cls=DjangoJSONEncoder)
            by_result.setdefault(key, (result, []))[1].append(run.pk)
        for result, pks in by_result.values():
            ScheduledEvent.objects.filter(pk__in=pks).update(
                state=State.DONE, reason="", result=result, finished_at=done_at, executed_at=done_at,
                lateness=lateness)
        by_reason: dict[str, list[int]] = {}
        for run, _, reason in self.skipped:
            run.state, run.reason, run.finished_at = State.SKIPPED, reason, done_at
            run.lateness = done_at - run.event_at
            by_reason.setdefault(reason, []).append(run.pk)
        for reason, pks in by_reason.items():
            ScheduledEvent.objects.filter(pk__in=pks).update(
                state=State.SKIPPED, reason=reason, finished_at=done_at, lateness=lateness)
        finished = [run for run, _, _ in self.done] + [run for run, _, _ in self.skipped]
        if finished:
            signals.runs_finished.send(sender=ScheduledEvent, finished=finished)
