"""Each user's private calendar URL: made, renewed and revoked here only.

The URL carries a random token; only its sha256 is stored, and a feed is found by that
hash (an equality lookup on a value the caller cannot steer byte by byte), so neither a
copy of the database nor the timing of a lookup gives a token away.
"""

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from .models import CalendarFeed

#: At most one write of ``last_used_at`` per feed in this long (calendars poll often).
LAST_USED_EVERY_SECONDS = 3600


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def renew_calendar_feed(user) -> str:
    """Give ``user`` a new calendar token and return it (shown once: only its hash is kept);
    the previous URL, if any, stops working."""
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        CalendarFeed.objects.update_or_create(user=user, defaults={
            "token_hash": token_hash(token), "created_at": timezone.now(), "last_used_at": None})
    return token


def revoke_calendar_feed(user) -> bool:
    """Stop ``user``'s calendar URL; returns whether there was one."""
    deleted, _ = CalendarFeed.objects.filter(user=user).delete()
    return bool(deleted)


def calendar_feed_of(user) -> CalendarFeed | None:
    return CalendarFeed.objects.filter(user=user).first()


def user_for_calendar_token(token: str):
    """The active user whose calendar URL carries ``token``, or None (unknown, revoked, renewed
    since, or the user deactivated). Notes the use, at most once an hour."""
    if not token or len(token) > 100:
        return None
    feed = CalendarFeed.objects.select_related("user").filter(token_hash=token_hash(token)).first()
    if feed is None or not feed.user.is_active:
        return None
    now = timezone.now()
    if feed.last_used_at is None or (now - feed.last_used_at).total_seconds() > LAST_USED_EVERY_SECONDS:
        CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=now)
    return feed.user
