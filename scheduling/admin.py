from django.contrib import admin

from .models import ScheduledEvent


@admin.register(ScheduledEvent)
class ScheduledEventAdmin(admin.ModelAdmin):
    """Read-only history: schedules change through the dashboard or the API."""

    list_display = ["id", "election_id", "kind", "event_at", "state", "task_id", "executed_at", "lateness"]
    list_filter = ["state", "kind"]
    search_fields = ["task_id"]
    date_hierarchy = "event_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
