"""Pages of automations: the dashboard panel as a fragment, for the panel's script to refresh."""

from django.shortcuts import render
from django.views.decorators.cache import never_cache

from elections.access import election_for
from elections.models import Permission
from elections.views import json_login_required


@never_cache
@json_login_required
def panel_fragment(request, pk: int):
    """The "Reminders and automations" panel of the election (view grant), as on the dashboard."""
    election = election_for(request.user, pk, Permission.VIEW)
    return render(request, "automations/_panel.html", {"election": election})
