"""Admin for elections and grants. Status changes and deletion go through the services;
edits of titles, descriptions and grants are logged (activity_log.services)."""

from django.contrib import admin

from activity_log.services import GrantRef, record_election_edit, record_grant_change

from .models import Election, ElectionGrant

#: The election fields the admin may edit, logged with their old and new values.
EDITABLE = ("title", "description", "time_zone")


def _grant_refs(grants) -> dict[int, GrantRef]:
    return {g.pk: GrantRef(g.election, g.user, g.permission)
            for g in grants.select_related("election", "user")}


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

    def save_model(self, request, obj, form, change):
        """Save, and log the title/description change (the admin runs this in one transaction)."""
        before = Election.objects.filter(pk=obj.pk).values(*EDITABLE).first() or {}
        super().save_model(request, obj, form, change)
        record_election_edit(obj, actor=request.user, before=before,
                             after={name: getattr(obj, name) for name in EDITABLE})

    def save_formset(self, request, form, formset, change):
        """Save the grants, and log each one added, changed or removed."""
        if formset.model is not ElectionGrant:
            return super().save_formset(request, form, formset, change)
        before = _grant_refs(ElectionGrant.objects.filter(election=form.instance))
        super().save_formset(request, form, formset, change)
        after = _grant_refs(ElectionGrant.objects.filter(election=form.instance))
        for pk in sorted(before.keys() | after.keys()):
            record_grant_change(actor=request.user, before=before.get(pk), after=after.get(pk))

    def delete_model(self, request, obj):
        from scheduling.configuring import delete_election

        delete_election(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for election in queryset.order_by("pk"):  # parents first; their children go with them
            if Election.objects.filter(pk=election.pk).exists():
                self.delete_model(request, election)


@admin.register(ElectionGrant)
class ElectionGrantAdmin(admin.ModelAdmin):
    """Grants edited one by one; each add, change and delete is logged on its election."""

    list_display = ["user", "election", "permission", "created_at"]
    list_filter = ["permission"]
    autocomplete_fields = ["user", "election"]
    search_fields = ["user__username", "election__title"]

    def save_model(self, request, obj, form, change):
        before = _grant_refs(ElectionGrant.objects.filter(pk=obj.pk)).get(obj.pk) if obj.pk else None
        super().save_model(request, obj, form, change)
        record_grant_change(actor=request.user, before=before,
                            after=GrantRef(obj.election, obj.user, obj.permission))

    def delete_model(self, request, obj):
        before = _grant_refs(ElectionGrant.objects.filter(pk=obj.pk)).get(obj.pk)
        super().delete_model(request, obj)
        record_grant_change(actor=request.user, before=before, after=None)

    def delete_queryset(self, request, queryset):
        for grant in queryset.order_by("pk"):
            self.delete_model(request, grant)
