from django.contrib import admin

from activity_log.admin import ReadOnlyAdmin

from .models import ScheduledEvent


@admin.register(ScheduledEvent)
class ScheduledEventAdmin(ReadOnlyAdmin):
    """Read-only history: schedules change through the dashboard or the API."""

    list_display = ["id", "election_id", "kind", "event_at", "state", "task_id", "executed_at", "lateness"]
    list_filter = ["state", "kind"]
    search_fields = ["task_id"]
    date_hierarchy = "event_at"
