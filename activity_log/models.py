"""ActivityEntry: one append-only row per change or execution.

The log outlives what it describes: it keeps the election id and title and the
actor's username as plain values, so deleting an election or a user removes
nothing from it. Rows are never updated or deleted: the model, its queryset
and (on PostgreSQL) a trigger all refuse.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete an activity entry."""


class Action(models.TextChoices):
    # --- automations (issue 12, branch auto-app): the rules themselves; their runs log with
    # the run_* actions of the run engine (scheduling/runs.py).
    AUTOMATION_CREATED = "automation_created", "automation created"
    AUTOMATION_CHANGED = "automation_changed", "automation changed"
    AUTOMATION_DELETED = "automation_deleted", "automation deleted"
    AUTOMATION_RUNS_MISSED = "automation_runs_missed", "automation runs missed"
    # --- end automations
    ELECTION_CREATED = "election_created", "election created"
    ELECTION_DELETED = "election_deleted", "election deleted"
    STATUS_CHANGED = "status_changed", "status changed"
    EVENT_SCHEDULED = "event_scheduled", "event scheduled"
    EVENT_REVOKED = "event_revoked", "event revoked"
    EVENT_DISPATCHED = "event_dispatched", "event published again"
    EVENT_EXECUTED = "event_executed", "event executed"
    EVENT_SKIPPED = "event_skipped", "event skipped"
    EVENT_FAILED = "event_failed", "event failed"
    TASK_DISCARDED = "task_discarded", "task discarded"
    # Runs of automations (scheduling/runs.py): the same states as events, their own words.
    RUN_SCHEDULED = "run_scheduled", "run scheduled"
    RUN_SUPERSEDED = "run_superseded", "run replaced"
    RUN_CANCELLED = "run_cancelled", "run cancelled"
    RUN_TURNED_OFF = "run_turned_off", "run turned off"
    RUN_TURNED_ON = "run_turned_on", "run turned on"
    RUN_EXECUTED = "run_executed", "run executed"
    RUN_SKIPPED = "run_skipped", "run skipped"
    RUN_FAILED = "run_failed", "run failed"


class ActivityEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("The activity log is append-only: rows cannot be updated.")

    def delete(self):
        raise AppendOnlyError("The activity log is append-only: rows cannot be deleted.")

    update.queryset_only = True
    delete.queryset_only = True


class ActivityEntry(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    election_id = models.BigIntegerField()  # indexed by activity_election_recent
    election_title = models.CharField(max_length=200)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        help_text="Who acted; empty when the system acted (see on_behalf_of).",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        help_text="For system actions: the user who scheduled what the system did.",
    )
    on_behalf_of_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    metadata = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)

    objects = ActivityEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["election_id", "-created_at"], name="activity_election_recent")]
        verbose_name_plural = "activity entries"

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} election={self.election_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("The activity log is append-only: rows cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("The activity log is append-only: rows cannot be deleted.")

    @property
    def task_id(self) -> str | None:
        return self.metadata.get("task_id")
