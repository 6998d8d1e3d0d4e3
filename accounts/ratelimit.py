"""The one login limiter: every password check a web request makes passes through it.

Rule: within a window of ``LOGIN_RATE_LIMIT`` (``"10/min"``: 10 checks per 60 s),
at most that many password checks that fail, per **client address** and per
**username** (both keys, whichever door: the log-in page, ``/admin/login/`` or
``POST /api/auth/token/``). A key's window starts at its first attempt. Beyond
the limit an attempt is refused without checking the password (so even the right
password waits) until the window ends; the door answers 429 with ``Retry-After``.
A check that succeeds gives its slot back: only failures use up the limit.

Why a table and one SQL statement, not Django's cache: the default cache is the
``DatabaseCache``, whose ``incr`` is a ``get`` followed by a ``set`` (Django's
``BaseCache.incr``), so parallel requests read the same count and each write
``count + 1``; 50 parallel tries got far more than 10 checks. Here each attempt
*reserves* its slot before the password is checked, with one atomic upsert::

    INSERT … ON CONFLICT (digest) DO UPDATE SET count = count + 1 … RETURNING count

PostgreSQL locks the row for the update, SQLite (≥ 3.35 for ``RETURNING``)
serialises writers, so each attempt gets its own number: exactly the first
``limit`` attempts of a window are checked, whatever the concurrency. The
database is already shared by every web process and needs no other service;
one small write per login attempt is nothing next to hashing the password.

Per username as well as per address, so that an attacker spread over many
addresses still gets only ``limit`` guesses per account and window. The price:
whoever knows a username can keep its log-in refused by failing on purpose, for
as long as they keep failing (README, Permissions). Who the caller is (a
token sent along to the token endpoint) does not matter.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from rest_framework.throttling import BaseThrottle

from .models import LoginAttempts

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# One attempt in this many also deletes the rows of windows long over.
PURGE_ONE_IN = 100
_REFUSAL_ATTRIBUTE = "login_refusal"


def clock() -> float:
    """Now, in Unix seconds (a function so tests can move time)."""
    return time.time()


def rate() -> tuple[int, int]:
    """(failed checks allowed, window in seconds) from ``LOGIN_RATE_LIMIT``, e.g. ``"10/min"``."""
    count, period = settings.LOGIN_RATE_LIMIT.split("/")
    return int(count), PERIODS[period.strip()[0].lower()]


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or from X-Forwarded-For behind ``TRUSTED_PROXIES``
    proxies (DRF's ``NUM_PROXIES`` rule; with 0 the header is ignored, so it cannot be forged)."""
    return BaseThrottle().get_ident(request) or "unknown"


@dataclass(frozen=True)
class Refusal:
    """An attempt refused because a key is over the limit; ``retry_after`` in whole seconds."""

    retry_after: int

    @property
    def message(self) -> str:
        return f"Too many failed log-in attempts. Wait {self.retry_after} seconds, then try again."


@dataclass(frozen=True)
class Attempt:
    """Reserved slots, one per key: ``(key, window_started)``."""

    slots: tuple[tuple[str, float], ...]

    def succeeded(self) -> None:
        """The password was right: give the slots back, only failures count."""
        _give_back(self.slots)


def _key(scope: str, value: str) -> str:
    return hashlib.sha256(f"{scope}:{value}".encode()).hexdigest()


def keys_for(request, username: str) -> list[str]:
    """The limiter's keys for an attempt: the client's address and the (case-folded) username."""
    return [_key("address", client_address(request)), _key("username", username.casefold())]


def _table() -> str:
    return connection.ops.quote_name(LoginAttempts._meta.db_table)


def _take(key: str, now: float, period: int) -> tuple[int, float]:
    """Count one more attempt on ``key`` atomically; (its number in the window, window start).

    A window that is over restarts at ``now`` with this attempt as its first.
    """
    table, expired = _table(), now - period
    sql = f"""
        INSERT INTO {table} (digest, window_started, count) VALUES (%s, %s, 1)
        ON CONFLICT (digest) DO UPDATE SET
            count = CASE WHEN {table}.window_started <= %s THEN 1 ELSE {table}.count + 1 END,
            window_started = CASE WHEN {table}.window_started <= %s THEN %s
                                  ELSE {table}.window_started END
        RETURNING count, window_started
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [key, now, expired, expired, now])
        count, started = cursor.fetchone()
    return count, started


def _give_back(slots) -> None:
    """Undo reservations, each only in the window it was taken in."""
    with connection.cursor() as cursor:
        for key, started in slots:
            cursor.execute(f"UPDATE {_table()} SET count = count - 1 "
                           "WHERE digest = %s AND window_started = %s AND count > 0", [key, started])


def _purge(now: float) -> None:
    """Delete the rows of windows that ended a day or more ago (bounded table)."""
    _, period = rate()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {_table()} WHERE window_started < %s", [now - period - 86400])


def begin(request, username: str) -> Attempt | Refusal:
    """Reserve one password check for ``username`` from this request's client, or refuse it.

    A refusal is remembered on the request (``refusal_for``) so the door can answer 429;
    a refused attempt keeps no slot. Call ``Attempt.succeeded()`` when the password was right.
    """
    limit, period = rate()
    now = clock()
    if random.randrange(PURGE_ONE_IN) == 0:
        _purge(now)
    taken: list[tuple[str, float]] = []
    for key in keys_for(request, username):
        count, started = _take(key, now, period)
        taken.append((key, started))
        if count > limit:
            _give_back(taken)
            # (clamped: a parallel attempt may have started the window a moment after our `now`)
            refusal = Refusal(retry_after=min(period, max(1, math.ceil(started + period - now))))
            setattr(getattr(request, "_request", request), _REFUSAL_ATTRIBUTE, refusal)
            return refusal
    return Attempt(tuple(taken))


def refusal_for(request) -> Refusal | None:
    """The refusal ``begin`` recorded for this request (page or DRF request), if any."""
    return getattr(getattr(request, "_request", request), _REFUSAL_ATTRIBUTE, None)


def with_refusal_status(request, response):
    """The door's response as 429 with ``Retry-After`` when the limiter refused the attempt."""
    refusal = refusal_for(request)
    if refusal is not None:
        response.status_code = 429
        response["Retry-After"] = str(refusal.retry_after)
    return response
