"""Runs: the occurrences of automations, kept in the one table of due work.

A run is a ``ScheduledEvent`` of kind ``automation``: the same planner publishes
it, the same guarded task executes it (``executing``), the same states describe
it. Its task id is derived from the automation and the occurrence, so the same
decision taken twice creates one row (the unique key refuses the second).
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from activity_log.models import Action
from activity_log.services import ElectionRef, Entry, record_many
from elections.errors import InvalidInput
from elections.models import Election

from . import dispatching
from .dispatching import horizon, redispatch_after
from .models import Kind, ScheduledEvent, State, event_metadata

#: uuid5 namespace of run task ids (a fixed, random UUID: never change it, ids would change)
RUN_NAMESPACE = uuid.UUID("3f0c5c1e-6d55-4a8e-9a43-6c1f2b7d9e21")
#: what a global run's log rows name instead of an election
GLOBAL = ElectionRef(0, "(global)")
CLOSING = {State.SUPERSEDED: Action.RUN_SUPERSEDED, State.CANCELLED: Action.RUN_CANCELLED,
           State.SKIPPED: Action.RUN_SKIPPED}


@dataclass(frozen=True)
class RunSpec:
    task_id: str                 # deterministic: see run_task_id
    run_at: datetime             # aware UTC: the occurrence (event_at)
    election_id: int | None
    automation_id: int
    payload: dict
    subject_user_id: int | None = None
    enabled: bool = True


def run_task_id(automation_uid: str, *parts: object) -> str:
    """uuid5 of the automation uid and the occurrence parts (instant, anchor task id, user id, revision)."""
    key = "|".join([str(automation_uid),
                    *(p.isoformat() if isinstance(p, datetime) else str(p) for p in parts)])
    return str(uuid.uuid5(RUN_NAMESPACE, key))


def run_metadata(run: ScheduledEvent, **extra) -> dict:
    """A log row's metadata for a run: the event's, plus which automation and whom it is about."""
    automation = (run.payload or {}).get("automation") or {}
    meta = event_metadata(run, automation_id=run.automation_id, automation=automation.get("name", ""))
    if run.subject_user_id:
        meta["subject_user_id"] = run.subject_user_id
    return {**meta, **extra}


def run_ref(run: ScheduledEvent, titles: dict[int, str] | None = None) -> ElectionRef:
    """The election a run's log rows name: ``(global)`` for id 0 when it has none."""
    if run.election_id is None:
        return GLOBAL
    title = (titles or {}).get(run.election_id)
    if title is None:
        title = Election.objects.filter(pk=run.election_id).values_list("title", flat=True).first()
    return ElectionRef(run.election_id, title or "(deleted election)")


def schedule_runs(specs: list[RunSpec], *, actor) -> list[ScheduledEvent]:
    """Insert pending runs in the caller's transaction and return the rows created.

    A task id that exists already is skipped (the same decision twice, not an error).
    Logs one ``run_scheduled`` row each; the ones due within the horizon are published
    on commit (claimed now, as ``configure`` claims its events).
    """
    if not specs:
        return []
    now = timezone.now()
    due_from = now + horizon()
    with transaction.atomic(savepoint=False):  # no savepoint in the caller's transaction
        taken = set(ScheduledEvent.objects.filter(task_id__in=[s.task_id for s in specs])
                    .values_list("task_id", flat=True))
        rows = []
        for spec in specs:
            if spec.task_id in taken:
                continue
            taken.add(spec.task_id)
            rows.append(ScheduledEvent(
                task_id=spec.task_id, kind=Kind.AUTOMATION, event_at=spec.run_at,
                election_id=spec.election_id, automation_id=spec.automation_id,
                subject_user_id=spec.subject_user_id, enabled=spec.enabled, payload=spec.payload,
                scheduled_by=actor,
                next_dispatch_at=now + redispatch_after() if spec.run_at <= due_from
                else spec.run_at - horizon()))
        try:
            with transaction.atomic():
                created = ScheduledEvent.objects.bulk_create(rows)
        except IntegrityError:  # another writer took one of these ids meanwhile: keep the others
            created = []
            for row in rows:
                try:
                    with transaction.atomic():
                        row.save(force_insert=True)
                except IntegrityError:
                    continue
                created.append(row)
        titles = dict(Election.objects.filter(pk__in={r.election_id for r in created if r.election_id})
                      .values_list("pk", "title"))
        record_many(Entry(Action.RUN_SCHEDULED, run_ref(r, titles), actor, None, run_metadata(r))
                    for r in created)
    due = [r for r in created if r.event_at <= due_from]
    if due:
        transaction.on_commit(lambda: dispatching.publish(due))
    return created


