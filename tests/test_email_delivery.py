"""Email delivery with a real worker on the email queue and a real SMTP server (aiosmtpd).

Each test waits for the real effect with short bounded waits; no eager mode.
"""

from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from elections.models import ElectionGrant
from elections.services import create_election
from notifications import delivery, services
from notifications.models import MessageState, OutboxMessage
from scheduling import configuring
from tests.helpers import event, in_seconds, status_of
from tests.processes import wait_until
from tests.smtp_server import SmtpServer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EVIL = "<b>Board</b> & <script>x()</script>"


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def templates(transactional_db):
    """The default templates (a transactional test starts from empty tables)."""
    services.install_default_templates()


@pytest.fixture
def email_worker(start_celery, isolated_celery):
    """Factory: a worker consuming only the email queue, sending to ``url``."""
    def start(url: str, concurrency: int = 1, env: dict | None = None):
        queue = isolated_celery["email_queue"]
        return start_celery("worker", ["-Q", queue, "--concurrency", str(concurrency)],
                            env={"EMAIL_URL": url, **(env or {})})
    return start


def voters(election, count: int, prefix: str = "voter") -> list:
    """``count`` users with an address and the view grant on ``election``."""
    User = get_user_model()
    User.objects.bulk_create([User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.org",
                                   password="!") for i in range(count)], batch_size=2000)
    users = list(User.objects.filter(username__startswith=prefix).order_by("pk"))
    ElectionGrant.objects.bulk_create([ElectionGrant(user=u, election=election, permission="view")
                                       for u in users], batch_size=2000)
    return users


def send(election, users, cause="run:1", **kwargs):
    with transaction.atomic():  # delivery is published when this commits
        return services.queue_emails(template_name="voting-opened", election=election, users=users,
                                     cause=cause, cause_label="voting opened", **kwargs)


def states() -> Counter:
    return Counter(OutboxMessage.objects.values_list("state", flat=True))


def test_worker_delivers_with_the_right_headers_and_escaped_content(alice, email_worker, smtp_server):
    election = create_election(title=EVIL, created_by=alice)
    [bob] = voters(election, 1, "bob")
    email_worker(smtp_server.url)
    send(election, [bob], unsubscribe_scope="automation:1", unsubscribe_label="opened")
    wait_until(lambda: smtp_server.handler.count() == 1, 30, message="the message at the server")
    [message] = smtp_server.handler.messages()
    row = OutboxMessage.objects.get()
    wait_until(lambda: OutboxMessage.objects.get().state == MessageState.SENT, 10, message="row marked sent")
    assert message["Message-ID"] == row.message_id and message["To"] == "bob0@example.org"
    assert message["Subject"] == f"Voting is open: {EVIL}"
    assert message["List-Unsubscribe"] == row.headers["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;b&gt;Board&lt;/b&gt; &amp; &lt;script&gt;" in html
    assert EVIL in message.get_body(("plain",)).get_content()


def test_server_down_then_up_delivers_late_and_once(alice, email_worker, start_celery):
    server = SmtpServer()  # not started: connection refused
    election = create_election(title="General", created_by=alice)
    users = voters(election, 3)
    email_worker(server.url)
    start_celery("beat")
    send(election, users)
    wait_until(lambda: OutboxMessage.objects.filter(error__contains="cannot connect").count() == 3, 30,
               message="every message postponed with the connection error")
    assert states() == {"queued": 3}
    server.start()
    try:
        wait_until(lambda: states() == {"sent": 3}, 60, message="all sent once the server is back")
        assert server.handler.count() == 3
        assert {m["To"] for m in server.handler.messages()} == {u.email for u in users}
        rows = list(OutboxMessage.objects.all())
        assert all(m.sent_at > m.created_at for m in rows)
        # The one that met the closed port was tried again; the rest of its batch waited untried.
        assert max(m.attempts for m in rows) >= 2
    finally:
        server.stop()


def test_a_4xx_is_retried_then_delivered(alice, email_worker, start_celery, smtp_server):
    smtp_server.handler.replies = ["451 4.7.1 greylisted, try again"]
    election = create_election(title="General", created_by=alice)
    users = voters(election, 1)
    email_worker(smtp_server.url)
    start_celery("beat")
    send(election, users)
    wait_until(lambda: states() == {"sent": 1}, 60, message="the retry delivered")
    row = OutboxMessage.objects.get()
    assert row.attempts == 2 and smtp_server.handler.count() == 1


def test_a_5xx_fails_at_once_with_the_reply_and_is_not_retried(alice, email_worker, smtp_server):
    smtp_server.handler.replies = ["550 5.1.1 mailbox unavailable"]
    election = create_election(title="General", created_by=alice)
    users = voters(election, 1)
    email_worker(smtp_server.url)
    send(election, users)
    wait_until(lambda: states() == {"failed": 1}, 30, message="the message failed")
    row = OutboxMessage.objects.get()
    assert row.attempts == 1 and row.error.startswith("550 5.1.1 mailbox unavailable")
    assert delivery.sweep() == 0  # nothing due: a failed message is never tried again
    assert smtp_server.handler.count() == 0


@pytest.mark.faults
def test_worker_killed_mid_batch_every_recipient_gets_it_duplicates_only_in_flight(
        alice, email_worker, start_celery, smtp_server):
    smtp_server.handler.delay = 0.005
    election = create_election(title="General", created_by=alice)
    users = voters(election, 1000)
    worker = email_worker(smtp_server.url)
    send(election, users)
    wait_until(lambda: smtp_server.handler.count() >= 300, 60, message="300 messages at the server")
    worker.kill()
    at_kill = smtp_server.handler.count()
    assert at_kill < 1000
    email_worker(smtp_server.url)
    start_celery("beat")
    wait_until(lambda: states() == {"sent": 1000}, 120, message="every message sent after the crash")
    received = smtp_server.handler.messages()
    assert {m["To"] for m in received} == {u.email for u in users}
    by_id = Counter(m["Message-ID"] for m in received)
    duplicated = [mid for mid, n in by_id.items() if n > 1]
    assert len(duplicated) <= 1, duplicated  # only the message in flight at the kill
    assert set(by_id) == set(OutboxMessage.objects.values_list("message_id", flat=True))


@pytest.mark.faults
def test_a_status_change_is_on_time_while_10000_messages_wait_on_a_slow_server(
        alice, email_worker, worker, beat, smtp_server, settings):
    settings.EMAIL_REDELIVER_AFTER_SECONDS = 600  # the flood is slow by design: no re-publishing in this test
    smtp_server.handler.delay = 0.02
    election = create_election(title="General", created_by=alice)
    users = voters(election, 10_000)
    email_worker(smtp_server.url, env={"EMAIL_REDELIVER_AFTER_SECONDS": "600"})
    result = send(election, users)
    assert result.queued == 10_000
    configuring.configure(election, {"start_voting": in_seconds(3)}, actor=alice, replace=True)
    pending = election.scheduled_events.get(state="pending")
    wait_until(lambda: status_of(election.pk) == "started", 30, message="the election started")
    assert states()[MessageState.SENT] < 10_000  # the flood was still going on
    fired = event(pending.pk)
    assert fired.state == "done"
    print(f"lateness during the flood: {fired.lateness.total_seconds():.3f} s")
