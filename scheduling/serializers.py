from rest_framework import serializers

from .models import ScheduledEvent


class EventHistorySerializer(serializers.ModelSerializer):
    scheduled_by = serializers.SerializerMethodField()
    lateness_seconds = serializers.SerializerMethodField()

    class Meta:
        model = ScheduledEvent
        fields = ["id", "kind", "event_at", "task_id", "state", "scheduled_by", "created_at",
                  "dispatched_at", "dispatch_count", "executed_at", "lateness_seconds",
                  "finished_at", "reason"]
        read_only_fields = fields

    def get_scheduled_by(self, event) -> str | None:
        return event.scheduled_by.username if event.scheduled_by else None

    def get_lateness_seconds(self, event) -> float | None:
        return None if event.lateness is None else round(event.lateness.total_seconds(), 6)
