"""Pages that show scheduled work across elections: Upcoming, and each user's calendar.

They live in ``scheduling``, the highest app they need (DESIGN.md), so no import runs back up.
Thin: check who asks, call one selector, render.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from icalendar import Calendar, Event

from accounts.services import (
    calendar_feed_of,
    renew_calendar_feed,
    revoke_calendar_feed,
    user_for_calendar_token,
)
from activity_log.presentation import format_seconds

from .models import Kind, ScheduledEvent, State
from .selectors import (
    ATTENTION_FOR,
    CALENDAR_KEEPS,
    UPCOMING_WINDOWS,
    calendar_events,
    upcoming_for,
)

PAGE_SIZE = 50
WINDOW_LABELS = {"24h": "Next 24 hours", "7d": "Next 7 days", "all": "All"}
VOTING_WHAT = {Kind.START_VOTING: "Voting opens", Kind.END_VOTING: "Voting closes"}


def run_name(event: ScheduledEvent) -> str:
    """The automation's name a run carries in its payload, or ``automation #7``."""
    automation = (event.payload or {}).get("automation") or {}
    return str(automation.get("name") or f"automation #{event.automation_id}")


@dataclass
class UpcomingRow:
    event: ScheduledEvent
    what: str           # "Voting opens", "Run of “Remind voters”"
    flag: str           # "Late", "Failed", "Skipped" or "" (shown in red, on top)
    note: str           # why it is flagged, in words; "Turned off" for a pending run that is off


def upcoming_row(event: ScheduledEvent, now: datetime) -> UpcomingRow:
    what = VOTING_WHAT.get(event.kind) or f"Run of \u201c{run_name(event)}\u201d"
    flag, note = "", ""
    if event.needs_attention and event.state == State.PENDING:
        late_by = format_seconds((now - event.event_at).total_seconds())
        flag, note = "Late", f"due {late_by} ago, still pending"
    elif event.needs_attention:
        flag, note = event.get_state_display().capitalize(), event.reason
    if event.state == State.PENDING and not event.enabled:
        note = "Turned off: it will be skipped" + (f"; {note}" if note else "")
    return UpcomingRow(event, what, flag, note)


@login_required
def upcoming(request):
    """Everything scheduled across the elections the user may view: late, failed and skipped on
    top (in red), then voting events and automation runs by time, in the next 24 h, 7 days or all."""
    within = request.GET.get("within")
    within = within if within in UPCOMING_WINDOWS else "7d"
    now = timezone.now()
    rows = upcoming_for(request.user, within=UPCOMING_WINDOWS[within], now=now)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "scheduling/upcoming.html", {
        "page": page, "rows": [upcoming_row(event, now) for event in page.object_list],
        "within": within, "windows": WINDOW_LABELS.items(), "filter_query": f"within={within}",
        "attention_days": ATTENTION_FOR.days, "now": now,
    })


# --- each user's calendar ------------------------------------------------------------------------

#: How often calendars are asked to refresh (a hint; most poll on their own schedule).
CALENDAR_REFRESH = timedelta(minutes=15)
#: What each state of a row says in a calendar: (STATUS, word before the summary).
CALENDAR_STATUS = {
    State.PENDING: ("CONFIRMED", ""), State.DONE: ("CONFIRMED", ""),
    State.SKIPPED: ("CONFIRMED", "Skipped: "), State.FAILED: ("CONFIRMED", "Failed: "),
    State.SUPERSEDED: ("CANCELLED", ""), State.CANCELLED: ("CANCELLED", ""),
}


@never_cache
@login_required
def my_calendar(request):
    """Make, renew or revoke the user's private calendar URL. The URL is shown once, in the answer
    to the POST that made it (only a hash of its token is kept); a POST without CSRF is refused."""
    new_url = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            if revoke_calendar_feed(request.user):
                messages.success(request, "Your calendar URL was revoked: calendars that use it "
                                          "get nothing more.")
            else:
                messages.info(request, "Nothing changed: you had no calendar URL.")
            return redirect("my-calendar")
        if request.POST.get("action") == "renew":
            token = renew_calendar_feed(request.user)
            new_url = request.build_absolute_uri(reverse("calendar-feed", args=[token]))
    return render(request, "scheduling/calendar.html", {
        "feed": calendar_feed_of(request.user), "new_url": new_url, "keeps_days": CALENDAR_KEEPS.days,
    })


@require_GET
def calendar_feed(request, token: str):
    """The iCalendar feed of the user whose URL carries ``token``; no session needed, 404 when the
    token is unknown, revoked or renewed since. Voting events have one ``UID`` per (election, kind),
    so a rescheduled start moves in the calendar; a run's ``UID`` is its task id."""
    user = user_for_calendar_token(token)
    if user is None:
        raise Http404("No such calendar.")
    calendar = Calendar()
    calendar.add("prodid", "-//Election scheduler//Calendar feed//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"Elections ({user.get_username()})")
    calendar.add("refresh-interval", CALENDAR_REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT15M")  # the same, for calendars that read only this one
    for row in calendar_events(user, now=timezone.now()):
        calendar.add_component(calendar_event(request, row))
    response = HttpResponse(calendar.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="elections.ics"'
    response["Cache-Control"] = "private, no-cache"  # changes show on the next refresh
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


def calendar_uid(row: ScheduledEvent) -> str:
    """``election-12-start_voting@election-scheduler`` (one per election and kind: a reschedule makes a
    new row with a new task id, and the calendar must move the event, not add one);
    ``run-<task id>@election-scheduler`` for a run."""
    if row.kind in Kind.VOTING:
        return f"election-{row.election_id}-{row.kind}@election-scheduler"
    return f"run-{row.task_id}@election-scheduler"


def calendar_event(request, row: ScheduledEvent) -> Event:
    title = row.election.title if row.election else (
        "all elections" if row.election_id is None else f"deleted election #{row.election_id}")
    status, prefix = CALENDAR_STATUS[row.state]
    what = VOTING_WHAT.get(row.kind) or f"Run of \u201c{run_name(row)}\u201d"
    changed_at = row.finished_at or row.created_at
    event = Event()
    event.add("uid", calendar_uid(row))
    event.add("sequence", row.revision)
    event.add("dtstamp", changed_at)
    event.add("last-modified", changed_at)
    event.add("dtstart", row.event_at)  # no end: a moment (RFC 5545 3.6.1)
    event.add("summary", f"{prefix}{what}: {title}")
    event.add("status", status)
    event.add("transp", "TRANSPARENT")
    lines = [f"{what} for {title}, {row.get_state_display()}."]
    if row.reason:
        lines.append(row.reason)
    if row.election:
        url = request.build_absolute_uri(reverse("election-dashboard", args=[row.election_id]))
        event.add("url", url)
        lines.append(url)
    event.add("description", "\n".join(lines))
    return event
