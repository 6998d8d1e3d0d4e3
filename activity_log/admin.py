from django.contrib import admin

from .models import ActivityEntry


class ReadOnlyAdmin(admin.ModelAdmin):
    """An admin that lists and shows rows but never adds, changes or deletes them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ActivityEntry)
class ActivityEntryAdmin(ReadOnlyAdmin):
    """Read-only: the log is append-only, so nobody adds, changes or deletes here."""

    list_display = ["created_at", "election_id", "election_title", "action", "actor_name",
                    "on_behalf_of_name", "task_id"]
    list_filter = ["action"]
    search_fields = ["election_title", "actor_name", "metadata__task_id"]
    date_hierarchy = "created_at"
