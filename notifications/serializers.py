"""Shapes of the email API."""

from rest_framework import serializers

from .models import EmailTemplate, OutboxMessage


class EmailTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmailTemplate
        fields = ["name", "subject", "text", "html", "updated_at"]
        read_only_fields = ["name", "updated_at"]


class TemplateInSerializer(serializers.Serializer):
    """PUT body: every part; ``html`` may be empty."""

    subject = serializers.CharField(max_length=300)
    text = serializers.CharField(trim_whitespace=False)
    html = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)


class PreviewInSerializer(serializers.Serializer):
    """The election to render for; ``subject``/``text``/``html`` to preview an edit before saving it."""

    election = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False, allow_null=True,
                                        help_text="The election to render the template for "
                                                  "(left out or null: a message about no election).")
    subject = serializers.CharField(required=False, max_length=300,
                                    help_text="Unsaved subject (needs the change permission).")
    text = serializers.CharField(required=False, trim_whitespace=False,
                                 help_text="Unsaved text (needs the change permission).")
    html = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False,
                                 help_text="Unsaved HTML (needs the change permission).")


class RenderedSerializer(serializers.Serializer):
    subject = serializers.CharField()
    text = serializers.CharField()
    html = serializers.CharField()


class OutboxMessageSerializer(serializers.ModelSerializer):
    recipient = serializers.SerializerMethodField()

    class Meta:
        model = OutboxMessage
        fields = ["id", "election_id", "cause", "cause_label", "template_name", "recipient", "address",
                  "subject", "message_id", "state", "attempts", "next_attempt_at", "created_at",
                  "last_attempt_at", "sent_at", "error"]
        read_only_fields = fields

    def get_recipient(self, message) -> str:
        return message.recipient.get_username() if message.recipient else ""
