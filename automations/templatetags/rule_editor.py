"""``{% rule_editor_choices as choices %}``: what the rule editor dialog offers (operations by
scope, events, grants, flags) and the zone of a global rule, from the automations app's own lists."""

from django import template
from django.conf import settings

from automations.presentation import editor_choices

register = template.Library()


@register.simple_tag
def rule_editor_choices() -> dict:
    return {**editor_choices(), "global_zone": settings.TIME_ZONE}
