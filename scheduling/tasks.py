"""Celery tasks: the guarded, idempotent firing of an event, and the planner tick."""

import logging

from celery import shared_task
from celery.signals import task_prerun
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections

from . import services

logger = logging.getLogger(__name__)

MAX_RETRIES = 8


@task_prerun.connect
def _reuse_database_connection(**kwargs) -> None:
    """Before each task, drop the connection only if broken or older than ``CONN_MAX_AGE``.

    As Django does around each request. Celery would otherwise close it around
    every task (see ``CELERY_DB_REUSE_MAX``), and reconnecting cost more than the task.
    """
    close_old_connections()


# The outcome is kept on the event row and in the activity log; a result row per fire
# would cost a write for nothing (failures are still stored: task_store_errors_even_if_ignored).
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES,
             ignore_result=True)
def fire_event(self, event_id: int) -> str:
    """Carry out scheduled event ``event_id`` if this task is still its current one.

    Safe to deliver any number of times: only the first delivery of the current
    task id for a pending event has an effect. A lost database connection is
    retried with backoff; any other error marks the event failed.
    """
    try:
        outcome = services.execute_event(event_id, self.request.id)
    except (OperationalError, InterfaceError) as exc:
        logger.warning("fire_event %s: database unavailable (%s); retrying", self.request.id, exc)
        raise self.retry(exc=exc, countdown=min(2 ** self.request.retries, 30)) from exc
    except DatabaseError as exc:
        # Serialization failures and deadlocks are transient too.
        if self.request.retries < MAX_RETRIES:
            raise self.retry(exc=exc, countdown=1) from exc
        services.record_failure(event_id, self.request.id, exc)
        raise
    except Exception as exc:
        services.record_failure(event_id, self.request.id, exc)
        raise
    logger.info("fire_event %s for event %s: %s", self.request.id, event_id, outcome)
    return outcome


@shared_task(ignore_result=True)
def plan() -> int:
    """Planner tick, run by Celery beat every ``SCHEDULING_PLANNER_INTERVAL_SECONDS``."""
    return services.plan()
