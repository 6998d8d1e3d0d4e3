"""Every write to automations: create, update, delete, turn a run off or on, and (re)plan runs.

Each runs in one transaction. An election automation locks its election row first (the
lock ``scheduling.configure`` takes too), so reading the anchor events and writing the
runs cannot interleave with a reschedule; a global one locks its own row. Runs are
scheduled and closed through the run engine (``scheduling.runs``), which logs them and
publishes or revokes on commit.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from activity_log.models import Action
from activity_log.services import ElectionRef, record
from elections.errors import InvalidInput
from elections.models import Election
from scheduling import runs
from scheduling.models import Kind, ScheduledEvent, State

from . import planning
from .models import MAX_PER_ELECTION, Automation
from .validation import AutomationSpec, parse_automation

GLOBAL = ElectionRef(0, "(global)")


def log_ref(automation: Automation):
    """What the activity log files an automation's rows under: its election, or ``(global)``."""
    if automation.election_id is None:
        return GLOBAL
    return ElectionRef(automation.election_id, automation.election.title)


def _describe(automation: Automation) -> dict:
    return {"automation_id": automation.pk, "automation_uid": str(automation.uid),
            "name": automation.name, "revision": automation.revision}


def _anchors(election_id: int | None) -> dict[str, ScheduledEvent]:
    if election_id is None:
        return {}
    return {e.kind: e for e in ScheduledEvent.objects.filter(
        election_id=election_id, state=State.PENDING, kind__in=[Kind.START_VOTING, Kind.END_VOTING])}


def _lock_election(election: Election | None) -> Election | None:
    if election is None:
        return None
    return Election.objects.select_for_update().get(pk=election.pk)


def _lock(automation: Automation) -> Automation:
    """Lock the automation for a change, in the lock order of the run engine.

    The executor locks the election tree, then a run, then (``run_finished``) the
    automation; so do we: the election, the automation's pending runs (waiting for one
    being executed), then the automation row. A run the executor created meanwhile is
    committed by then, and the caller's ``pending_runs(lock=True)`` sees it.
    """
    _lock_election(automation.election)
    runs.pending_runs(automation_id=automation.pk, lock=True)
    return (Automation.objects.select_for_update(of=("self",)).select_related("election")
            .get(pk=automation.pk))


def create_automation(data, *, election: Election | None, actor, now: datetime | None = None,
                      ) -> Automation:
    """Validate ``data`` and create the automation with its first run; logged.

    Raises ``InvalidInput`` naming the field (and creates nothing) when the input is
    wrong or the election already has ``MAX_PER_ELECTION`` automations.
    """
    with transaction.atomic():
        election = _lock_election(election)
        now = now or timezone.now()
        spec = parse_automation(data, election=election, now=now)
        return create_from_spec(spec, election=election, actor=actor, now=now)


def create_from_spec(spec: AutomationSpec, *, election: Election | None, actor, now: datetime,
                     ) -> Automation:
    """Create a validated automation in the caller's transaction (the election locked)."""
    if election is not None and Automation.objects.filter(election=election).count() >= MAX_PER_ELECTION:
        raise InvalidInput({"automations": [
            f"Election #{election.pk} has {MAX_PER_ELECTION} automations already, the most one "
            "election may have; delete one first."]})
    automation = Automation.objects.create(
        election=election, name=spec.name, active=spec.active, when=spec.when_json,
        operations=spec.operations, recipients=spec.recipients, created_by=actor, updated_by=actor)
    record(Action.AUTOMATION_CREATED, log_ref(automation), actor=actor, **_describe(automation),
           when=automation.when, operations=list(automation.operations), active=automation.active)
    _plan(automation, actor=actor, now=now)
    return automation


