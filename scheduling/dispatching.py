"""Dispatching: publishing due events to the broker and revoking stale ones.

The broker only delivers; the database decides. Messages name their task by its
registered name (``send``), so this module never imports ``tasks``: the tasks
call down into ``executing`` and ``planning``, and nothing here calls back up.
Everything here runs after commit and never raises.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from config.celery import app as celery_app
from elections.selectors import ancestor_paths

from .models import ScheduledEvent, State

logger = logging.getLogger(__name__)

MAX_REDISPATCH_BACKOFF = timedelta(minutes=5)

#: The registered names of the firing tasks (``scheduling/tasks.py``).
FIRE_EVENT = "scheduling.tasks.fire_event"
FIRE_EVENTS = "scheduling.tasks.fire_events"


def horizon() -> timedelta:
    return timedelta(seconds=settings.SCHEDULING_HORIZON_SECONDS)


def redispatch_after() -> timedelta:
    return timedelta(seconds=settings.SCHEDULING_REDISPATCH_AFTER_SECONDS)


def send(task_name: str, args: tuple, **options) -> None:
    """Publish one message for the task registered as ``task_name``; raises when the broker refuses.

    The outcome lives on the event row and in the log, so no result is kept.
    """
    celery_app.send_task(task_name, args, retry=True, retry_policy=PUBLISH_RETRY_POLICY,
                         ignore_result=True, **options)


PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


#: Most events one ``fire_events`` message carries; a bigger instant is split so workers share it.
#: Each message costs a transaction and its fixed queries: at 100 per message 10,000 elections
#: due at once took 2.8-3.0 s on two cores, at 250 1.8-2.3 s, at 500 no better (benchmark 2).
FIRE_BATCH_SIZE = 250


def publish(events: list[ScheduledEvent]) -> int:
    """Send the events' tasks with their ETAs; returns how many events were sent.

    An event due alone travels in its own ``fire_event`` message, whose Celery id
    is the event's task id. Events due at the same instant (or already overdue)
    travel together, up to ``FIRE_BATCH_SIZE`` in one ``fire_events`` message (but
    one tree's events are never split: see ``_messages``), so a worker opens them in
    a few statements instead of a transaction each; each event in it is still
    checked against its own task id. A failure is logged and
    leaves ``next_dispatch_at`` due, so the planner tries again on its next tick.
    Never raises: it runs after commit.
    """
    now = timezone.now()
    by_instant: dict[datetime | None, list[ScheduledEvent]] = {}
    for event in events:
        by_instant.setdefault(event.event_at if event.event_at > now else None, []).append(event)
    if None in by_instant:  # overdue events of different times: send them in time order
        by_instant[None].sort(key=lambda e: (e.event_at, e.pk))
    sent: list[ScheduledEvent] = []
    for instant, group in by_instant.items():
        for chunk in _messages(group):
            try:
                if len(chunk) == 1:
                    send(FIRE_EVENT, (chunk[0].pk,), task_id=chunk[0].task_id, eta=chunk[0].event_at)
                else:
                    send(FIRE_EVENTS, ([[e.pk, e.task_id] for e in chunk],), eta=instant)
            except Exception:
                logger.exception("could not publish %s; the planner will retry",
                                 ", ".join(f"{e} (task {e.task_id})" for e in chunk))
                ScheduledEvent.objects.filter(pk__in=[e.pk for e in chunk], state=State.PENDING).update(
                    next_dispatch_at=timezone.now()
                )
                continue
            sent.extend(chunk)
    _mark_published(sent)
    return len(sent)


def _messages(group: list[ScheduledEvent]) -> list[list[ScheduledEvent]]:
    """Split events due together into messages of up to ``FIRE_BATCH_SIZE``, never splitting a tree.

    Messages run in parallel on different worker processes. Were a parent's overdue
    start in one and its child's overdue end in another, the end could take the
    tree's locks first, be skipped as "not started", and leave the child open once the
    start arrives. Within one message events run in order of time, so events whose
    elections are ancestor and descendant travel together, under the topmost election
    of the group above them; siblings stay free to run in parallel. Such a tree with
    more events than the limit makes one larger message. Keeps the order of ``group``
    within each tree.
    """
    if len(group) <= FIRE_BATCH_SIZE:
        return [group]
    in_group = {event.election_id for event in group if event.election_id is not None}
    try:
        paths = ancestor_paths(in_group)
    except DatabaseError:  # publish() must not raise: split by time alone, as before trees counted
        logger.warning("could not read the trees of %d due events; splitting them by time only",
                       len(group), exc_info=True)
        paths = {}
    by_tree: dict[int | None, list[ScheduledEvent]] = {}
    for event in group:
        if event.election_id is None:  # a global run locks no tree
            by_tree.setdefault(None, []).append(event)
            continue
        path = paths.get(event.election_id, [event.election_id])
        top = next(pk for pk in reversed(path) if pk in in_group)  # the path starts with itself
        by_tree.setdefault(top, []).append(event)
    messages: list[list[ScheduledEvent]] = [[]]
    for events in by_tree.values():
        if messages[-1] and len(messages[-1]) + len(events) > FIRE_BATCH_SIZE:
            messages.append([])
        messages[-1].extend(events)
    return messages


def _mark_published(events: list[ScheduledEvent]) -> None:
    """Record the publishes: one UPDATE per backoff step, not one per event (each was a commit)."""
    if not events:
        return
    now = timezone.now()
    by_attempt: dict[int, list[int]] = {}
    for event in events:
        by_attempt.setdefault(event.dispatch_count, []).append(event.pk)
    with transaction.atomic():
        # Lock the rows in id order first, as every writer of event rows does: an UPDATE alone
        # locks them in whatever order it scans, and deadlocked with configure() (which locks
        # an election's events in id order) in one of five runs of the concurrency test.
        list(ScheduledEvent.objects.select_for_update().filter(pk__in=[e.pk for e in events])
             .order_by("pk").values_list("pk", flat=True))
        for attempts, pks in by_attempt.items():
            backoff = min(redispatch_after() * (2 ** attempts), MAX_REDISPATCH_BACKOFF)
            ScheduledEvent.objects.filter(pk__in=pks, state=State.PENDING).update(
                dispatched_at=now, dispatch_count=F("dispatch_count") + 1,
                next_dispatch_at=Greatest(F("event_at"), Value(now, output_field=DateTimeField())) + backoff,
            )


def revoke(task_ids: list[str]) -> None:
    """Ask workers to drop these tasks. Hygiene only: a stale task is discarded anyway."""
    if not task_ids:
        return
    try:
        celery_app.control.revoke(task_ids)
    except Exception:
        logger.warning("could not broadcast revoke of %s; workers will discard them on arrival",
                       task_ids, exc_info=True)
