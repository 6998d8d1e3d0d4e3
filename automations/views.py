"""Pages of automations: the dashboard panel as a fragment, for the panel's script to refresh."""

import hashlib

from django.http import HttpResponseNotModified
from django.shortcuts import render

from elections.access import election_for
from elections.models import Permission
from elections.views import json_login_required


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
