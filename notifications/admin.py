from django import forms
from django.contrib import admin

from activity_log.admin import ReadOnlyAdmin
from elections.errors import InvalidInput

from . import rendering
from .models import EmailTemplate, OutboxMessage, Unsubscribe


class EmailTemplateForm(forms.ModelForm):
    """The same check as the API: a template that does not render is refused, naming the line."""

    class Meta:
        model = EmailTemplate
        fields = ["subject", "text", "html"]

    def clean(self):
        data = super().clean()
        try:
            rendering.check(data.get("subject", ""), data.get("text", ""), data.get("html", ""))
        except InvalidInput as exc:
            for field, messages in exc.detail.items():
                self.add_error(field, messages)
        return data


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    form = EmailTemplateForm
    list_display = ["name", "subject", "updated_at", "updated_by"]

    def has_add_permission(self, request):
        return False  # the set of templates is fixed: automations refer to them by name

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    """Read-only: the outbox is written by the decision to send and by delivery."""

    list_display = ["id", "created_at", "address", "subject", "state", "attempts", "sent_at"]
    list_filter = ["state", "template_name"]
    search_fields = ["address", "message_id", "cause"]


@admin.register(Unsubscribe)
class UnsubscribeAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "scope", "created_at", "undone_at"]
