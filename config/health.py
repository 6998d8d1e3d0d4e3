"""GET /healthz: database, broker, live workers and the planner's last tick."""

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from scheduling.models import PlannerHeartbeat


def _database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, connection.vendor
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"


def _broker() -> tuple[bool, str]:
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            return True, conn.as_uri()
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"


def _workers() -> tuple[bool, list[str] | str]:
    from config.celery import app

    try:
        replies = app.control.inspect(timeout=1.0).ping() or {}
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return bool(replies), sorted(replies)


def _planner() -> tuple[bool, str | None]:
    beat = PlannerHeartbeat.objects.filter(pk=1).first()
    if beat is None:
        return False, None
    limit = timedelta(seconds=max(3 * settings.SCHEDULING_PLANNER_INTERVAL_SECONDS, 15))
    return timezone.now() - beat.last_tick_at <= limit, beat.last_tick_at.isoformat()


@require_GET
def healthz(request):
    """200 when every part is up, 503 naming the parts that are not."""
    checks = {}
    for name, check in (("database", _database), ("broker", _broker), ("workers", _workers),
                        ("planner", _planner)):
        if name == "planner" and not checks["database"]["ok"]:
            checks[name] = {"ok": False, "detail": "database unavailable"}
            continue
        ok, detail = check()
        checks[name] = {"ok": ok, "detail": detail}
    healthy = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", "checks": checks},
                        status=200 if healthy else 503)
