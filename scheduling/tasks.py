"""Celery tasks: the guarded, idempotent firing of an event, and the planner tick."""

import logging
from collections import Counter

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
FIRING = {"bind": True, "acks_late": True, "reject_on_worker_lost": True, "max_retries": MAX_RETRIES,
          "ignore_result": True}


@shared_task(**FIRING)
def fire_event(self, event_id: int) -> str:
    """Carry out scheduled event ``event_id`` if this task is still its current one.

    Safe to deliver any number of times: only the first delivery of the current
    task id for a pending event has an effect.
    """
    return _execute(self, [(event_id, self.request.id)])[event_id]


@shared_task(**FIRING)
def fire_events(self, deliveries: list[list]) -> dict:
    """Carry out the events due at one instant, delivered together as [event id, task id] pairs.

    Each event is guarded by its own task id, exactly as ``fire_event`` guards one.
    """
    outcomes = _execute(self, [(int(event_id), task_id) for event_id, task_id in deliveries],
                        batch_task_id=self.request.id)
    return dict(Counter(outcomes.values()))


def _execute(task, deliveries: list[tuple[int, str]], batch_task_id: str | None = None) -> dict[int, str]:
    """Run the deliveries; retry on a lost database with backoff, and on other database errors.

    Any other error (or a database error after the last retry) runs each event
    of a batch on its own, so only the event that fails is marked failed.
    """
    try:
        outcomes = services.execute_events(deliveries, batch_task_id=batch_task_id)
    except (OperationalError, InterfaceError) as exc:
        logger.warning("%s %s: database unavailable (%s); retrying", task.name, task.request.id, exc)
        raise task.retry(exc=exc, countdown=min(2 ** task.request.retries, 30)) from exc
    except DatabaseError as exc:
        # Serialization failures and deadlocks are transient too.
        if task.request.retries < MAX_RETRIES:
            raise task.retry(exc=exc, countdown=1) from exc
        return _execute_one_by_one(deliveries, batch_task_id, exc)
    except Exception as exc:
        return _execute_one_by_one(deliveries, batch_task_id, exc)
    logger.info("%s %s: %s", task.name, task.request.id,
                ", ".join(f"event {pk} {outcome}" for pk, outcome in outcomes.items()))
    return outcomes


def _execute_one_by_one(deliveries, batch_task_id, error: Exception) -> dict[int, str]:
    """After ``error``, run each delivery in its own transaction; mark failed the ones that fail.

    Re-raises the first failure, so Celery records the task as failed.
    """
    if len(deliveries) == 1:
        services.record_failure(*deliveries[0], error)
        raise error
    logger.warning("fire_events %s failed (%r); running its %d events one by one",
                   batch_task_id, error, len(deliveries))
    outcomes, first_failure = {}, None
    for event_id, task_id in deliveries:
        try:
            outcomes.update(services.execute_events([(event_id, task_id)], batch_task_id=batch_task_id))
        except Exception as exc:
            services.record_failure(event_id, task_id, exc)
            outcomes[event_id] = "failed"
            first_failure = first_failure or exc
    if first_failure is not None:
        raise first_failure
    return outcomes


@shared_task(ignore_result=True)
def plan() -> int:
    """Planner tick, run by Celery beat every ``SCHEDULING_PLANNER_INTERVAL_SECONDS``."""
    return services.plan()
