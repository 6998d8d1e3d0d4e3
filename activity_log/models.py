"""ActivityEntry: one append-only row per change or execution.

The log outlives what it describes: it keeps the election id and title and the
actor's username as plain values, so deleting an election or a user removes
nothing from it, and the tree it belonged to (``root_id``, ``tree_path``), so a
parent's log still shows a deleted child's history.

Rows are never updated or deleted: the model and its queryset refuse, and
database triggers (migration 0006) refuse UPDATE, DELETE and TRUNCATE on
SQLite and PostgreSQL. A database owner can still drop the triggers; the seal
chain (``ActivitySeal``, written afterwards by ``activity_log.sealing``) is what
detects a rewrite of a sealed row after that (``manage.py verify_activity_log``).
Writers never touch the seals: appending takes no lock beyond the insert.
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
    ELECTION_EDITED = "election_edited", "election edited"
    GRANT_ADDED = "grant_added", "access granted"
    GRANT_CHANGED = "grant_changed", "access changed"
    GRANT_REMOVED = "grant_removed", "access removed"
    # Runs of automations (scheduling/runs.py): the same states as events, their own words.
    RUN_SCHEDULED = "run_scheduled", "run scheduled"
    RUN_SUPERSEDED = "run_superseded", "run replaced"
    RUN_CANCELLED = "run_cancelled", "run cancelled"
    RUN_TURNED_OFF = "run_turned_off", "run turned off"
    RUN_TURNED_ON = "run_turned_on", "run turned on"
    RUN_EXECUTED = "run_executed", "run executed"
    RUN_SKIPPED = "run_skipped", "run skipped"
    RUN_FAILED = "run_failed", "run failed"
    EMAILS_QUEUED = "emails_queued", "emails queued"
    EMAIL_FAILED = "email_failed", "email failed"
    EMAILS_STOPPED = "emails_stopped", "emails stopped by their recipient"
    EMAILS_RESUMED = "emails_resumed", "emails resumed by their recipient"


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
        db_index=False,  # nothing reads the log by person; an index would cost every insert
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
        db_index=False,
        related_name="+",
        help_text="For system actions: the user who scheduled what the system did.",
    )
    on_behalf_of_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    metadata = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)
    root_id = models.BigIntegerField(
        default=0, help_text="The top-level election of the tree the election was in when written.")
    tree_path = models.TextField(
        default="", blank=True,
        help_text="Ids from the root down to the election, e.g. /1/5/9/: a prefix selects a subtree.")

    objects = ActivityEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["election_id", "-created_at"], name="activity_election_recent"),
                   models.Index(fields=["root_id", "-created_at"], name="activity_tree_recent")]
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


class ActivitySeal(models.Model):
    """One link of the seal chain: entry ``entry_id`` was sealed as number ``seq``.

    ``entry_hash`` is sha256 of the entry's content as the sealer read it after commit;
    ``hash`` covers the previous seal's ``hash``, ``seq``, ``entry_id`` and ``entry_hash``
    (``activity_log.chain``). The chain's order is the order of sealing, not of ids: an
    entry whose transaction committed late is sealed by a later run. Written only by
    the sealer; append-only like the entries (triggers, migration 0007).
    """

    seq = models.BigIntegerField(unique=True)
    entry_id = models.BigIntegerField(unique=True)
    entry_hash = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = ActivityEntryQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]

    def __str__(self):
        return f"seal {self.seq}: entry {self.entry_id} {self.hash[:12]}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("The seal chain is append-only: seals cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("The seal chain is append-only: seals cannot be deleted.")


class SealHead(models.Model):
    """One row that only sealers lock (never a writer of the log): the chain's end
    (``last_seq``, ``last_hash``) and ``watermark``, the id up to which every entry
    that committed in time is sealed. It may be updated, not deleted (triggers).
    """

    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)
    watermark = models.BigIntegerField(
        default=0, help_text="Entries with a larger id are looked at by the next sealing run.")
    sealed_at = models.DateTimeField(null=True, blank=True, help_text="The last run that sealed something.")

    class Meta:
        verbose_name = "activity seal head"

    def __str__(self):
        return f"seal head {self.last_seq} {self.last_hash[:12]}"
