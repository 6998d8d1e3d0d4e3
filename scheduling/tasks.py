"""Celery entry points: each task calls one function of ``executing`` or ``planning``.

Nothing imports this module but Celery (``dispatching`` publishes by task name).
"""

import logging
from collections import Counter

from celery import shared_task
from celery.signals import task_prerun
from django.db import close_old_connections

from . import executing, planning

logger = logging.getLogger(__name__)


@task_prerun.connect
def _reuse_database_connection(**kwargs) -> None:
    """Before each task, drop the connection only if broken or older than ``CONN_MAX_AGE``.

    As Django does around each request. Celery would otherwise close it around
    every task (see ``CELERY_DB_REUSE_MAX``), and reconnecting cost more than the task.
    """
    close_old_connections()


# The outcome is kept on the event row and in the activity log; a result row per fire
# would cost a write for nothing (failures are still stored: task_store_errors_even_if_ignored).
FIRING = {"bind": True, "acks_late": True, "reject_on_worker_lost": True,
          "max_retries": executing.MAX_RETRIES, "ignore_result": True}


@shared_task(**FIRING)
def fire_event(self, event_id: int) -> str:
    """Carry out scheduled event ``event_id`` if this task is still its current one.

    Safe to deliver any number of times: only the first delivery of the current
    task id for a pending event has an effect. Also carries the other voting events
    already due (``executing.co_due``), so elections published one by one for one
    instant open together.
    """
    return _deliver(self, [(event_id, self.request.id)], carry=True)[event_id]


@shared_task(**FIRING)
def fire_events(self, deliveries: list[list]) -> dict:
    """Carry out the events due at one instant, delivered together as [event id, task id] pairs.

    Each event is guarded by its own task id, exactly as ``fire_event`` guards one.
    """
    outcomes = _deliver(self, [(int(event_id), task_id) for event_id, task_id in deliveries],
                        batch_task_id=self.request.id)
    return dict(Counter(outcomes.values()))


def _deliver(task, deliveries: list[tuple[int, str]], batch_task_id: str | None = None,
             carry: bool = False) -> dict[int, str]:
    try:
        outcomes = executing.deliver(deliveries, batch_task_id=batch_task_id, retries=task.request.retries,
                                     carry=carry)
    except executing.RetryLater as later:
        logger.warning("%s %s: %r; retrying", task.name, task.request.id, later.error)
        raise task.retry(exc=later.error, countdown=later.countdown) from later.error
    logger.info("%s %s: %s", task.name, task.request.id,
                ", ".join(f"event {pk} {outcome}" for pk, outcome in outcomes.items()))
    return outcomes


@shared_task(ignore_result=True)
def plan() -> int:
    """Planner tick, run by Celery beat every ``SCHEDULING_PLANNER_INTERVAL_SECONDS``."""
    return planning.plan()
