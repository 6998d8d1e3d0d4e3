from rest_framework import serializers

from .models import ActivityEntry


class ActivityEntrySerializer(serializers.ModelSerializer):
    election = serializers.IntegerField(source="election_id", read_only=True)
    actor = serializers.SerializerMethodField()
    on_behalf_of = serializers.SerializerMethodField()

    class Meta:
        model = ActivityEntry
        fields = ["id", "created_at", "election", "election_title", "actor", "on_behalf_of",
                  "action", "metadata"]
        read_only_fields = fields

    def get_actor(self, entry) -> str | None:
        """The username, or null when the system acted."""
        return entry.actor_name or None

    def get_on_behalf_of(self, entry) -> str | None:
        return entry.on_behalf_of_name or None
