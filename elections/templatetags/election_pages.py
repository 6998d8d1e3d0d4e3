"""Filters for the pages: times in UTC for people, ISO 8601 for machines, durations."""

from datetime import UTC

from django import template

from activity_log.presentation import format_seconds, format_utc, short_task_id
from elections import selectors

register = template.Library()


@register.filter
def utc(value) -> str:
    """``12 Sep 2026 09:26 UTC``."""
    return format_utc(value)


@register.filter
def short_task(value) -> str:
    """The first characters of a task id and an ellipsis, as the activity log shows it."""
    return short_task_id(value)


@register.filter
def iso(value) -> str:
    """``2026-09-12T09:26:00Z`` for ``<time datetime>`` and scripts; '' for None."""
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@register.filter
def duration(value) -> str:
    """A timedelta as ``0.2 s``, ``3 min 5 s``."""
    if value is None:
        return ""
    return format_seconds(value.total_seconds())


@register.simple_tag(takes_context=True)
def viewable_parent(context, election):
    """``{% viewable_parent election as parent %}``: the parent if the page's user may view it, else None."""
    return selectors.viewable_parent(context["request"].user, election)
