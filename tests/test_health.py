"""GET /healthz: ``ok``/``down`` for anyone, reused for a few seconds; details for a staff token only.

No answer ever holds the broker's URI, a credential or an exception's text; a broker
that is down makes the answer ``down`` without kombu's retry waits.
"""

import threading

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config import health

pytestmark = pytest.mark.django_db
SECRET = "hunter2"


@pytest.fixture(autouse=True)
def fresh_summary():
    health.summary.clear()
    yield
    health.summary.clear()


def token_client(user) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")


@pytest.fixture
def staff(make_user) -> APIClient:
    user = make_user("operator", can_create=False)
    user.is_staff = True
    user.save()
    return token_client(user)


def transport() -> str:
    return settings.CELERY_BROKER_URL.split("://")[0]


def assert_nothing_leaks(body: str) -> None:
    for secret in (settings.CELERY_BROKER_URL, "://", "guest", SECRET):
        assert secret not in body, f"{secret!r} in {body}"


def test_anonymous_callers_get_only_ok_or_down():
    response = APIClient().get("/healthz")
    assert response.status_code in (200, 503)
    assert response.json() == {"status": "ok" if response.status_code == 200 else "down"}
    assert_nothing_leaks(response.content.decode())


def test_anonymous_answers_are_computed_once_every_few_seconds(monkeypatch):
    calls = []
    monkeypatch.setattr(health, "CHECKS", [("counted", lambda: calls.append(1) or (True, "fine"))])
    clock = [1000.0]
    monkeypatch.setattr(health.time, "monotonic", lambda: clock[0])
    client = APIClient()

    answers = [client.get("/healthz") for _ in range(6)]  # six pollers
    assert [(a.status_code, a.json()) for a in answers] == [(200, {"status": "ok"})] * 6
    assert len(calls) == 1
    clock[0] += health.SUMMARY_TTL_SECONDS
    assert client.get("/healthz").status_code == 200 and len(calls) == 2


def test_while_one_caller_refreshes_the_others_get_the_last_answer_at_once(monkeypatch):
    entered, gate = threading.Event(), threading.Event()
    answers = iter([True, False])

    def slow_second_time():
        ok = next(answers)
        if not ok:
            entered.set()
            gate.wait(5)  # the refresh takes a while (a broker slow to answer)
        return ok, "as it is"

    monkeypatch.setattr(health, "CHECKS", [("slow", slow_second_time)])
    clock = [1000.0]
    monkeypatch.setattr(health.time, "monotonic", lambda: clock[0])
    assert health.summary.healthy() is True
    clock[0] += health.SUMMARY_TTL_SECONDS
    refreshing = []
    thread = threading.Thread(target=lambda: refreshing.append(health.summary.healthy()))
    thread.start()
    assert entered.wait(5)
    assert health.summary.healthy() is True  # the last answer, without waiting for the refresh
    gate.set()
    thread.join(5)
    assert refreshing == [False] and health.summary.healthy() is False


def test_a_staff_token_gets_each_check_in_words(staff):
    response = staff.get("/healthz")
    assert response.status_code in (200, 503)
    body = response.json()
    assert list(body["checks"]) == ["database", "broker", "workers", "planner", "activity_log"]
    assert body["checks"]["database"] == {"ok": True, "detail": f"reachable ({connection.vendor})"}
    assert body["checks"]["broker"] == {"ok": True, "detail": f"reachable ({transport()})"}
    # Workers and planner depend on what else runs on this broker; the status follows all four.
    healthy = all(check["ok"] for check in body["checks"].values())
    assert (body["status"], response.status_code) == (("ok", 200) if healthy else ("down", 503))
    assert_nothing_leaks(response.content.decode())


def test_a_failing_check_is_named_by_its_error_type_only(staff, monkeypatch):
    def leaky():
        raise OperationalError(f'connection to "db.internal" failed: password={SECRET}')

    monkeypatch.setattr(health, "CHECKS", [*health.CHECKS, ("leaky", leaky)])
    response = staff.get("/healthz")
    assert response.json()["checks"]["leaky"] == {"ok": False, "detail": "error (OperationalError)"}
    assert_nothing_leaks(response.content.decode())

    def refused():
        raise OperationalError(f"FATAL: password authentication failed: {SECRET}")

    monkeypatch.setattr(connection, "cursor", refused)
    assert health.check_database() == (False, f"unreachable ({connection.vendor})")


def test_a_broker_that_is_down_is_reported_at_once_without_retry_waits(staff, monkeypatch):
    import kombu.utils.functional

    sleeps = []
    monkeypatch.setattr(kombu.utils.functional, "sleep", sleeps.append)
    down = f"amqp://admin:{SECRET}@127.0.0.1:1//"
    monkeypatch.setenv("CELERY_BROKER_URL", down)  # Celery's conf.broker_url reads it first, every time

    anonymous = APIClient().get("/healthz")
    assert (anonymous.status_code, anonymous.json()) == (503, {"status": "down"})
    details = staff.get("/healthz")
    checks = details.json()["checks"]
    assert checks["broker"] == {"ok": False, "detail": "unreachable (amqp)"}
    assert checks["workers"] == {"ok": False, "detail": "not checked: broker unreachable"}
    assert sleeps == []  # one connection attempt per check, no retry schedule
    assert_nothing_leaks(details.content.decode() + anonymous.content.decode())
    assert "127.0.0.1:1" not in details.content.decode()


def test_details_need_a_valid_token_of_a_staff_user(make_user):
    ordinary = token_client(make_user("voter", can_create=False)).get("/healthz")
    assert ordinary.status_code == 403 and "staff" in ordinary.json()["detail"]
    assert "checks" not in ordinary.json()
    invalid = APIClient(HTTP_AUTHORIZATION="Token not-a-token").get("/healthz")
    assert invalid.status_code == 401 and "checks" not in invalid.json()
