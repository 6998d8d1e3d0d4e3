"""``{% automations_panel election as panel %}``: what the dashboard's automations panel shows."""

from django import template

from config.zones import display_zone
from elections.models import PERMISSION_RANK, Permission
from elections.selectors import user_can

from .. import presentation

register = template.Library()


@register.simple_tag(takes_context=True)
def automations_panel(context, election) -> dict:
    """The panel for the page's user: ``items``, ``past``, ``version`` (see ``presentation.panel``)
    and ``can_write`` (schedule-events: the switches, Edit, Delete, Add, and the recipients)."""
    user = context["request"].user
    rank = getattr(election, "granted_rank", None)  # set by elections.access.election_for
    can_write = (rank >= PERMISSION_RANK[Permission.SCHEDULE_EVENTS] if rank is not None
                 else user_can(user, election, Permission.SCHEDULE_EVENTS))
    return {**presentation.panel(election, zone=display_zone(user, election), show_recipients=can_write),
            "can_write": can_write}
