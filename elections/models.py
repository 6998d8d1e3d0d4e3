"""Election, its statuses and allowed transitions, and per-election grants."""

import zoneinfo
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class Status(models.TextChoices):
    NOT_STARTED = "notstarted", "not started"
    STARTED = "started", "started"
    SUSPENDED = "suspended", "suspended"
    RESUMED = "resumed", "resumed"
    STOPPED = "stopped", "stopped"


class StatusAction(models.TextChoices):
    START = "start", "start"
    SUSPEND = "suspend", "suspend"
    RESUME = "resume", "resume"
    STOP = "stop", "stop"


#: action -> (statuses it may be applied to, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    StatusAction.START: (frozenset({Status.NOT_STARTED}), Status.STARTED),
    StatusAction.SUSPEND: (frozenset({Status.STARTED, Status.RESUMED}), Status.SUSPENDED),
    StatusAction.RESUME: (frozenset({Status.SUSPENDED}), Status.RESUMED),
    StatusAction.STOP: (frozenset({Status.STARTED, Status.SUSPENDED, Status.RESUMED}), Status.STOPPED),
}


@cache
def time_zone_names() -> frozenset[str]:
    """Every IANA time zone name this system knows."""
    return frozenset(zoneinfo.available_timezones())


def default_time_zone() -> str:
    return settings.TIME_ZONE


def validate_time_zone(value: str) -> None:
    """Refuse a name that is not an IANA time zone (the admin's form runs this)."""
    if value not in time_zone_names():
        raise ValidationError(f"Unknown time zone {value[:64]!r}; use an IANA name such as Europe/Paris.")


class Election(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NOT_STARTED)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # db_default too: rows inserted in plain SQL (bulk loads, benchmarks) get UTC.
    time_zone = models.CharField(max_length=64, default=default_time_zone, db_default="UTC",
                                 validators=[validate_time_zone],
                                 help_text="IANA name: the zone its emails and pages show times in.")

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.title} (#{self.pk})"

    def allows(self, action: str) -> bool:
        """Whether ``action`` may be applied to this election in its current status."""
        return self.status in TRANSITIONS[action][0]


class Permission(models.TextChoices):
    """Per-election permissions; each implies the ones listed before it."""

    VIEW = "view", "view"
    SCHEDULE_EVENTS = "schedule-events", "schedule events"
    EDIT = "edit", "edit"


PERMISSION_RANK = {Permission.VIEW: 1, Permission.SCHEDULE_EVENTS: 2, Permission.EDIT: 3}


class ElectionGrant(models.Model):
    """``user`` may do ``permission`` (and what it implies) on ``election`` and its descendants."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="election_grants")
    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="grants")
    permission = models.CharField(max_length=20, choices=Permission.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "election"], name="one_grant_per_user_election"),
        ]

    def __str__(self):
        return f"{self.user} may {self.permission} #{self.election_id}"


class ElectionGroupGrant(models.Model):
    """Every member of ``group`` may do ``permission`` (and what it implies) on ``election`` and its
    descendants; a user's rank is the highest of their own grants and their groups'."""

    group = models.ForeignKey("auth.Group", on_delete=models.CASCADE, related_name="election_grants")
    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="group_grants")
    permission = models.CharField(max_length=20, choices=Permission.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "election"], name="one_grant_per_group_election"),
        ]

    def __str__(self):
        return f"group {self.group} may {self.permission} #{self.election_id}"
