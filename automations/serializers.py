"""Output serializers (and request shapes for the OpenAPI schema) of the automations API."""

from datetime import UTC

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from scheduling.models import ScheduledEvent

from .models import Automation


class RecipientsSerializer(serializers.Serializer):
    users = serializers.ListField(child=serializers.CharField(), required=False,
                                  help_text="Usernames or e-mail addresses of accounts.")
    groups = serializers.ListField(child=serializers.CharField(), required=False)
    grants = serializers.ListField(child=serializers.ChoiceField(["view", "schedule-events", "edit"]),
                                   required=False)
    include_inactive_users = serializers.BooleanField(required=False)
    include_inactivated_users = serializers.BooleanField(required=False)
    only_inactive_users = serializers.BooleanField(required=False)
    only_inactivated_users = serializers.BooleanField(required=False)


WHEN_HELP = ('Exactly one of {"at": instant}, {"cron_rule", "timezone"?, "until"?, "catch_up"?}, '
             '{"before": "end_voting", "offset": "PT24H"}, {"after": event, "delay": "PT1H"}, '
             '{"on": event}; see docs/automations.md.')
OPERATIONS_HELP = ('Operation name -> parameters, run in this order, e.g. '
                   '{"send_email": {"template": "voting-closes-soon"}}.')


class AutomationInSerializer(serializers.Serializer):
    """What a client sends (documentation; ``automations.validation`` is the validator)."""

    name = serializers.CharField(max_length=200)
    active = serializers.BooleanField(required=False, default=True)
    when = serializers.DictField(help_text=WHEN_HELP)
    operations = serializers.DictField(child=serializers.DictField(), help_text=OPERATIONS_HELP)
    recipients = RecipientsSerializer(required=False)


class AutomationSerializer(serializers.ModelSerializer):
    """An automation as the API shows it; ``recipients`` only to who may change it."""

    next_run_at = serializers.SerializerMethodField()
    when = serializers.DictField(help_text=WHEN_HELP)
    operations = serializers.DictField(help_text=OPERATIONS_HELP)
    recipients = RecipientsSerializer(required=False, help_text=(
        "Shown only to callers with the schedule-events grant (superusers for global automations)."))

    class Meta:
        model = Automation
        fields = ["id", "uid", "election", "name", "active", "when", "operations", "recipients",
                  "next_run_at", "revision", "created_at", "updated_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_run_at(self, automation):
        value = getattr(automation, "next_run_at", None)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("show_recipients", False):
            data.pop("recipients", None)
        return data


class RunSerializer(serializers.ModelSerializer):
    """One run of an automation: pending (with its on/off switch) or what became of it."""

    run_at = serializers.DateTimeField(source="event_at")
    lateness_seconds = serializers.SerializerMethodField()
    subject_user = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    toggled_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    result = serializers.JSONField(allow_null=True)

    class Meta:
        model = ScheduledEvent
        fields = ["id", "task_id", "state", "enabled", "run_at", "election", "subject_user",
                  "toggled_by", "executed_at", "lateness_seconds", "finished_at", "reason",
                  "result", "created_at"]
        read_only_fields = fields

    def get_lateness_seconds(self, run) -> float | None:
        return run.lateness.total_seconds() if run.lateness is not None else None


class RunPatchSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="false turns the pending run off; true back on.")


class PreviewInSerializer(serializers.Serializer):
    when = serializers.DictField(help_text=WHEN_HELP)
    election = serializers.IntegerField(required=False, allow_null=True,
                                        help_text="For its zone and anchor events; you need view on it.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField(required=False,
                                                   help_text="Count from here (default: now).")
        fields["timezone"] = serializers.CharField(required=False, help_text=(
            "IANA zone to read a rule that is not a cron rule in (default: the election's)."))
        return fields


class PreviewRunSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    local = serializers.CharField(help_text="The same instant on the zone's wall clock, with its offset.")
    note = serializers.CharField(required=False, help_text="How a DST change moved or dropped this run.")


class PreviewOutSerializer(serializers.Serializer):
    next = PreviewRunSerializer(many=True)
    description = serializers.CharField()
    warnings = serializers.ListField(child=serializers.CharField())
    timezone = serializers.CharField(help_text="The zone of ``local``: the cron rule's, else the reader's.")


class RecipientSuggestionsSerializer(serializers.Serializer):
    users = serializers.ListField(child=serializers.CharField(), help_text="Usernames, at most 10.")
    groups = serializers.ListField(child=serializers.CharField(), help_text="Group names, at most 10.")
