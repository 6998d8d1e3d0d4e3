"""The login limiter's counters (see ``accounts.ratelimit``)."""

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
