"""Output serializers (and request shapes for the OpenAPI schema) of the election API."""

from datetime import UTC

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from scheduling.models import Kind

from .models import Election


class EventOutSerializer(serializers.Serializer):
    event_at = serializers.DateTimeField()
    task_id = serializers.CharField()
    state = serializers.CharField()


class ScheduledEventsOutSerializer(serializers.Serializer):
    """The shape ``events_payload`` builds, for the OpenAPI schema."""

    start_voting = EventOutSerializer(allow_null=True)
    end_voting = EventOutSerializer(allow_null=True)


def events_payload(pending: dict) -> dict:
    """``{kind: {"event_at", "task_id", "state"} | None}`` for both kinds, ready to render.

    Built by hand, not by ``ScheduledEventsOutSerializer``: the same JSON (DRF renders
    an aware UTC datetime as ISO 8601 with ``Z``) for a ninth of the instructions
    (0.1 M against 0.93 M), on the API's most frequent request.
    """
    return {
        kind: None if event is None else {
            "event_at": event.event_at.astimezone(UTC), "task_id": event.task_id,
            "state": str(event.state),
        }
        for kind, event in ((k, pending.get(k)) for k in ("start_voting", "end_voting"))
    }


class ElectionSerializer(serializers.ModelSerializer):
    children = serializers.SerializerMethodField()
    scheduled_events = serializers.SerializerMethodField()

    class Meta:
        model = Election
        fields = ["id", "title", "description", "status", "parent", "children",
                  "scheduled_events", "created_at", "updated_at"]
        read_only_fields = fields

    def get_children(self, election) -> list[int]:
        return [child.pk for child in election.children.all()]

    @extend_schema_field(ScheduledEventsOutSerializer)
    def get_scheduled_events(self, election) -> dict:
        pending = getattr(election, "pending_events", None)
        if pending is None:
            pending = election.scheduled_events.filter(state="pending", kind__in=Kind.VOTING)
        return events_payload({e.kind: e for e in pending})


class EventInSerializer(serializers.Serializer):
    """Documentation of what a client sends for one kind; the server sets task_id and state."""

    event_at = serializers.DateTimeField(help_text="ISO 8601 with a UTC offset, e.g. 2026-09-12T09:26:00Z")


class ScheduledEventsInSerializer(serializers.Serializer):
    start_voting = EventInSerializer(required=False, allow_null=True)
    end_voting = EventInSerializer(required=False, allow_null=True)


class ElectionConfigSerializer(serializers.Serializer):
    """Documentation of an election's JSON configuration (POST /api/elections/)."""

    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    parent = serializers.IntegerField(required=False, allow_null=True)
    children = serializers.ListField(child=serializers.DictField(), required=False,
                                     help_text="Nested election configurations, without parent.")
    scheduled_events = ScheduledEventsInSerializer(required=False, allow_null=True)
