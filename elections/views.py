"""Pages. Thin: check access, read, render; every write goes through the REST API from the page.

Access: 404 when the user may not view the election, 403 when a page needs more.
"""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse

from activity_log.views import activity_page
from config.input import max_body_megabytes
from scheduling.configuring import pending_events
from scheduling.models import Kind
from scheduling.selectors import history_for, next_pending_by_election

from .access import election_for
from .models import TRANSITIONS, Election, Permission, Status, StatusAction
from .selectors import permissions_of, tree_of, viewable_among, viewable_elections
from .services import MAX_TREE_DEPTH

PAGE_SIZE = 50


def election_or_404(request, pk: int, permission: str = Permission.VIEW) -> Election:
    """The election if the user holds ``permission``: 404 without view, 403 without the rest."""
    return election_for(request.user, pk, permission)


# --- pages ------------------------------------------------------------------------------

@login_required
def election_list(request):
    page = Paginator(viewable_elections(request.user).select_related("parent").order_by("pk"),
                     PAGE_SIZE).get_page(request.GET.get("page"))
    next_event = next_pending_by_election(e.pk for e in page.object_list)
    # "Part of" names a parent only if the user may view it: a grant on a child shows nothing above.
    shown = viewable_among(request.user, {e.parent_id for e in page.object_list if e.parent_id})
    rows = [(e, e.parent if e.parent_id in shown else None, next_event.get(e.pk)) for e in page.object_list]
    return render(request, "elections/list.html", {
        "page": page, "rows": rows,
        "can_create": request.user.has_perm("elections.add_election"),
    })


@login_required
def dashboard(request, pk: int):
    election = election_or_404(request, pk)
    permissions = permissions_of(request.user, election)
    pending = pending_events(election.pk)
    children = list(election.children.order_by("pk"))
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
        # one request refreshes the first page of children; more update on reload
        "childrenUrl": f"{reverse('api-election-list')}?parent={election.pk}",
        "events": {
            kind: event.event_at.isoformat().replace("+00:00", "Z") if event else None
            for kind, event in ((Kind.START_VOTING, start), (Kind.END_VOTING, stop))
        },
        "pollMs": 2000,
    }
    return render(request, "elections/dashboard.html", {
        "election": election, "children": children,
        "start": start, "stop": stop, "status_actions": status_actions,
        "can_schedule": Permission.SCHEDULE_EVENTS in permissions,
        "kinds": [{"value": kind.value, "label": kind.label} for kind in Kind.VOTING],
        "page_data": page_data,
    })


@login_required
def past_events(request, pk: int):
    election = election_or_404(request, pk)
    page = Paginator(history_for(election.pk), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "elections/events.html", {"election": election, "page": page})


@login_required
def activity(request, pk: int):
    election = election_or_404(request, pk)
    return activity_page(request, election=election, tree=tree_of(election))


@login_required
def upload(request):
    """The upload form; it posts to the API, whose answers (413 for too big a body, 400 for
    too deep a nesting) the page shows. It states the limits so a user knows them first."""
    return render(request, "elections/upload.html", {
        "can_create": request.user.has_perm("elections.add_election"),
        "max_upload_mb": max_body_megabytes(),
        "max_tree_depth": MAX_TREE_DEPTH,
        "api_url": reverse("api-election-list"),
        "dashboard_url": reverse("election-dashboard", args=[0]),
    })
