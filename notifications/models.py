"""Email templates, the outbox (one row per message), unsubscribes and each user's settings."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class EmailTemplate(models.Model):
    """A message in Django's template language; ``name`` is the key automations refer to."""

    name = models.SlugField(max_length=64, unique=True)
    subject = models.CharField(max_length=300)
    text = models.TextField(help_text="Plain-text body.")
    html = models.TextField(blank=True, help_text="Optional HTML body (autoescaped).")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class MessageState(models.TextChoices):
    QUEUED = "queued", "queued"
    SENDING = "sending", "sending"
    SENT = "sent", "sent"
    FAILED = "failed", "failed"


class OutboxMessage(models.Model):
    """One email to one person, written in the transaction that decided to send it.

    ``cause`` names that decision (an automation run, an alert incident); with the
    recipient it is unique, so a retried decision never queues a person twice.
    ``next_attempt_at`` is when the sweep next looks at the row: a retry's time for
    ``queued``, the end of the worker's claim for ``sending``.
    """

    cause = models.CharField(max_length=200)
    cause_label = models.CharField(max_length=200, blank=True)
    template_name = models.CharField(max_length=64)
    election_id = models.BigIntegerField(null=True, blank=True)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+")
    address = models.CharField(max_length=254)
    from_address = models.CharField(max_length=300)
    subject = models.CharField(max_length=998)
    text = models.TextField()
    html = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True, help_text="Extra headers, e.g. List-Unsubscribe.")
    message_id = models.CharField(max_length=200, unique=True)
    state = models.CharField(max_length=8, choices=MessageState.choices, default=MessageState.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    publishes = models.PositiveIntegerField(default=1, help_text="Delivery tasks published for it so far.")
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="The server's reply to the last failed attempt.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["cause", "recipient"], name="one_message_per_cause_recipient"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(state__in=["queued", "sending"]),
                         name="outbox_due"),
            models.Index(fields=["election_id", "-created_at"], name="outbox_election_recent"),
        ]

    def __str__(self):
        return f"{self.subject!r} to {self.address} ({self.state})"


def new_message_id() -> str:
    return uuid.uuid4().hex


class Unsubscribe(models.Model):
    """``user`` stopped the messages of ``scope`` (an automation); kept after an undo, as history."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=200)
    scope_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "scope"], condition=Q(undone_at__isnull=True),
                                    name="one_active_unsubscribe"),
        ]

    def __str__(self):
        return f"{self.user} unsubscribed from {self.scope}"


class UserSettings(models.Model):
    """What a user chose on "My settings": the time zone emails show times in (blank: the election's)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="notification_settings")
    time_zone = models.CharField(max_length=64, blank=True)

    def __str__(self):
        return f"settings of {self.user}"