def close_runs(runs: Iterable[ScheduledEvent], *, state: str, reason: str, actor) -> int:
    """Move the still-pending ones of ``runs`` to ``state`` (superseded, cancelled or skipped) with
    ``reason``; logged (``run_superseded``/``run_cancelled``/``run_skipped``), revoked on commit
    when they may have been published. Returns how many were closed."""
    if state not in CLOSING:
        raise ValueError(f"a run is closed as superseded, cancelled or skipped, not {state!r}")
    runs = list(runs)
    pks = [run.pk for run in runs]
    if not pks:
        return 0
    now = timezone.now()
    with transaction.atomic(savepoint=False):  # no savepoint in the caller's transaction
        # Lock and re-read only what may have changed since the caller read them (the state,
        # the publishing marks), not whole rows: the callers' instances say the rest.
        still = {pk: (count, at) for pk, count, at in ScheduledEvent.objects.select_for_update()
                 .filter(pk__in=pks, kind=Kind.AUTOMATION, state=State.PENDING).order_by("pk")
                 .values_list("pk", "dispatch_count", "next_dispatch_at")}
        pending = list({run.pk: run for run in runs if run.pk in still}.values())
        for run in pending:
            run.dispatch_count, run.next_dispatch_at = still[run.pk]
        if not pending:
            return 0
        ScheduledEvent.objects.filter(pk__in=[r.pk for r in pending]).update(
            state=state, reason=reason, finished_at=now)
        titles = dict(Election.objects.filter(pk__in={r.election_id for r in pending if r.election_id})
                      .values_list("pk", "title"))
        record_many(Entry(CLOSING[state], run_ref(r, titles), actor, None, run_metadata(r, reason=reason))
                    for r in pending)
        task_ids = [r.task_id for r in pending
                    if r.dispatch_count > 0 or r.next_dispatch_at <= now + redispatch_after()]
        if task_ids:
            transaction.on_commit(lambda: dispatching.revoke(task_ids))
    for run in runs:  # the callers' instances say what happened to them
        if run.pk in {r.pk for r in pending}:
            run.state, run.reason, run.finished_at = state, reason, now
    return len(pending)


def pending_runs(*, automation_id: int | None = None, election_id: int | None = None,
                 lock: bool = False) -> list[ScheduledEvent]:
    """Pending runs, of one automation and/or one election, in id order; ``lock`` locks them."""
    runs = ScheduledEvent.objects.filter(kind=Kind.AUTOMATION, state=State.PENDING)
    if automation_id is not None:
        runs = runs.filter(automation_id=automation_id)
    if election_id is not None:
        runs = runs.filter(election_id=election_id)
    if lock:
        runs = runs.select_for_update()
    return list(runs.order_by("pk"))


def set_run_enabled(run: ScheduledEvent, enabled: bool, *, actor) -> ScheduledEvent:
    """Turn one pending run off or on, logged (``run_turned_off``/``run_turned_on``); returns it.

    A run turned off is skipped when its time comes ("turned off by alice"). Raises
    ``InvalidInput`` naming ``enabled`` when the run is not pending.
    """
    with transaction.atomic():
        row = ScheduledEvent.objects.select_for_update().get(pk=run.pk, kind=Kind.AUTOMATION)
        if row.state != State.PENDING:
            raise InvalidInput({"enabled": [
                f"The run is {row.state}, not pending: only a pending run can be turned off or on."]})
        if row.enabled == bool(enabled):
            return row
        row.enabled, row.toggled_by = bool(enabled), actor
        row.save(update_fields=["enabled", "toggled_by"])
        record_many([Entry(Action.RUN_TURNED_ON if enabled else Action.RUN_TURNED_OFF, run_ref(row),
                           actor, None, run_metadata(row))])
    return row
