"""What automations do when something happens elsewhere (contract §4), all in the sender's
transaction: relative runs move with their anchor, status and user triggers create runs,
and a finished cron run creates the next one (coalescing runs missed while down).

Connected in ``AutomationsConfig.ready``; the relative-run guard operation is registered
there too, so ``scheduling`` runs it without importing this app.
"""

import logging
from datetime import datetime

from celery.signals import worker_ready
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

from activity_log.models import Action
from activity_log.presentation import format_utc
from activity_log.services import Entry, record_many
from config.sql import id_in
from elections import signals as election_signals
from elections.models import Status
from scheduling import operations, runs
from scheduling import signals as scheduling_signals
from scheduling.models import Kind, ScheduledEvent, State

from . import planning
from .cron import coalesce_missed, next_occurrences
from .models import Automation
from .services import log_ref
from .when import Cron, OnStatus, OnUser

logger = logging.getLogger(__name__)

#: What each voting kind is called in a reason a person reads.
ANCHOR_NOUN = {"start_voting": "the start of voting", "end_voting": "the end of voting"}


def connect() -> None:
    scheduling_signals.voting_events_changed.connect(on_voting_events_changed,
                                                     dispatch_uid="automations.relative")
    election_signals.statuses_changed.connect(on_statuses_changed, dispatch_uid="automations.status")
    scheduling_signals.runs_finished.connect(on_runs_finished, dispatch_uid="automations.cron_next")
    user_logged_in.connect(on_user_logged_in, dispatch_uid="automations.last_login")
    User = get_user_model()
    pre_save.connect(remember_is_active, sender=User, dispatch_uid="automations.user_pre")
    post_save.connect(on_user_saved, sender=User, dispatch_uid="automations.user_post")
    worker_ready.connect(on_worker_ready, dispatch_uid="automations.bootstrap")
    operations.register(planning.RELATIVE_GUARD, run=run_relative_guard,
                        validate=_refuse_guard_params, scopes={"election"}, writes=False)


def _active(queryset):
    return queryset.filter(active=True).select_related("election")


# --- relative runs move with their anchor -------------------------------------------------

def on_voting_events_changed(sender=None, *, election_id: int, changes: dict, **kwargs) -> None:
    """Move, or cancel, the relative runs hanging on the election's rescheduled events.

    ``changes`` maps a kind to ``(old, new)``: the old pending event's runs are superseded
    ("moved with …") by runs around the new one, or cancelled when there is no new one.
    Set-based, in the caller's transaction: one query for the runs, one UPDATE and one
    INSERT of log rows per reason, one INSERT of the new runs, whether one reminder hangs
    on the event or a hundred.
    """
    automations = [a for a in _active(Automation.objects.filter(election_id=election_id))
                   if set(a.when) & {"before", "after"} and _anchor_of(a) in changes]
    if not automations:
        return
    pending: dict[int, list[ScheduledEvent]] = {}
    for run in runs.pending_runs(election_id=election_id, lock=True):
        pending.setdefault(run.automation_id, []).append(run)
    closing: dict[tuple[str, str], list[ScheduledEvent]] = {}
    specs = []
    for automation in automations:
        when = planning.when_of(automation)
        old, new = changes[when.anchor]
        noun = ANCHOR_NOUN[when.anchor]
        mine = [r for r in pending.get(automation.pk, ())
                if old is None or (r.payload.get("occurrence") or {}).get("anchor_task_id") == old.task_id]
        if mine:
            outcome = ((State.SUPERSEDED, f"{noun} moved to {format_utc(new.event_at)}") if new is not None
                       else (State.CANCELLED, f"{noun} was cancelled"))
            closing.setdefault(outcome, []).extend(mine)
        if new is not None:
            specs.append(planning.relative_run(automation, when, new))
    for (state, reason), closed in closing.items():
        runs.close_runs(closed, state=state, actor=None, reason=reason)
    runs.schedule_runs(specs, actor=None)


def _anchor_of(automation: Automation) -> str | None:
    return automation.when.get("before") or automation.when.get("after")