def update_automation(automation: Automation, data, *, actor, partial: bool,
                      now: datetime | None = None) -> Automation:
    """Change the automation (PUT: everything; PATCH: the fields sent); logged with what changed.

    When anything changes, its revision goes up and its pending runs are superseded by
    the runs of the new rule (none when it is turned off). Nothing changes on bad input.
    """
    with transaction.atomic():
        automation = _lock(automation)
        now = now or timezone.now()
        spec = parse_automation(data, election=automation.election, now=now, current=automation,
                                partial=partial)
        new = {"name": spec.name, "active": spec.active, "when": spec.when_json,
               "operations": spec.operations, "recipients": spec.recipients}
        changed = [field for field, value in new.items() if getattr(automation, field) != value]
        if not changed:
            return automation
        for field, value in new.items():
            setattr(automation, field, value)
        automation.revision += 1
        automation.updated_by = actor
        automation.save()
        reason = ("the automation was turned off" if not automation.active
                  else f"the automation was changed (revision {automation.revision})")
        pending = runs.pending_runs(automation_id=automation.pk, lock=True)
        if pending:
            runs.close_runs(pending, state=State.SUPERSEDED if automation.active else State.CANCELLED,
                            reason=reason, actor=actor)
        record(Action.AUTOMATION_CHANGED, log_ref(automation), actor=actor, **_describe(automation),
               changed=changed, when=automation.when, active=automation.active)
        _plan(automation, actor=actor, now=now)
        return automation


def delete_automation(automation: Automation, *, actor) -> None:
    """Delete the automation; its pending runs are cancelled (the runs' history stays); logged."""
    with transaction.atomic():
        automation = _lock(automation)
        pending = runs.pending_runs(automation_id=automation.pk, lock=True)
        if pending:
            runs.close_runs(pending, state=State.CANCELLED, reason="the automation was deleted",
                            actor=actor)
        record(Action.AUTOMATION_DELETED, log_ref(automation), actor=actor, **_describe(automation))
        automation.delete()


def set_run_enabled(automation: Automation, run_id: int, enabled, *, actor) -> ScheduledEvent:
    """Turn one pending run of the automation off (it will be skipped) or back on; logged.

    Raises ``ScheduledEvent.DoesNotExist`` for a run of another automation, and
    ``InvalidInput`` naming ``enabled`` when it is not a boolean or the run is not pending.
    """
    if not isinstance(enabled, bool):
        raise InvalidInput({"enabled": ["Must be true (send it) or false (turn it off)."]})
    with transaction.atomic():
        _lock_election(automation.election)
        run = ScheduledEvent.objects.select_for_update().get(
            pk=run_id, kind=Kind.AUTOMATION, automation_id=automation.pk)
        return runs.set_run_enabled(run, enabled, actor=actor)


def _plan(automation: Automation, *, actor, now: datetime) -> list[ScheduledEvent]:
    specs = planning.initial_runs(automation, now, _anchors(automation.election_id))
    return runs.schedule_runs(specs, actor=actor) if specs else []


#: Automations planned per transaction by ``plan_missing_runs`` (its INSERTs stay bounded).
PLAN_MISSING_CHUNK = 2000


def plan_missing_runs(*, now: datetime | None = None) -> int:
    """Give each active due-date or cron automation that has no pending run its next run.

    For bootstrap (after ``migrate``: the "Daily maintenance" automation the migration
    installs) and repair; idempotent (the task id of the next occurrence is deterministic).
    One query finds the automations without a pending run (an anti-join on the pending
    runs' index); their runs are written ``PLAN_MISSING_CHUNK`` automations per
    transaction, in a few statements each, so a worker start with 100,000 cron rules does
    not take one transaction per rule. Returns how many runs were scheduled.
    """
    now = now or timezone.now()
    has_pending = ScheduledEvent.objects.filter(kind=Kind.AUTOMATION, state=State.PENDING,
                                                automation_id=OuterRef("pk"))
    missing = list(Automation.objects.filter(active=True)
                   .filter(Q(when__has_key="at") | Q(when__has_key="cron_rule"))
                   .filter(~Exists(has_pending)).order_by("pk").values_list("pk", flat=True))
    count = 0
    for start in range(0, len(missing), PLAN_MISSING_CHUNK):
        with transaction.atomic():
            chunk = (Automation.objects.select_for_update(of=("self",)).select_related("election")
                     .filter(pk__in=missing[start:start + PLAN_MISSING_CHUNK], active=True)
                     .filter(~Exists(has_pending)).order_by("pk"))
            specs = [spec for automation in chunk
                     for spec in planning.initial_runs(automation, now, anchors={})]
            count += len(runs.schedule_runs(specs, actor=None))
    return count
