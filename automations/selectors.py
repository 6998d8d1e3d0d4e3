"""Reads: automations with their next run, their runs (newest first), and the people an
editor may pick as recipients."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import F, Min, OuterRef, Q, QuerySet, Subquery

from elections.models import ElectionGrant, ElectionGroupGrant
from elections.selectors import ancestor_paths
from scheduling.models import Kind, ScheduledEvent, State

from .models import Automation


def _next_run_at():
    pending = (ScheduledEvent.objects.filter(kind=Kind.AUTOMATION, automation_id=OuterRef("pk"),
                                             state=State.PENDING, enabled=True)
               .order_by().values("automation_id").annotate(first=Min("event_at")).values("first"))
    return Subquery(pending)


def automations_of(election_id: int | None) -> QuerySet[Automation]:
    """The election's automations (global ones for None), oldest first, with ``next_run_at``."""
    where = Q(election__isnull=True) if election_id is None else Q(election_id=election_id)
    return (Automation.objects.filter(where).select_related("election")
            .annotate(next_run_at=_next_run_at()).order_by("pk"))


def automation_of(election_id: int | None, automation_id: int) -> Automation:
    """One automation of the election (or global); ``Automation.DoesNotExist`` otherwise."""
    return automations_of(election_id).get(pk=automation_id)


def automations_for_elections(election_ids: list[int]) -> dict[int, list[Automation]]:
    """The automations of each election, for showing them with the elections (one query)."""
    found: dict[int, list[Automation]] = {pk: [] for pk in election_ids}
    for automation in (Automation.objects.filter(election_id__in=election_ids)
                       .annotate(next_run_at=_next_run_at()).order_by("pk")):
        found[automation.election_id].append(automation)
    return found


def runs_of(automation: Automation) -> QuerySet[ScheduledEvent]:
    """Every run of the automation, pending and past, newest first."""
    return (ScheduledEvent.objects.filter(kind=Kind.AUTOMATION, automation_id=automation.pk)
            .select_related("subject_user", "toggled_by").order_by("-event_at", "-id"))


def pending_runs_by_automation(automation_ids: list[int]) -> dict[int, ScheduledEvent]:
    """Each automation's next pending run, on or off (the one its switch turns), one query."""
    found: dict[int, ScheduledEvent] = {}
    for run in (ScheduledEvent.objects.filter(kind=Kind.AUTOMATION, state=State.PENDING,
                                              automation_id__in=automation_ids)
                .select_related("toggled_by").order_by("event_at", "id")):
        found.setdefault(run.automation_id, run)
    return found


def past_runs_of_election(election_id: int, limit: int = 20) -> list[ScheduledEvent]:
    """The election's runs that are no longer pending (of automations deleted since too),
    most recently finished first, at most ``limit``."""
    return list(ScheduledEvent.objects.filter(kind=Kind.AUTOMATION, election_id=election_id)
                .exclude(state=State.PENDING).select_related("toggled_by")
                .order_by(F("finished_at").desc(nulls_last=True), "-event_at", "-id")[:limit])


#: The most names of each kind ``recipient_suggestions`` returns.
MAX_SUGGESTIONS = 10


def recipient_suggestions(user, election, query: str, limit: int = MAX_SUGGESTIONS) -> dict:
    """``{"users": [username…], "groups": [name…]}`` whose name contains ``query`` (any case),
    at most ``limit`` of each, by name: what ``user`` may pick as recipients.

    A superuser may pick any account and group. Anyone else (for an election; the caller has
    checked their grant) picks among the accounts and groups holding a grant on the election
    or an ancestor, their own or through a group: the people who may view it, the only ones
    an automation's email reaches. Usernames only, never addresses.
    """
    users = get_user_model().objects.all()
    groups = Group.objects.all()
    if not user.is_superuser:
        path = ancestor_paths([election.pk]).get(election.pk, [election.pk])
        granted_groups = ElectionGroupGrant.objects.filter(election_id__in=path).values("group_id")
        users = users.filter(Q(pk__in=ElectionGrant.objects.filter(election_id__in=path).values("user_id"))
                             | Q(groups__in=granted_groups)).distinct()
        groups = groups.filter(pk__in=granted_groups)
    if query:
        users, groups = users.filter(username__icontains=query), groups.filter(name__icontains=query)
    return {"users": list(users.order_by("username").values_list("username", flat=True)[:limit]),
            "groups": list(groups.order_by("name").values_list("name", flat=True)[:limit])}


def email_template_uses(user) -> dict[str, list[str]]:
    """``{template name: ["automation “name” of election “title”", ...]}`` for the automations that send
    email, as ``user`` may see them: those of elections they may not view, and global ones for
    anyone but a superuser, are only counted.
    Registered with ``notifications.usage`` (the email templates page)."""
    from elections.selectors import viewable_among

    rows = list(Automation.objects.filter(Q(operations__has_key="send_email")
                                          | Q(operations__has_key="send_summary"))
                .select_related("election").order_by("pk"))
    visible = viewable_among(user, {a.election_id for a in rows if a.election_id})
    found: dict[str, list[str]] = {}
    hidden: dict[str, int] = {}
    for automation in rows:
        operations = automation.operations or {}
        names = [operations["send_email"].get("template")] if "send_email" in operations else []
        if "send_summary" in operations:
            names.append("election-summary")
        for name in filter(None, names):
            if (automation.election_id not in visible if automation.election_id
                    else not user.is_superuser):  # global automations are for superusers only
                hidden[name] = hidden.get(name, 0) + 1
                continue
            where = f"of election “{automation.election.title}”" if automation.election_id else "(global)"
            found.setdefault(name, []).append(
                f"Automation “{automation.name}” {where}{'' if automation.active else ', turned off'}")
    for name, count in hidden.items():
        found.setdefault(name, []).append(
            f"{count} automation{'s' if count != 1 else ''} you may not see")
    return found
