"""Helpers for the fault and concurrency tests: trees, the broker queue, RabbitMQ and PostgreSQL faults."""

import subprocess
import threading
import time
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection, connections, transaction

from activity_log.models import Action
from config.celery import app as celery_app
from elections.models import Election
from elections.selectors import tree_ids
from elections.services import create_election
from scheduling import configuring
from scheduling.models import ScheduledEvent, State
from tests.helpers import actions_of

AMQP = settings.CELERY_BROKER_URL.startswith(("amqp://", "pyamqp://"))


def on_postgres() -> bool:
    return connection.vendor == "postgresql"


def make_tree(user, *, start=None, end=None, title="General") -> tuple[Election, list[int]]:
    """A root with two children and a grandchild, with the given schedule (published on commit)."""
    with transaction.atomic():
        root = create_election(title=title, created_by=user)
        create_election(title=f"{title} North", parent=root, created_by=user)
        south = create_election(title=f"{title} South", parent=root, created_by=user)
        create_election(title=f"{title} South-East", parent=south, created_by=user)
        events = {k: v for k, v in (("start_voting", start), ("end_voting", end)) if v is not None}
        if events:
            configuring.configure(root, events, actor=user, replace=False)
    return root, tree_ids(root)


def pending(election_id: int, kind: str = "start_voting") -> ScheduledEvent:
    return ScheduledEvent.objects.get(election_id=election_id, kind=kind, state=State.PENDING)


def statuses(ids: list[int]) -> set[str]:
    return set(Election.objects.filter(pk__in=ids).values_list("status", flat=True))


def assert_changed_once(ids: list[int], to_status: str = "started") -> None:
    """Every election of the tree changed status exactly once, to ``to_status``, and says so in the log."""
    assert statuses(ids) == {to_status}
    for election_id in ids:
        changes = actions_of(election_id, Action.STATUS_CHANGED)
        assert [c.metadata["to"] for c in changes] == [to_status], (election_id, changes)


def assert_lost_events_recovered(roots: list[Election]) -> None:
    """Each event whose message was lost opened once: from a planner's re-publish (logged as
    ``event_dispatched``) or carried by another message (``executing.co_due``; its
    ``event_executed`` row names that message as ``batch_task_id``)."""
    for root in roots:
        [executed] = actions_of(root.pk, Action.EVENT_EXECUTED)
        assert actions_of(root.pk, Action.EVENT_DISPATCHED) or executed.metadata.get("batch_task_id"), (
            f"{root.title}: neither published again nor carried")


def queue_name() -> str:
    return celery_app.conf.task_default_queue


def queue_depth(queue: str | None = None) -> int:
    """Messages ready in the broker queue (0 when the queue does not exist yet)."""
    with celery_app.connection_for_write() as conn:
        try:
            return conn.default_channel.queue_declare(queue=queue or queue_name(), passive=True).message_count
        except Exception as exc:  # amqp: 404 NOT_FOUND for a queue nobody declared yet
            if "NOT_FOUND" in str(exc) or "404" in str(exc):
                return 0
            raise


def purge_queue(queue: str | None = None) -> int:
    """Drop every ready message of the queue: a lost message. Returns how many were dropped."""
    with celery_app.connection_for_write() as conn:
        try:
            return conn.default_channel.queue_purge(queue or queue_name()) or 0
        except Exception as exc:
            if "NOT_FOUND" in str(exc) or "404" in str(exc):
                return 0
            raise


@pytest.fixture(autouse=True)
def empty_queue(isolated_celery):
    """Each fault test starts with an empty queue (no leftovers of the previous test's processes)."""
    purge_queue()
    yield


def run_rabbitmqctl(*args: str, timeout: float = 60) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=timeout)


@contextmanager
def rabbitmq_stopped():
    """Stop the RabbitMQ application (the node keeps running) and always start it again."""
    run_rabbitmqctl("stop_app")
    try:
        yield
    finally:
        run_rabbitmqctl("start_app")
        run_rabbitmqctl("await_startup")
        celery_app.close()  # drop this process's pooled connections: RabbitMQ closed them


def terminate_other_backends() -> int:
    """pg_terminate_backend every other connection to this test database (workers, beat); not others'."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def run_in_threads(function, arguments: list[tuple]) -> list:
    """Call ``function(*args)`` for each args in its own thread (own DB connection), all released at once.

    Returns each call's result, or the exception it raised.
    """
    barrier = threading.Barrier(len(arguments))
    results: list = [None] * len(arguments)

    def target(index, args):
        try:
            barrier.wait(timeout=30)
            results[index] = function(*args)
        except BaseException as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i, args)) for i, args in enumerate(arguments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    return results


def sleep_until(moment) -> None:
    from django.utils import timezone

    delay = (moment - timezone.now()).total_seconds()
    if delay > 0:
        time.sleep(delay)
