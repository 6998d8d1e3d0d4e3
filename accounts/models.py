"""The login limiter's counters (see ``accounts.ratelimit``) and each user's calendar feed."""

from django.conf import settings
from django.db import models


class LoginAttempts(models.Model):
    """Password checks for one key (a client address or a username) in its current window.

    Written only by ``accounts.ratelimit`` with single atomic statements; never by the ORM.
    """

    digest = models.CharField(max_length=64, primary_key=True, help_text="sha256 of the scope and the value")
    window_started = models.FloatField(db_index=True, help_text="Unix time of the window's first attempt")
    count = models.IntegerField()

    class Meta:
        verbose_name_plural = "login attempts"

    def __str__(self) -> str:
        return f"{self.digest[:12]}…: {self.count}"


class CalendarFeed(models.Model):
    """A user's private calendar URL (``/calendar/<token>.ics``): only the token's sha256 is kept.

    One per user; renewing replaces the token (the old URL stops working), revoking deletes
    the row. Written only by ``accounts.services``.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="calendar_feed")
    token_hash = models.CharField(max_length=64, unique=True, help_text="sha256 (hex) of the URL's token")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="When a calendar last fetched it.")

    def __str__(self) -> str:
        return f"calendar feed of {self.user}"
