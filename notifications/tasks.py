"""Celery tasks of the email queue (``EMAIL_QUEUE``; see ``CELERY_TASK_ROUTES``)."""

import logging

from celery import shared_task

from . import delivery

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(ids: list[int]) -> dict:
    """Send these outbox rows over one connection; each row's state says what happened to it."""
    outcomes = delivery.deliver([int(pk) for pk in ids])
    logger.info("deliver %d emails: %s", len(ids), dict(outcomes))
    return dict(outcomes)


@shared_task(ignore_result=True)
def sweep() -> int:
    """Beat, every ``EMAIL_SWEEP_INTERVAL_SECONDS``: publish retries and rows whose delivery was lost."""
    return delivery.sweep()
