"""Filters for the pages: times in the page's zone for people (``{% moment %}``), ISO 8601 for
machines, durations, stored sentences in a person's words."""

import re
from datetime import UTC, datetime

from django import template
from django.utils.html import format_html

from activity_log.presentation import format_seconds, format_time, format_utc, short_task_id
from config import zones
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


_UUID = re.compile(r"\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)
_ISO = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})")
#: a time some code stored already in words, ``12 Sep 2026 09:26 UTC`` (a weekday before it or not)
_UTC_WORDS = re.compile(r"\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) )?"
                        r"(\d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}(?::\d{2})?) UTC\b")
_WORDS = [
    (re.compile(r"\bnotstarted\b"), "not started"),
    (re.compile(r"\bstart_voting\b"), "voting opens"),
    (re.compile(r"\bend_voting\b"), "voting closes"),
    (re.compile(r"\bevent_at\b"), "time"),
    (re.compile(r"\b[Ss]end null to clear (it|the end of voting)\b"), "cancel it"),
]


def _iso_words(match, zone: str | None) -> str:
    try:
        return format_time(datetime.fromisoformat(match.group(0).replace("Z", "+00:00")), zone)
    except ValueError:
        return match.group(0)


def _utc_words(match, zone: str) -> str:
    try:
        moment = datetime.strptime(match.group(1), "%d %b %Y %H:%M:%S" if match.group(1).count(":") == 2
                                   else "%d %b %Y %H:%M").replace(tzinfo=UTC)
    except ValueError:
        return match.group(0)
    return format_time(moment, zone)


@register.filter
def plain_words(value, zone: str | None = None) -> str:
    """A stored sentence or reason in a person's words: ``notstarted`` -> ``not started``, kinds as
    words, task ids shortened (the Task column and the task button hold the full id), and instants
    (ISO, or stored as ``12 Sep 2026 09:26 UTC``) in the page's ``zone`` (``{{ text|plain_words:zone }}``;
    without one, in UTC). Plain text in, plain text out: the template escapes it."""
    text = str(value or "")
    for pattern, words in _WORDS:
        text = pattern.sub(words, text)
    text = _ISO.sub(lambda match: _iso_words(match, zone), text)
    if zone:
        text = _UTC_WORDS.sub(lambda match: _utc_words(match, zone), text)
    return _UUID.sub(lambda m: f"{m.group(1)}…", text)


KIND_PHRASES = {"start_voting": "Voting opens", "end_voting": "Voting closes"}


@register.filter
def kind_phrase(kind) -> str:
    """``start_voting`` -> ``Voting opens``: what a person calls the event."""
    return KIND_PHRASES.get(str(kind), str(kind))


@register.filter
def thousands(value) -> str:
    """``20000`` -> ``20,000``."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


@register.simple_tag(takes_context=True)
def can_edit(context, election) -> bool:
    """``{% can_edit election as editable %}``: whether the page's user holds edit on it."""
    return selectors.user_can(context["request"].user, election, "edit")


@register.simple_tag(takes_context=True)
def page_zone(context, election=None) -> str:
    """``{% page_zone election as zone %}``: the zone this page shows times in (see config.zones)."""
    request = context.get("request")
    return zones.display_zone(getattr(request, "user", None), election)


@register.simple_tag(takes_context=True)
def moment(context, value, election=None):
    """``{% moment value election %}``: a ``<time>`` in the page's zone, named, with UTC on hover.

    ``data-zone`` tells the page's scripts which zone to re-render it in; '' for None."""
    if value is None:
        return ""
    zone = page_zone(context, election)
    return format_html('<time datetime="{}" title="{}" data-zone="{}">{}</time>',
                       iso(value), format_utc(value), zone, zones.format_in_zone(value, zone))
