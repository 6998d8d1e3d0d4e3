"""Daily housekeeping, run as the ``maintenance`` operation of a global automation.

Registered with the operation registry by ``scheduling.apps`` (``config`` sits
below every app and imports none of them, so the registering is done from above;
the run context is used only for ``now``).
"""

from datetime import timedelta

from django.contrib.sessions.models import Session
from django_celery_results.models import TaskResult

from .celery import app as celery_app


def run(ctx, params: dict) -> dict:
    """Delete Celery results older than ``result_expires`` and expired sessions; return the counts."""
    expires = celery_app.conf.result_expires or timedelta(days=1)
    if not isinstance(expires, timedelta):
        expires = timedelta(seconds=float(expires))
    results, _ = TaskResult.objects.filter(date_done__lt=ctx.now - expires).delete()
    sessions, _ = Session.objects.filter(expire_date__lt=ctx.now).delete()
    return {"celery_results_deleted": results, "sessions_deleted": sessions}

