"""The sealer's periodic task (Celery beat entry ``activity-log-sealer``)."""

from celery import shared_task

from . import sealing


@shared_task(ignore_result=True)
def seal() -> int:
    """Seal the log entries committed since the last run; returns how many. Idempotent:
    a second run at the same time skips (the head is locked) or finds nothing."""
    return sealing.seal_pending()
