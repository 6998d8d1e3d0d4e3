"""GET /healthz: is every part up (database, broker, a worker, the planner)?

Anonymous callers get ``{"status": "ok"}`` (200) or ``{"status": "down"}`` (503),
computed at most once per process every ``SUMMARY_TTL_SECONDS``: pollers and load
balancers cost nothing between. The checks themselves are bounded (short connect
timeouts, no retry waits), so a broker that is down makes the answer ``down`` in
about a second, not after kombu's retry schedule.

Details (each check's ``ok`` and a ``detail`` in words) need ``Authorization: Token …``
of a staff user. No detail ever holds a URI, a credential or an exception's text:
a check says ``reachable``/``unreachable`` and names the transport or the error's type.

To add a check, append ``(name, function)`` to ``CHECKS``; the function takes no
argument and returns ``(ok, detail)``; an exception it raises counts as not ok.
"""

import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from rest_framework import exceptions

from config.authentication import TokenAuthentication
from scheduling.models import PlannerHeartbeat

#: How long an anonymous answer is reused by this process.
SUMMARY_TTL_SECONDS = 5.0
#: Bounds on the broker checks: one connection attempt, no retry sleeps.
BROKER_CONNECT_TIMEOUT_SECONDS = 1.0
WORKER_PING_TIMEOUT_SECONDS = 1.0

Check = tuple[bool, object]


def check_database() -> Check:
    vendor = connection.vendor
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return False, f"unreachable ({vendor})"
    return True, f"reachable ({vendor})"


def _broker_connection():
    """A connected broker connection (caller closes it), or ``None`` when the broker does not answer."""
    from config.celery import app

    conn = app.connection_for_write(connect_timeout=BROKER_CONNECT_TIMEOUT_SECONDS)
    try:
        conn.ensure_connection(max_retries=0, timeout=BROKER_CONNECT_TIMEOUT_SECONDS)
    except Exception:
        conn.release()
        return None
    return conn


def _transport_name() -> str:
    from config.celery import app

    return app.conf.broker_url.split("://", 1)[0] or "unknown"


def check_broker() -> Check:
    conn = _broker_connection()
    if conn is None:
        return False, f"unreachable ({_transport_name()})"
    conn.release()
    return True, f"reachable ({_transport_name()})"


def check_workers() -> Check:
    """At least one worker answers a ping; the first to answer is named."""
    from config.celery import app

    conn = _broker_connection()
    if conn is None:
        return False, "not checked: broker unreachable"
    try:
        replies = app.control.inspect(timeout=WORKER_PING_TIMEOUT_SECONDS, limit=1,
                                      connection=conn).ping() or {}
    finally:
        conn.release()
    if not replies:
        return False, "no worker answered"
    return True, f"answering: {', '.join(sorted(replies))}"


def check_planner() -> Check:
    beat = PlannerHeartbeat.objects.filter(pk=1).first()
    if beat is None:
        return False, "never ran"
    limit = timedelta(seconds=max(3 * settings.SCHEDULING_PLANNER_INTERVAL_SECONDS, 15))
    return timezone.now() - beat.last_tick_at <= limit, f"last tick {beat.last_tick_at.isoformat()}"


#: Seals the health check verifies (the newest ones): a full walk is ``verify_activity_log``.
ACTIVITY_LOG_SEALS_CHECKED = 200


def check_activity_log() -> Check:
    """The newest seals hold and no recent entry stayed unsealed past the grace period;
    the detail names the chain's end (seal number and hash) for an outside copy."""
    from activity_log.sealing import verify_chain

    result = verify_chain(last=ACTIVITY_LOG_SEALS_CHECKED)
    return result.ok, result.summary()


CHECKS: list[tuple[str, Callable[[], Check]]] = [
    ("database", check_database),
    ("broker", check_broker),
    ("workers", check_workers),
    ("planner", check_planner),
    ("activity_log", check_activity_log),
]


def run_checks() -> dict[str, dict]:
    """Every check in ``CHECKS`` order, as ``{name: {"ok", "detail"}}``; never raises."""
    results = {}
    for name, check in CHECKS:
        try:
            ok, detail = check()
        except Exception as exc:  # the type only: an exception's text may hold a host or a password
            ok, detail = False, f"error ({type(exc).__name__})"
        results[name] = {"ok": bool(ok), "detail": detail}
    return results


class _Summary:
    """The anonymous answer, computed once per ``SUMMARY_TTL_SECONDS`` per process.

    In memory, not in Django's cache: the default cache is the database, which is one of
    the things checked, and a health answer must not depend on what it reports on.
    One caller computes; the others meanwhile get the previous answer (they wait only
    when there is none yet).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._healthy = False
        self._expires_at = 0.0

    def healthy(self) -> bool:
        if time.monotonic() < self._expires_at:
            return self._healthy
        if not self._lock.acquire(blocking=self._expires_at == 0.0):
            return self._healthy  # another thread is refreshing it
        try:
            if time.monotonic() >= self._expires_at:
                self._healthy = all(c["ok"] for c in run_checks().values())
                self._expires_at = time.monotonic() + SUMMARY_TTL_SECONDS
            return self._healthy
        finally:
            self._lock.release()

    def clear(self) -> None:
        with self._lock:
            self._expires_at = 0.0


summary = _Summary()


def _answer(healthy: bool, **extra) -> JsonResponse:
    return JsonResponse({"status": "ok" if healthy else "down", **extra}, status=200 if healthy else 503)


@require_GET
def healthz(request):
    """200 ``ok`` or 503 ``down``; with a staff user's token, each check's result too."""
    try:
        authenticated = TokenAuthentication().authenticate(request)
    except exceptions.AuthenticationFailed as exc:
        return JsonResponse({"detail": str(exc.detail)}, status=401)
    if authenticated is None:
        return _answer(summary.healthy())
    if not authenticated[0].is_staff:
        return JsonResponse({"detail": "Health details need the token of a staff user; "
                                       "call without a token for the status only."}, status=403)
    checks = run_checks()
    return _answer(all(c["ok"] for c in checks.values()), checks=checks)
