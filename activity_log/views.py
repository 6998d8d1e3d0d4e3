"""The activity-log page: newest first, paginated, filterable by action and by election.

The caller (``elections.views``) checks access and passes the election tree, so
this module does not import ``elections`` (imports point elections -> activity_log).
"""

import csv
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render

from config.input import parse_id
from config.zones import display_zone

from .models import Action
from .presentation import actor_of, describe, present
from .selectors import entries_for, narrowed

PAGE_SIZE = 50


def activity_page(request, *, election, tree: list, template: str = "activity_log/page.html"):
    """Render the log of ``election`` and ``tree`` (it and every descendant, objects with pk and title),
    its times and its day filters in the page's zone (config.zones); the CSV stays in UTC."""
    zone = display_zone(request.user, election)
    tree_ids = [item.pk for item in tree]
    action = request.GET.get("action") or ""
    if action not in Action.values:
        action = ""
    election_filter = request.GET.get("election") or ""
    try:
        election_id = parse_id(election_filter)
    except ValueError:  # not an id (e.g. "²"): show the whole tree
        election_id = None
    if election_id not in tree_ids:
        election_id, election_filter = None, ""
    entries = entries_for(election.pk, action=action or None, election_id=election_id)
    since, until = date_from(request.GET, "from", zone), date_from(request.GET, "to", zone)  # whole days
    task_id = task_filter(request.GET)
    entries = narrowed(entries, since=since, until=day_after(until) if until else None, task_id=task_id)
    if request.GET.get("format") == "csv":
        return activity_csv(entries, election)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, template, {
        "election": election,
        "tree": tree,
        "actions": Action.choices,
        "selected_action": action,
        "selected_election": str(election_id) if election_id else "",
        "page": page,
        "lines": present(page.object_list, zone),
        "zone": zone,
        "filter_query": query.urlencode(),
        "selected_from": since.date().isoformat() if since else "",
        "selected_to": until.date().isoformat() if until else "",
        "selected_task": task_id,
        # Also when the children are gone: their rows stay, named by title and id.
        "show_election": len(tree) > 1 or any(e.election_id != election.pk for e in page.object_list),
    })


def date_from(query, name: str, zone: str = "UTC") -> datetime | None:
    """The ``YYYY-MM-DD`` in ``query[name]`` as 00:00 that day in ``zone`` (the zone the page shows
    times in); None when absent or not a date (the filter is then not applied, like an unknown election)."""
    try:
        day = date.fromisoformat((query.get(name) or "")[:10])
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone))


def day_after(start: datetime) -> datetime:
    """00:00 the next day in ``start``'s zone (23 or 25 hours later across a change of the clocks)."""
    following = start.date() + timedelta(days=1)
    return datetime(following.year, following.month, following.day, tzinfo=start.tzinfo)


def task_filter(query) -> str:
    """The task id (or its start) to filter by: hex digits and dashes, at most 36; '' otherwise."""
    value = (query.get("task") or "").strip().lower().rstrip("…")
    return value if re.fullmatch(r"[0-9a-f-]{1,36}", value) else ""


class _Echo:
    def write(self, value):
        return value


def _cell(value) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def activity_csv(entries, election) -> StreamingHttpResponse:
    """Every row ``entries`` holds (the page's filters, all pages), as CSV, streamed."""
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(["time_utc", "election_id", "election", "action", "what_happened", "by",
                               "task_id"])
        for entry in entries.iterator(chunk_size=2000):
            yield writer.writerow([_cell(value) for value in (
                entry.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"), entry.election_id,
                entry.election_title, entry.action, describe(entry), actor_of(entry), entry.task_id or "")])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="activity-{election.pk}.csv"'
    return response