def run_relative_guard(ctx, params: dict) -> dict:
    """First operation of a relative run: skip it, saying why, if its moment no longer means anything.

    Before an event: the event must still be pending and the election not past it (a
    reminder before closing is not sent once voting closed). After an event: the event
    must have happened.
    """
    anchor = ScheduledEvent.objects.filter(task_id=params["anchor_task_id"]).first()
    kind, noun = params["anchor"], ANCHOR_NOUN[params["anchor"]]
    pk = ctx.run.election_id
    # The locked tree's status as changed so far in this transaction (an end of voting
    # delivered in the same batch has already closed it), else the stored one.
    status = ctx.trees.status(pk) if pk in ctx.trees else getattr(ctx.election, "status", None)
    if params["sign"] < 0:
        if kind == Kind.END_VOTING and status == Status.STOPPED:
            raise operations.RunSkipped("voting had already closed")
        if kind == Kind.START_VOTING and status not in (None, Status.NOT_STARTED):
            raise operations.RunSkipped("voting had already opened")
        if anchor is None or anchor.state != State.PENDING:
            state = anchor.state if anchor is not None else "gone"
            raise operations.RunSkipped(f"{noun} is no longer scheduled ({state})")
    elif anchor is None or anchor.state != State.DONE:
        state = f"{anchor.state}: {anchor.reason}" if anchor is not None and anchor.reason else (
            anchor.state if anchor is not None else "gone")
        raise operations.RunSkipped(f"{noun} did not happen ({state})")
    return {}


def _refuse_guard_params(params, scope):
    from elections.errors import InvalidInput

    raise InvalidInput({"operations": {planning.RELATIVE_GUARD: ["Unknown operation."]}})


# --- status triggers -----------------------------------------------------------------------

def on_statuses_changed(sender=None, *, changes: list, cause: str = "", **kwargs) -> None:
    """Create the runs of ``{"on"|"after": "election.<status>"}`` rules for changes that happened.

    An election's own automations run for its own change; a global one runs once per
    cascade, for the topmost election that changed (not for each of 20,000 children).
    """
    if not changes:
        return
    now = timezone.now()
    by_event: dict[str, list[int]] = {}
    for change in changes:
        by_event.setdefault(f"election.{change.to_status}", []).append(change.election_id)
    changed_ids = {c.election_id for c in changes}
    candidates = _active(Automation.objects.filter(id_in("election_id", changed_ids))) | _active(
        Automation.objects.filter(election__isnull=True))
    specs = []
    tops = None
    for automation in candidates:
        event = automation.when.get("on") or automation.when.get("after")
        if event not in by_event:
            continue
        when = planning.when_of(automation)
        if not isinstance(when, OnStatus):
            continue
        if automation.election_id is not None:
            if automation.election_id in by_event[event]:
                specs.append(planning.status_run(automation, when, automation.election_id, now))
            continue
        if tops is None:
            tops = _tops(changed_ids)
        specs += [planning.status_run(automation, when, pk, now)
                  for pk in by_event[event] if pk in tops]
    if specs:
        runs.schedule_runs(specs, actor=None)


def _tops(ids: set[int]) -> set[int]:
    """The ids whose parent is not among ``ids`` (the top of each cascade)."""
    from elections.models import Election

    parents = dict(Election.objects.filter(id_in("pk", ids)).values_list("pk", "parent_id"))
    return {pk for pk in ids if parents.get(pk) not in ids}


# --- the next cron occurrence -----------------------------------------------------------------

