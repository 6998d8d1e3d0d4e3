"""Admin for elections and grants. Status changes and deletion go through the services."""

from django.contrib import admin

from .models import Election, ElectionGrant


class GrantInline(admin.TabularInline):
    model = ElectionGrant
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Election)
class ElectionAdmin(admin.ModelAdmin):
    """Titles, descriptions and grants are edited here; statuses only through the app,
    so every change is logged and pending events are cancelled as the rules say."""

    list_display = ["id", "title", "status", "parent", "created_by", "updated_at"]
    list_filter = ["status"]
    search_fields = ["title"]
    readonly_fields = ["status", "parent", "created_by", "created_at", "updated_at"]
    inlines = [GrantInline]

    def has_add_permission(self, request):
        return False  # created through the API or the upload page, with their log rows

    def delete_model(self, request, obj):
        from scheduling.configuring import delete_election

        delete_election(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for election in queryset.order_by("pk"):  # parents first; their children go with them
            if Election.objects.filter(pk=election.pk).exists():
                self.delete_model(request, election)


@admin.register(ElectionGrant)
class ElectionGrantAdmin(admin.ModelAdmin):
    list_display = ["user", "election", "permission", "created_at"]
    list_filter = ["permission"]
    autocomplete_fields = ["user", "election"]
    search_fields = ["user__username", "election__title"]
