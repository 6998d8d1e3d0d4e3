"""Pages. Thin: check access, read, render; every write goes through the REST API from the page.

Access: 404 when the user may not view the election, 403 when a page needs more.
"""

import hashlib
import json
from datetime import timedelta
from functools import wraps

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.core.paginator import Paginator
from django.db.models import F, OuterRef, Q, Subquery
from django.http import HttpResponse, HttpResponseNotModified, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from activity_log.presentation import format_seconds, short_task_id
from activity_log.views import activity_page
from config.input import max_body_megabytes, search_term
from config.zones import display_zone, format_in_zone
from scheduling.configuring import delete_election, pending_events
from scheduling.election_config import MAX_ELECTIONS
from scheduling.models import Kind, ScheduledEvent, State
from scheduling.selectors import history_for, next_pending_by_election

from .access import election_for
from .errors import InvalidInput
from .models import TRANSITIONS, Election, Permission, Status, StatusAction
from .selectors import (
    editable_elections,
    grants_on,
    group_grants_on,
    inherited_grants,
    inherited_group_grants,
    permissions_of,
    tree_ids,
    tree_of,
    tree_status_counts,
    viewable_among,
    viewable_elections,
)
from .services import MAX_TREE_DEPTH, set_grant, set_group_grant, update_election

PAGE_SIZE = 50

#: The kinds that open and close voting: the pages show only these (main names them Kind.VOTING;
#: other kinds of scheduled rows, such as automation runs, are not voting events).
VOTING_KINDS = Kind.VOTING

#: What the confirmation of a status action adds under its question.
ACTION_NOTES = {
    StatusAction.START: "Voting opens now in each of them that has not started; "
                        "their scheduled starts are cancelled.",
    StatusAction.STOP: "Voting closes for good in each of them that is open or suspended: "
                       "a stopped election cannot be started again.",
    StatusAction.SUSPEND: "Voting pauses in each of them that is open, until you resume it.",
    StatusAction.RESUME: "Voting reopens in each of them that is suspended.",
}


def election_or_404(request, pk: int, permission: str = Permission.VIEW) -> Election:
    """The election if the user holds ``permission``: 404 without view, 403 without the rest."""
    return election_for(request.user, pk, permission)