def on_runs_finished(sender=None, *, finished: list[ScheduledEvent], **kwargs) -> None:
    """After cron runs executed, were skipped or failed, schedule each rule's next occurrence.

    For a whole delivery at once: one query locks the rules (in id order), one INSERT
    writes the next runs and one their log rows, whether 1 or 100 rules ran this minute.
    Runs missed while down are coalesced (``coalesce_missed``): within the rule's
    ``catch_up`` one late run stands for all, the others are recorded in ONE log row
    (count and range) per rule, never run one by one.
    """
    cron = [run for run in finished if run.kind == Kind.AUTOMATION
            and ((run.payload or {}).get("occurrence") or {}).get("type") == "cron"]
    if not cron:
        return
    automations = {a.pk: a for a in Automation.objects.select_for_update(of=("self",))
                   .select_related("election").filter(pk__in={run.automation_id for run in cron})
                   .order_by("pk")}
    now = timezone.now()
    specs, missed_rows = [], []
    for run in cron:
        automation = automations.get(run.automation_id)
        if (automation is None or not automation.active
                or ((run.payload or {}).get("automation") or {}).get("revision") != automation.revision):
            continue  # deleted, turned off or changed: its runs were replanned already
        when = planning.when_of(automation)
        if not isinstance(when, Cron):
            continue
        upcoming = next_occurrences(when, run.event_at, 1)
        if not upcoming:
            continue  # the rule has ended (until)
        if upcoming[0].at_utc > now:  # on time, nothing missed: the next occurrence, found once
            specs.append(planning.cron_run(automation, when, upcoming[0].at_utc))
            continue
        run_at, missed = coalesce_missed(when, run.event_at, now)
        if missed:
            missed_rows.append(Entry(Action.AUTOMATION_RUNS_MISSED, log_ref(automation), None, None, {
                "automation_id": automation.pk, "automation_uid": str(automation.uid),
                "name": automation.name, "count": len(missed), "first": missed[0], "last": missed[-1],
                "reason": "missed while down", "caught_up_by": run_at}))
        spec = (planning.cron_run(automation, when, run_at) if run_at is not None
                else planning.next_cron_run(automation, when, max(now, run.event_at)))
        if spec is not None:
            specs.append(spec)
    record_many(missed_rows)
    runs.schedule_runs(specs, actor=None)


# --- user triggers (global automations) --------------------------------------------------------

def _user_automations(trigger: str) -> list[tuple[Automation, OnUser]]:
    found = []
    for automation in _active(Automation.objects.filter(election__isnull=True)):
        if trigger in (automation.when.get("on"), automation.when.get("after")):
            when = planning.when_of(automation)
            if isinstance(when, OnUser):
                found.append((automation, when))
    return found


def _schedule_for_user(trigger: str, user, moment: datetime, *, replace_pending: bool) -> None:
    found = _user_automations(trigger)
    if not found:
        return
    with transaction.atomic():
        specs = []
        for automation, when in found:
            if replace_pending:  # a new log-in moves the run "7 days after the last log-in"
                earlier = [r for r in runs.pending_runs(automation_id=automation.pk, lock=True)
                           if r.subject_user_id == user.pk]
                if earlier:
                    runs.close_runs(earlier, state=State.SUPERSEDED, actor=None,
                                    reason=f"{user.username} logged in again at {format_utc(moment)}")
            specs.append(planning.user_run(automation, when, user, moment))
        runs.schedule_runs(specs, actor=None)


def on_user_logged_in(sender=None, *, user=None, **kwargs) -> None:
    if user is not None and user.pk is not None:
        _schedule_for_user("user.last_login", user, user.last_login or timezone.now(),
                           replace_pending=True)


def remember_is_active(sender=None, *, instance=None, update_fields=None, **kwargs) -> None:
    """Before a user is saved, note whether the account was active (to see an activation)."""
    if instance.pk is None or (update_fields is not None and "is_active" not in update_fields):
        instance._automations_was_active = None
        return
    instance._automations_was_active = (
        type(instance).objects.filter(pk=instance.pk).values_list("is_active", flat=True).first())


def on_user_saved(sender=None, *, instance=None, created=False, **kwargs) -> None:
    now = timezone.now()
    if created:
        _schedule_for_user("user.created", instance, instance.date_joined or now, replace_pending=False)
        return
    was_active = getattr(instance, "_automations_was_active", None)
    if instance.is_active and was_active is False:
        _schedule_for_user("user.activated", instance, now, replace_pending=False)


# --- bootstrap ------------------------------------------------------------------------------------

def on_worker_ready(sender=None, **kwargs) -> None:
    """When a Celery worker starts: give every active due-date or cron automation that has no
    pending run its next one (``services.plan_missing_runs``), the installed "Daily maintenance"
    the first time.

    Not in ``migrate`` (nor its ``post_migrate``): the migration installs the rule only and
    stays free of the run engine, and a database that only ran ``migrate`` (a test database,
    a fresh install) holds no due work nobody can run yet. Nothing executes a run before a
    worker is there, and each start is an idempotent repair (deterministic task ids).
    """
    from .services import plan_missing_runs

    try:
        planned = plan_missing_runs()
    except Exception:  # never keep a worker from starting; the next start, or a save, plans it
        logger.exception("could not plan the automations' missing runs at worker start")
        return
    if planned:
        logger.info("planned %d missing automation run(s) at worker start", planned)

