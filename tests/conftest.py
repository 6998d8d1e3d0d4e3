"""Fixtures shared by every test: users, API clients, and real Celery processes.

Scheduling is never tested in eager mode (it ignores ETAs): integration tests
start real worker and beat processes on the configured broker (RabbitMQ when
CELERY_BROKER_URL is set, else the filesystem broker) and the test database.
Each test run gets its own queue, so runs and a local ``make run`` never mix.
"""

import os
import uuid
import warnings
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from config.celery import app as celery_app
from tests.processes import CeleryProcess

#: Short scheduling knobs for the processes tests start (and this process).
TEST_SCHEDULING = {
    "SCHEDULING_HORIZON_SECONDS": "20",
    "SCHEDULING_PLANNER_INTERVAL_SECONDS": "0.5",
    "SCHEDULING_REDISPATCH_AFTER_SECONDS": "3",
}
#: Short email knobs likewise (retry after 1 s, doubling; a lost delivery is re-sent after 3 s).
TEST_EMAIL = {
    "EMAIL_RETRY_FIRST_SECONDS": "1",
    "EMAIL_REDELIVER_AFTER_SECONDS": "3",
    "EMAIL_SWEEP_INTERVAL_SECONDS": "0.5",
}


@pytest.fixture(scope="session")
def celery_run_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("celery")


@pytest.fixture(scope="session", autouse=True)
def isolated_celery(celery_run_dir):
    """Point this process's Celery app at a queue (and broker folder) of this run's own."""
    queue = f"test-{uuid.uuid4().hex[:10]}"
    celery_app.conf.task_default_queue = queue
    # The email queue is isolated the same way: {queue}-email (EMAIL_QUEUE for the processes).
    settings.EMAIL_QUEUE = f"{queue}-email"
    celery_app.conf.task_routes = {"notifications.tasks.*": {"queue": settings.EMAIL_QUEUE}}
    options = {}
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        broker = celery_run_dir / "broker"
        for folder in ("queue", "control", "processed"):
            (broker / folder).mkdir(parents=True, exist_ok=True)
        options = {"data_folder_in": str(broker / "queue"), "data_folder_out": str(broker / "queue"),
                   "control_folder": str(broker / "control"),
                   "processed_folder": str(broker / "processed"), "store_processed": False}
        celery_app.conf.broker_transport_options = options
    for name, value in {**TEST_SCHEDULING, **TEST_EMAIL}.items():
        setattr(settings, name, float(value))
    yield {"queue": queue, "email_queue": settings.EMAIL_QUEUE, "broker_options": options}
    if not options:  # a real broker: leave no queue behind (the filesystem one is in tmp)
        try:
            with celery_app.connection_for_write() as connection:
                connection.default_channel.queue_delete(queue)
                connection.default_channel.queue_delete(settings.EMAIL_QUEUE)
        except Exception as exc:  # cleanup only; never fail the run for it
            warnings.warn(f"could not delete test queue {queue}: {exc}", stacklevel=1)


def database_url() -> str:
    """The URL of the test database this process uses, for the processes it starts."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.fixture
def celery_env(isolated_celery, celery_run_dir, transactional_db) -> dict[str, str]:
    """Environment for worker/beat processes: test database, this run's queue, short knobs."""
    env = dict(os.environ)
    env.update(TEST_SCHEDULING)
    env.update(TEST_EMAIL)
    env.update({"DATABASE_URL": database_url(), "CELERY_QUEUE": isolated_celery["queue"],
                "EMAIL_QUEUE": isolated_celery["email_queue"],
                "DATA_DIR": str(celery_run_dir), "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO"})
    return env


@pytest.fixture
def start_celery(celery_env, celery_run_dir, isolated_celery):
    """Factory: ``start_celery("worker")`` starts a real process; all are stopped at the end.

    On the filesystem broker the processes share this run's broker folder.
    """
    started: list[CeleryProcess] = []

    def start(kind: str, extra_args: list[str] | None = None, env: dict | None = None) -> CeleryProcess:
        process = CeleryProcess(kind, {**celery_env, **(env or {})}, celery_run_dir, extra_args)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def worker(start_celery) -> CeleryProcess:
    return start_celery("worker")


@pytest.fixture
def beat(start_celery) -> CeleryProcess:
    return start_celery("beat")


@pytest.fixture(scope="session", autouse=True)
def flush_may_empty_the_activity_log():
    """Django's test flush (after transactional_db/live_server tests) empties every table;
    the activity log's triggers refuse that unless the purge guard is set in the flush's
    own transaction. Only this hook sets it (``activity_log.purge``)."""
    from activity_log.purge import with_purge_allowed

    operations = type(connection.ops)
    original = operations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        return original(self, with_purge_allowed(self.connection.vendor, list(sql_list)))

    operations.execute_sql_flush = execute_sql_flush
    yield
    operations.execute_sql_flush = original


# --- users and clients --------------------------------------------------------------

@pytest.fixture
def make_user(django_user_model):
    def make(username: str, *, superuser: bool = False, can_create: bool = True, password="pw-Secret-123"):
        if superuser:
            return django_user_model.objects.create_superuser(username=username, password=password)
        user = django_user_model.objects.create_user(username=username, password=password)
        if can_create:
            from django.contrib.auth.models import Permission

            user.user_permissions.add(Permission.objects.get(codename="add_election"))
        return user
    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def api(alice) -> APIClient:
    """An API client authenticated as alice (who may create elections)."""
    client = APIClient()
    client.force_authenticate(alice)
    return client


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client