def iso_utc(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def json_login_required(view):
    """Like ``login_required`` for the pages' JSON: 401 JSON instead of a redirect to the log-in page."""
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return JsonResponse({"detail": "Your session has ended; log in again."}, status=401)
        return view(request, *args, **kwargs)
    return wrapper


#: What happened to a scheduled event, in words, by kind and final state.
HAPPENED_WORDS = {
    (Kind.START_VOTING, State.DONE): "Voting opened", (Kind.END_VOTING, State.DONE): "Voting closed",
    (Kind.START_VOTING, State.SKIPPED): "The scheduled opening was skipped",
    (Kind.END_VOTING, State.SKIPPED): "The scheduled closing was skipped",
    (Kind.START_VOTING, State.FAILED): "The scheduled opening failed",
    (Kind.END_VOTING, State.FAILED): "The scheduled closing failed",
}


def what_happened(election_id: int, zone: str) -> list[dict]:
    """The last event of each kind that ran (or was skipped, or failed), newest first, in words, its
    time to the hundredth (how close to its time it ran) in ``zone`` and in UTC for the hover:
    ``{"text": "Voting opened", "at": ISO, "when": "Sat 12 Sep 2026 11:00:00.04 Europe/Paris",
    "when_utc": "12 Sep 2026 09:00:00.04 UTC", "detail": "40 ms late", "task_id", …}``."""
    finished = (ScheduledEvent.objects.filter(election_id=election_id, kind__in=VOTING_KINDS,
                                              state__in=[State.DONE, State.SKIPPED, State.FAILED])
                .order_by("-finished_at", "-pk"))
    lines, seen = [], set()
    for event in finished[:20]:
        if event.kind in seen:
            continue
        seen.add(event.kind)
        at = event.executed_at or event.finished_at or event.event_at
        detail = event.reason or ""
        if event.state == State.DONE and event.lateness is not None:
            detail = f"{format_seconds(event.lateness.total_seconds())} late"
        lines.append({"text": HAPPENED_WORDS[(event.kind, event.state)], "at": iso_utc(at),
                      "when": format_in_zone(at, zone, hundredths=True),
                      "when_utc": format_in_zone(at, "UTC", weekday=False, hundredths=True),
                      "detail": detail, "task_id": event.task_id,
                      "short_task_id": short_task_id(event.task_id), "state": event.state})
    return lines


def favicon(request):
    """``/favicon.ico`` for browsers and tools that ask without reading ``<link rel="icon">``."""
    return redirect(static("favicon.svg"))  # resolved per request: a hashed static name would move


# --- pages ------------------------------------------------------------------------------

#: The list's orders: value -> (label, ordering). "next" puts elections with nothing pending last.
LIST_ORDERS = {
    "newest": ("Newest first", ("-pk",)),
    "next": ("Next scheduled event", (F("next_event_at").asc(nulls_last=True), "-pk")),
    "title": ("Title (A to Z)", ("title", "pk")),
}


@login_required
def election_list(request):
    """Elections the user may view: search by title, filter by status, top-level only, ordered."""
    query = search_term(request.GET.get("q"))
    status = request.GET.get("status") or ""
    status = status if status in Status.values else ""
    top_only = request.GET.get("top") == "1"
    order = request.GET.get("order") if request.GET.get("order") in LIST_ORDERS else "newest"
    elections = viewable_elections(request.user).select_related("parent")
    if query:
        elections = elections.filter(title__icontains=query)
    if status:
        elections = elections.filter(status=status)
    if top_only:
        elections = elections.filter(parent__isnull=True)
    if order == "next":
        elections = elections.annotate(next_event_at=Subquery(
            ScheduledEvent.objects.filter(election_id=OuterRef("pk"), state=State.PENDING,
                                          kind__in=VOTING_KINDS)
            .order_by("event_at").values("event_at")[:1]))
    page = Paginator(elections.order_by(*LIST_ORDERS[order][1]), PAGE_SIZE).get_page(request.GET.get("page"))
    next_event = next_pending_by_election(e.pk for e in page.object_list)
    # "Part of" names a parent only if the user may view it: a grant on a child shows nothing above.
    shown = viewable_among(request.user, {e.parent_id for e in page.object_list if e.parent_id})
    rows = [(e, e.parent if e.parent_id in shown else None, next_event.get(e.pk)) for e in page.object_list]
    filters = request.GET.copy()
    filters.pop("page", None)
    return render(request, "elections/list.html", {
        "page": page, "rows": rows, "filter_query": filters.urlencode(),
        "q": query, "status": status, "top_only": top_only, "order": order,
        "statuses": Status.choices, "orders": [(value, label) for value, (label, _) in LIST_ORDERS.items()],
        "filtered": bool(query or status or top_only),
        "can_create": request.user.has_perm("elections.add_election"),
    })


@never_cache
@json_login_required
def parent_search(request):
    """Up to 20 elections the user may edit whose title contains ``q`` (or whose id is ``q``/``#q``),
    for the upload page's parent field: ``{"results": [{"id", "title", "label"}]}``."""
    query = search_term(request.GET.get("q"))
    elections = editable_elections(request.user)
    digits = query.lstrip("#")
    if digits.isascii() and digits.isdigit() and len(digits) <= 18:
        elections = elections.filter(Q(title__icontains=query) | Q(pk=int(digits)))
    elif query:
        elections = elections.filter(title__icontains=query)
    found = elections.order_by("title", "pk").values("pk", "title")[:20]
    return JsonResponse({"results": [
        {"id": e["pk"], "title": e["title"], "label": f"{e['title']} (#{e['pk']})"} for e in found
    ]})


@login_required
def dashboard(request, pk: int):
    election = election_or_404(request, pk)
    permissions = permissions_of(request.user, election)
    pending = pending_events(election.pk)
    children = list(election.children.order_by("pk"))
    # a child's own pending events, shown where they differ from this election's
    own: dict[int, list] = {}
    for event in (ScheduledEvent.objects.filter(election_id__in=[c.pk for c in children], state=State.PENDING,
                                                kind__in=VOTING_KINDS).order_by("kind")):
        mine = pending.get(event.kind)
        if mine is None or mine.event_at != event.event_at:
            own.setdefault(event.election_id, []).append(event)
    child_rows = [(child, own.get(child.pk, [])) for child in children]
    status_actions = [
        {"action": action, "label": StatusAction(action).label.capitalize(),
         "allowed_from": " ".join(sorted(TRANSITIONS[action][0])), "allowed_now": election.allows(action)}
        for action in (StatusAction.START, StatusAction.SUSPEND, StatusAction.RESUME, StatusAction.STOP)
    ] if Permission.EDIT in permissions else []
    start, stop = pending.get(Kind.START_VOTING), pending.get(Kind.END_VOTING)
    page_data = {
        "id": election.pk,
        "apiUrl": reverse("api-election-detail", args=[election.pk]),
        "scheduledEventsUrl": reverse("api-scheduled-events", args=[election.pk]),
        "actionUrls": {a["action"]: reverse(f"api-election-{a['action']}", args=[election.pk])
                       for a in status_actions},
        "statusLabels": dict(Status.choices),
        # which statuses each action changes (the confirmation counts the descendants in them)
        "actionRules": {a["action"]: sorted(TRANSITIONS[a["action"]][0]) for a in status_actions},
        "actionNotes": {a["action"]: ACTION_NOTES[a["action"]] for a in status_actions},
        # one request refreshes the election and every child shown (elections/<pk>/summary/)
        "summaryUrl": reverse("election-summary", args=[election.pk]),
        "events": {
            kind: event.event_at.isoformat().replace("+00:00", "Z") if event else None
            for kind, event in ((Kind.START_VOTING, start), (Kind.END_VOTING, stop))
        },
        "pollMs": 2000,
    }
    return render(request, "elections/dashboard.html", {
        "election": election, "children": children, "child_rows": child_rows,
        "happened": what_happened(election.pk, display_zone(request.user, election)),
        "start": start, "stop": stop, "status_actions": status_actions,
        "can_schedule": Permission.SCHEDULE_EVENTS in permissions,
        "kinds": [{"value": kind.value, "label": kind.label} for kind in Kind.VOTING],
        "page_data": page_data,
    })


@json_login_required
def summary(request, pk: int):
    """What the dashboard refreshes, in one request: the election's status and pending events, the
    status of each direct child, how many descendants (any depth) are in each status, and what
    happened. With an ``ETag``: an unchanged summary (5,000 children is about 100 KB) is a 304."""
    election = election_or_404(request, pk)
    pending = pending_events(election.pk)
    body = json.dumps({
        "id": election.pk,
        "title": election.title,
        "status": election.status,
        "events": {kind: iso_utc(pending[kind].event_at) if kind in pending else None
                   for kind in VOTING_KINDS},
        "children": list(election.children.order_by("pk").values_list("pk", "status")),
        "descendants": tree_status_counts(election),
        "happened": what_happened(election.pk, display_zone(request.user, election)),
    }, separators=(",", ":"))
    etag = f'"{hashlib.sha256(body.encode()).hexdigest()[:32]}"'
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"  # the browser asks every time, with If-None-Match
    return response


@login_required
def past_events(request, pk: int):
    election = election_or_404(request, pk)
    # only what has happened: pending events are on the dashboard, not in the past
    page = Paginator(history_for(election.pk).exclude(state=State.PENDING), PAGE_SIZE).get_page(
        request.GET.get("page"))
    return render(request, "elections/events.html", {"election": election, "page": page})


@login_required
def activity(request, pk: int):
    election = election_or_404(request, pk)
    return activity_page(request, election=election, tree=tree_of(election))


@login_required
def upload(request):
    """The upload form; it posts to the API and shows its answers (a 400 names every problem of the
    configuration by its path; 413 for too big a body). It states the limits so a user knows them first."""
    # examples a week ahead at 09:00 UTC: a placeholder in the past would be refused if copied
    opens = (timezone.now() + timedelta(days=7)).replace(hour=9, minute=0, second=0, microsecond=0)
    return render(request, "elections/upload.html", {
        "example_start": iso_utc(opens), "example_end": iso_utc(opens + timedelta(hours=10)),
        "can_create": request.user.has_perm("elections.add_election"),
        "max_upload_mb": max_body_megabytes(),
        "max_tree_depth": MAX_TREE_DEPTH,
        "max_elections": MAX_ELECTIONS,
        "parent_search_url": reverse("election-parent-search"),
        "api_url": reverse("api-election-list"),
        "dashboard_url": reverse("election-dashboard", args=[0]),
    })


# --- an election's settings: title and description, grants, deletion ------------------------------

@login_required
def settings_page(request, pk: int):
    """Edit the title and description, manage who may do what, delete: the edit grant is needed.
    Each form posts here (``form`` = details, grant) and is redirected back (POST/redirect/GET)."""
    election = election_or_404(request, pk, Permission.EDIT)
    errors: dict = {}
    if request.method == "POST":
        form = request.POST.get("form")
        try:
            if form == "details":
                changed = update_election(election, title=request.POST.get("title", ""),
                                          description=request.POST.get("description", ""), actor=request.user)
                messages.info(request, "Nothing changed." if not changed else
                              f"Saved: the {' and the '.join(changed)} changed.")
                return redirect("election-settings", pk=election.pk)
            if form == "grant":
                return _grant_from_form(request, election)
            if form == "group-grant":
                return _group_grant_from_form(request, election)
        except InvalidInput as exc:
            errors = {key: " ".join(str(m) for m in value) if isinstance(value, list) else str(value)
                      for key, value in exc.detail.items()}
    ids = tree_ids(election)
    return render(request, "elections/settings.html", {
        "election": election, "errors": errors, "posted": request.POST if errors else None,
        "grants": grants_on(election), "inherited": inherited_grants(election),
        "group_grants": group_grants_on(election), "inherited_groups": inherited_group_grants(election),
        "groups": list(Group.objects.order_by("name").values_list("name", flat=True)[:500]),
        "permissions": Permission.choices, "is_top_level": election.parent_id is None,
        "descendant_count": len(ids) - 1,
        "pending_count": ScheduledEvent.objects.filter(election_id__in=ids, state=State.PENDING).count(),
    }, status=400 if errors else 200)


def _grant_from_form(request, election: Election):
    """Give, change or remove (permission "") a user's grant, from the settings page's forms."""
    username = (request.POST.get("username") or "").strip()[:150]
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise InvalidInput({"username": [f"No active user named “{username}”; check the spelling."]})
    permission = request.POST.get("permission") or None
    if set_grant(election, user, permission, actor=request.user):
        messages.success(request, f"{user.username} now has the {permission} grant." if permission
                         else f"{user.username}'s grant on this election was removed.")
    else:
        messages.info(request, "Nothing changed.")
    return redirect("election-settings", pk=election.pk)


def _group_grant_from_form(request, election: Election):
    """Give, change or remove (permission "") a group's grant, from the settings page's forms."""
    name = (request.POST.get("group") or "").strip()[:150]
    group = Group.objects.filter(name=name).first()
    if group is None:
        raise InvalidInput({"group": [f"No group named “{name}”; a superuser creates groups in the admin."]})
    permission = request.POST.get("permission") or None
    if set_group_grant(election, group, permission, actor=request.user):
        messages.success(request, f"The group {group.name} now has the {permission} grant." if permission
                         else f"The group {group.name}'s grant on this election was removed.")
    else:
        messages.info(request, "Nothing changed.")
    return redirect("election-settings", pk=election.pk)


@require_POST
@login_required
def delete_page(request, pk: int):
    """Delete the election and its children (their pending events are cancelled); back to the list."""
    election = election_or_404(request, pk, Permission.EDIT)
    title = election.title
    delete_election(election, actor=request.user)
    messages.success(request, f"“{title}” and its child elections were deleted; the activity log keeps "
                              "their history.")
    return redirect("election-list")
