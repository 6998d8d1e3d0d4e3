"""ScheduledEvent: one row per scheduling decision, kept forever as history."""

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from elections.models import Election, StatusAction


class Kind(models.TextChoices):
    START_VOTING = "start_voting", "start of voting"
    END_VOTING = "end_voting", "end of voting"
    AUTOMATION = "automation", "automation run"


#: The kinds that open and close voting: every reader of an election's "scheduled events"
#: filters on these, so runs of automations never show up as voting events.
Kind.VOTING = (Kind.START_VOTING, Kind.END_VOTING)

#: the status action each kind of event performs when it fires
KIND_ACTION = {Kind.START_VOTING: StatusAction.START, Kind.END_VOTING: StatusAction.STOP}


class State(models.TextChoices):
    PENDING = "pending", "pending"
    DONE = "done", "done"
    SKIPPED = "skipped", "skipped"
    FAILED = "failed", "failed"
    SUPERSEDED = "superseded", "superseded"
    CANCELLED = "cancelled", "cancelled"


def new_task_id() -> str:
    return str(uuid.uuid4())


class ScheduledEvent(models.Model):
    # No database constraint: the history outlives a deleted election (its events
    # are cancelled first, in the same transaction). None for a global automation's run.
    election = models.ForeignKey(
        Election, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="scheduled_events",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    event_at = models.DateTimeField(help_text="When the event takes effect (UTC).")
    task_id = models.CharField(max_length=36, unique=True, default=new_task_id, editable=False)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    scheduled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Delivery bookkeeping: the planner publishes the event when next_dispatch_at
    # comes, and again (with backoff) while it stays pending past its time.
    next_dispatch_at = models.DateTimeField()
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_count = models.PositiveIntegerField(default=0)
    executed_at = models.DateTimeField(null=True, blank=True)
    lateness = models.DurationField(null=True, blank=True,
                                    help_text="executed_at minus event_at")
    finished_at = models.DateTimeField(null=True, blank=True,
                                       help_text="When the event left the pending state.")
    reason = models.TextField(blank=True, help_text="Why it did not run, when it did not.")
    # Runs of automations (kind "automation"): scheduling/runs.py. A plain id, no foreign key:
    # scheduling sits below the automations app.
    automation_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
        db_constraint=False, related_name="+", help_text="The user a user-trigger run is about.",
    )
    enabled = models.BooleanField(default=True, db_default=True,
                                  help_text="A pending run turned off is skipped when its time comes.")
    toggled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Who last turned the run off or on.",
    )
    payload = models.JSONField(null=True, blank=True, default=dict, encoder=DjangoJSONEncoder,
                               help_text="What the run does: automation, operations, recipients, catch-up.")
    result = models.JSONField(null=True, blank=True, default=dict, encoder=DjangoJSONEncoder,
                              help_text="The counts after it ran.")
    carried_by = models.CharField(
        max_length=36, blank=True, default="", db_default="",
        help_text="The message that ran this event with its own (a lone message carries the other "
                  "events due), until this event's own message arrives: that one changes nothing, "
                  "without a log row. Cleared then, so a duplicate is logged as ever.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["election", "kind"],
                condition=Q(state="pending", kind__in=["start_voting", "end_voting"]),
                name="one_pending_event_per_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["next_dispatch_at"], condition=Q(state="pending"),
                         name="pending_by_next_dispatch"),
            models.Index(fields=["election", "-created_at"], name="event_history"),
            # An automation's pending runs (each cron rule has one): found without reading
            # its history, which grows by a row per occurrence.
            models.Index(fields=["automation_id"], condition=Q(state="pending"),
                         name="pending_runs_by_automation"),
        ]

    def __str__(self):
        return f"{self.kind} of #{self.election_id} at {self.event_at:%Y-%m-%d %H:%M:%S} ({self.state})"

    @property
    def is_overdue(self) -> bool:
        from django.utils import timezone

        return self.state == State.PENDING and self.event_at < timezone.now()


class PlannerHeartbeat(models.Model):
    """A single row: when the planner last ran, for the health check."""

    last_tick_at = models.DateTimeField()
    published = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"planner tick at {self.last_tick_at:%Y-%m-%d %H:%M:%S} ({self.published} published)"


def event_metadata(event: ScheduledEvent, **extra) -> dict:
    """What every log row about an event says: its kind, time and task id, plus ``extra``."""
    return {"kind": event.kind, "event_at": event.event_at, "task_id": event.task_id, **extra}
