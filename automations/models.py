"""Automation: a rule (when, operations, recipients) of one election, or global.

Its runs are ``scheduling.ScheduledEvent`` rows of kind ``automation`` (one table for
all due work, docs/automations.md); the rule keeps only what a person wrote, in
canonical form, and a ``revision`` that every change of what it does increments, so
a run's deterministic task id never repeats an old one.
"""

import uuid

from django.conf import settings
from django.db import models

from elections.models import Election

#: The most automations one election may have.
MAX_PER_ELECTION = 100


class Automation(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Null for a global automation. Deleting an election deletes its automations (their
    # pending runs are cancelled with the election's events, the runs' history stays).
    election = models.ForeignKey(Election, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="automations")
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    when = models.JSONField(help_text="Canonical `when` (automations.when.parse_when).")
    operations = models.JSONField(help_text="Canonical operations, in the order they run.")
    recipients = models.JSONField(default=dict, blank=True)
    revision = models.PositiveIntegerField(default=1, help_text="Incremented by every change.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["election", "active"], name="automation_by_election")]

    def __str__(self):
        return f"{self.name} ({f'election #{self.election_id}' if self.election_id else 'global'})"

    @property
    def scope(self) -> str:
        return "election" if self.election_id else "global"
