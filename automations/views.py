"""Pages of automations: the dashboard panel as a fragment, for the panel's script to refresh,
and the global automations. Writes go through the REST API from the rule editor
(templates/automations/_editor.html)."""

import hashlib

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotModified
from django.shortcuts import render

from config import zones
from elections.access import election_for
from elections.models import Permission
from elections.views import json_login_required

from . import presentation, selectors


@json_login_required
def panel_fragment(request, pk: int):
    """The "Reminders and automations" panel of the election (view grant), as on the dashboard.

    With an ``ETag``: the browser asks again with ``If-None-Match`` and an unchanged panel is a
    304 (the panel's script asks every few seconds)."""
    election = election_for(request.user, pk, Permission.VIEW)
    response = render(request, "automations/_panel.html", {"election": election})
    etag = f'"{hashlib.sha256(response.content).hexdigest()[:32]}"'
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"  # asked every time, answered 304 when unchanged
    return response


@login_required
def global_automations(request):
    """The global automations (the daily maintenance, user-event rules) in words with their next
    run, each with an Edit button, and one to add another; superusers only (others: 403, as the
    API of global automations)."""
    if not request.user.is_superuser:
        raise PermissionDenied("Only superusers may see or change global automations.")
    zone = zones.display_zone(request.user)
    rows = [(automation, presentation.automation_sentence(automation, zone=zone, show_recipients=True),
             presentation.no_run_words(automation) or "when it is triggered")
            for automation in selectors.automations_of(None)]
    return render(request, "automations/global.html", {"rows": rows})
