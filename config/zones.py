"""Which time zone a page shows times in, and how a time reads in it.

One rule for every page and email: the user's chosen zone ("My settings"), else the election's,
else UTC. Times read ``Tue 1 Dec 2026 09:00 Europe/Madrid``; UTC goes on hover (``title``).
The pages' scripts word them the same way in static/js/common.js (``ES.formatInZone``).

Emails still word a time their own way (notifications.rendering.format_local,
``Sat 12 Sep 2026, 11:26 CEST``: the email tests and the stored templates' readers expect the
abbreviation), in the zone notifications.services.zone_of picks; moving them to ``format_in_zone``
changes every email's text, so it is left for whoever owns the emails to decide.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "UTC"


def chosen_zone(user) -> str:
    """The zone ``user`` picked on "My settings", or '' (none chosen, anonymous, or a name this
    system no longer knows: a stale choice falls back to the election's zone, never a 500)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    cached = getattr(user, "_chosen_zone", None)
    if cached is None:
        from elections.models import time_zone_names
        from notifications.models import UserSettings

        cached = (UserSettings.objects.filter(user_id=user.pk)
                  .values_list("time_zone", flat=True).first() or "")
        if cached not in time_zone_names():
            cached = ""
        user._chosen_zone = cached
    return cached


def display_zone(user, election=None) -> str:
    """The zone to show times in for ``user``: their choice, else ``election``'s, else UTC."""
    return chosen_zone(user) or getattr(election, "time_zone", "") or DEFAULT_ZONE


def format_in_zone(value: datetime | None, zone: str, *, weekday: bool = True,
                   hundredths: bool = False) -> str:
    """``Tue 1 Dec 2026 09:00 Europe/Madrid`` (seconds only when not zero); '' for None.

    ``hundredths``: always ``09:00:00.04``, to show how close to its time something ran."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(ZoneInfo(zone))
    if hundredths:
        clock = f"%H:%M:%S.{local.microsecond // 10000:02d}"
    else:
        clock = "%H:%M:%S" if local.second or local.microsecond else "%H:%M"
    day = f"{local:%a} " if weekday else ""
    return f"{day}{local.day} {local:%b %Y} {local.strftime(clock)} {zone}"
