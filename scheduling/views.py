"""Pages that show scheduled work across elections: Upcoming, and each user's calendar.

They live in ``scheduling``, the highest app they need (DESIGN.md), so no import runs back up.
Thin: check who asks, call one selector, render.
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone

from activity_log.presentation import format_seconds

from .models import Kind, ScheduledEvent, State
from .selectors import ATTENTION_FOR, UPCOMING_WINDOWS, upcoming_for

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
