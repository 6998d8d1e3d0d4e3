"""The run operations that send email: ``send_email`` and ``send_summary`` (registered in ``ready``).

Both run inside the run's transaction (scheduling's ``RunContext``): they resolve the
run's ``payload["recipients"]`` at that moment (``recipients.resolve``), never when the
run was scheduled, and queue one outbox row per person with ``queue_emails``. The
cause is ``run:<task id>:<operation>``: unique per run and operation, so a retried
run never queues a person twice, and a run that sends a reminder and a summary sends
both. Each message carries the one-click way out of that automation
(``automation:<uid>``).

Who gets it: the spec's users, groups and grant holders. A run about a user (a user
trigger: ``subject_user``) whose automation names nobody is for that user.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q

from activity_log.models import ActivityEntry
from activity_log.presentation import describe
from elections.models import Election, Status
from elections.selectors import tree_ids
from scheduling import operations
from scheduling.models import Kind, ScheduledEvent, State

from . import recipients, rendering, services

#: How many rows each list of a summary shows at most.
SUMMARY_ROWS = 20


def register() -> None:
    operations.register("send_email", run=send_email, validate=validate_send_email,
                        scopes={"election", "global"})
    operations.register("send_summary", run=send_summary, validate=operations.no_params,
                        scopes={"election"})


# --- validation (on save) -------------------------------------------------------------------

def validate_send_email(params: dict, scope: str) -> dict:
    """``{"template": name}`` of an existing template; ``InvalidInput`` naming ``template`` otherwise."""
    from elections.errors import InvalidInput

    unknown = [str(key)[:60] for key in params if key != "template"]
    if unknown:
        raise InvalidInput({key: ['Unknown parameter; send_email takes only "template".'] for key in unknown})
    name = params.get("template")
    if not isinstance(name, str) or not name.strip():
        known = ", ".join(services.template_names())
        raise InvalidInput({"template": [f'Required: the name of an email template, e.g. '
                                         f'{{"template": "voting-closes-soon"}}; known: {known}.']})
    services.get_template(name.strip())  # InvalidInput naming "template" and the known names
    return {"template": name.strip()}


# --- running --------------------------------------------------------------------------------

def send_email(ctx, params: dict) -> dict:
    """Queue ``params["template"]`` to the run's recipients, resolved now."""
    return _send(ctx, "send_email", params["template"])


def send_summary(ctx, params: dict) -> dict:
    """Queue ``election-summary`` to the run's recipients, with the tree's state as ``summary``."""
    if ctx.election is None:
        raise operations.RunSkipped("a summary needs an election, and this run has none")
    summary = summary_context(ctx.election, ctx.now, this_run=ctx.run.pk)
    return _send(ctx, "send_summary", "election-summary", {"summary": summary})


def subject_user(run):
    """The user a user-trigger run is about, or None (none, or the account is gone)."""
    if not run.subject_user_id:
        return None
    return get_user_model().objects.filter(pk=run.subject_user_id).first()


def run_recipients(run, election, now) -> recipients.Resolution:
    """Who a run is for, resolved at ``now``: its spec, or its subject user when the spec names nobody."""
    spec = {**recipients.empty_spec(), **((run.payload or {}).get("recipients") or {})}
    if not any(spec[name] for name in recipients.LISTS):
        user = subject_user(run)
        if user is not None:
            spec["users"] = [user.get_username()]
    return recipients.resolve(spec, election, now)


def _send(ctx, operation: str, template: str, extra: dict | None = None) -> dict:
    run, election = ctx.run, ctx.election
    payload = run.payload or {}
    automation = payload.get("automation") or {}
    name = automation.get("name") or f"automation {automation.get('id', '?')}"
    resolution = run_recipients(run, election, ctx.now)
    zone = services.zone_of("", election)
    subject = {}
    person = subject_user(run)
    if person is not None:
        subject = {"subject": {"username": person.get_username(),
                               "name": person.get_full_name() or person.get_username()}}
    result = services.queue_emails(
        template_name=template, election=election, users=resolution.users,
        cause=f"run:{run.task_id}:{operation}", cause_label=f"automation {name}",
        occurrence={"label": name, "automation": name,
                    "type": (payload.get("occurrence") or {}).get("type", ""),
                    "at": rendering.time_context(run.event_at, zone)},
        extra_context={**(extra or {}), **subject},
        unsubscribe_scope=f"automation:{automation.get('uid') or automation.get('id')}",
        unsubscribe_label=name, keep_deactivated=True)  # the spec's flags chose them
    left_out = {reason: len(names) for reason, names in resolution.left_out.items()}
    for reason, names in (("no_address", result.no_address), ("may_not_view", result.may_not_view),
                          ("unsubscribed", result.unsubscribed)):
        if names:
            left_out[reason] = len(names)
    if result.already_queued:
        left_out["already_queued"] = result.already_queued
    return {"recipients": len(resolution.users), "emails_queued": result.queued, "left_out": left_out}


# --- the summary ----------------------------------------------------------------------------

def summary_context(election: Election, now, *, this_run: int | None = None) -> dict:
    """The tree of ``election`` as plain values, in its zone and UTC: statuses (counts), the
    schedule, upcoming runs, recent activity (last 20) and anything late or failed."""
    zone = services.zone_of("", election)
    ids = tree_ids(election)
    titles = dict(Election.objects.filter(pk__in=ids).values_list("pk", "title"))
    counts = dict(Election.objects.filter(pk__in=ids).values_list("status").annotate(n=Count("pk")))
    statuses = [{"status": value, "label": label, "count": counts[value]}
                for value, label in Status.choices if counts.get(value)]
    tree = ScheduledEvent.objects.filter(election_id__in=ids).exclude(pk=this_run)

    def row(event: ScheduledEvent) -> dict:
        what = (services.KIND_LABELS.get(event.kind) if event.kind != Kind.AUTOMATION
                else ((event.payload or {}).get("automation") or {}).get("name") or "automation run")
        return {"what": what, "election_title": titles.get(event.election_id, "(deleted election)"),
                "at": rendering.time_context(event.event_at, zone), "state": event.state,
                "reason": event.reason,
                "lateness_seconds": round(event.lateness.total_seconds()) if event.lateness else None}

    pending = tree.filter(state=State.PENDING).order_by("event_at", "pk")
    late = settings.ALERT_LATE_SECONDS
    wrong = tree.filter(Q(state=State.FAILED)
                        | Q(state=State.DONE, lateness__gt=_seconds(late))
                        | Q(state=State.PENDING, event_at__lt=now - _seconds(late))
                        ).order_by(F("finished_at").desc(nulls_first=True), "-event_at")
    activity = ActivityEntry.objects.filter(election_id__in=ids).order_by("-created_at", "-id")
    return {
        "time_zone": zone,
        "elections": len(ids),
        "statuses": statuses,
        "schedule": [row(e) for e in pending.filter(kind__in=Kind.VOTING)[:SUMMARY_ROWS]],
        "upcoming_runs": [row(e) for e in pending.filter(kind=Kind.AUTOMATION)[:SUMMARY_ROWS]],
        "late_or_failed": [row(e) for e in wrong[:SUMMARY_ROWS]],
        "recent_activity": [{"at": rendering.time_context(entry.created_at, zone),
                             "election_title": entry.election_title, "sentence": describe(entry)}
                            for entry in activity[:SUMMARY_ROWS]],
    }


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
