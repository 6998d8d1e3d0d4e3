from django.contrib import admin

from activity_log.admin import ReadOnlyAdmin

from .models import Automation


@admin.register(Automation)
class AutomationAdmin(ReadOnlyAdmin):
    """Read-only: automations change through the API, which validates them and plans their runs."""

    list_display = ["id", "name", "election_id", "active", "revision", "updated_at"]
    list_filter = ["active"]
    search_fields = ["name", "uid"]
