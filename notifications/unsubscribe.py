"""Signed one-click unsubscribe links (RFC 8058): the token names the user and the scope."""

import re

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "notifications.unsubscribe"


def make_token(user, scope: str, label: str = "") -> str:
    return signing.dumps({"u": user.pk, "s": scope, "l": label[:200]}, salt=SALT, compress=True)


def read_token(token: str) -> dict | None:
    """``{"u": user id, "s": scope, "l": label}``, or None when the token is not one we signed."""
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    return data if isinstance(data, dict) and {"u", "s"} <= data.keys() else None


#: A one-click unsubscribe link's token, wherever a message carries it (headers, text, HTML).
_TOKEN_IN_LINK = re.compile(r"(/email/unsubscribe/)[^/\s\"'<>&]+")


def hide_tokens(text: str) -> str:
    """``text`` with every unsubscribe token replaced by ``[hidden]``: the token acts for its
    recipient without a session, so only the recipient (or a superuser) may read it."""
    return _TOKEN_IN_LINK.sub(r"\1[hidden]", text or "")


def unsubscribe_url(user, scope: str, label: str = "") -> str:
    return settings.SITE_URL + reverse("email-unsubscribe", args=[make_token(user, scope, label)])
