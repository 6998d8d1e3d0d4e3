"""Automations that send email, end to end: a scheduling worker, an email worker, beat, aiosmtpd.

What a person checks: the message arrives at the mail server once, at its time, with the
one-click way out; it follows the end of voting when that moves; unsubscribing stops the
next message to that person only; a summary says how the tree stands. Waits are short
and bounded; "never at the old time" is checked when the message arrives, after it.
"""

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client

from activity_log.models import Action, ActivityEntry
from elections.models import Election, ElectionGrant, StatusAction
from elections.services import apply_transition, create_election
from notifications import services as email_services
from notifications.models import OutboxMessage, Unsubscribe
from scheduling.models import Kind, ScheduledEvent, State
from tests.helpers import in_seconds, iso
from tests.processes import CeleryProcess, wait_until
from tests.smtp_server import SmtpServer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EVIL = "<b>Board</b> & <script>x()</script>"


@pytest.fixture(autouse=True)
def templates(transactional_db):
    email_services.install_default_templates()  # a transactional test starts from empty tables


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def processes(celery_env, celery_run_dir, isolated_celery, smtp_server):
    """A scheduling worker, an email worker sending to the test server, and beat, started at once.

    The worker that runs the automation signs the unsubscribe links: it shares the web's
    ``SECRET_KEY``, as it must in production (the processes here have their own DATA_DIR).
    """
    env = {**celery_env, "SECRET_KEY": settings.SECRET_KEY}
    started = [CeleryProcess("worker", env, celery_run_dir),
               CeleryProcess("worker", {**env, "EMAIL_URL": smtp_server.url}, celery_run_dir,
                             ["-Q", isolated_celery["email_queue"], "--concurrency", "1"]),
               CeleryProcess("beat", env, celery_run_dir)]
    with ThreadPoolExecutor(len(started)) as pool:
        try:
            list(pool.map(lambda process: process.start(), started))
            yield started
        finally:
            # The test is over: a worker still restoring its unacknowledged messages after
            # 5 s is killed (its queue is this run's own; the next test's guard ignores them).
            list(pool.map(lambda process: process.stop(timeout=5), started))


def observers(election, *names) -> Group:
    """A group ``observers`` of users with an address and the view grant on ``election``."""
    group = Group.objects.create(name="observers")
    for name in names:
        user = get_user_model().objects.create_user(name, email=f"{name}@example.org")
        user.groups.add(group)
        ElectionGrant.objects.create(user=user, election=election, permission="view")
    return group


def new_election(api, title="General", **config) -> Election:
    response = api.post("/api/elections/", {"title": title, **config}, format="json")
    assert response.status_code == 201, response.content
    return Election.objects.get(pk=response.json()["id"])


def add(api, election, when, operations=None, **fields) -> int:
    response = api.post(f"/api/elections/{election.pk}/automations/", {
        "name": "Remind observers", "when": when,
        "operations": operations or {"send_email": {"template": "voting-closes-soon"}},
        "recipients": {"groups": ["observers"]}, **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def runs_of(automation_id) -> list[ScheduledEvent]:
    return list(ScheduledEvent.objects.filter(kind=Kind.AUTOMATION, automation_id=automation_id)
                .order_by("id"))


def arrived(server, count: int, timeout: float = 25):
    wait_until(lambda: server.handler.count() >= count, timeout, message=f"{count} message(s) at the server")
    return server.handler.messages()


def test_a_reminder_before_voting_closes_arrives_once_with_the_way_out(api, processes, smtp_server):
    election = new_election(api, title=EVIL, scheduled_events={
        "start_voting": {"event_at": iso(in_seconds(2))}, "end_voting": {"event_at": iso(in_seconds(9))}})
    observers(election, "bob")
    (run,) = runs_of(add(api, election, {"before": "end_voting", "offset": "PT5S"}))
    assert run.state == State.PENDING
    [message] = arrived(smtp_server, 1)
    run.refresh_from_db()
    assert run.state == State.DONE and run.executed_at >= run.event_at
    assert run.result["recipients"] == 1 and run.result["emails_queued"] == 1
    assert message["To"] == "bob@example.org" and message["Subject"] == f"Voting closes soon: {EVIL}"
    link = message["List-Unsubscribe"].strip("<>")
    assert urlparse(link).path.startswith("/email/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;b&gt;Board&lt;/b&gt; &amp; &lt;script&gt;" in html
    text = message.get_body(("plain",)).get_content()
    assert link in text
    # The schedule lists voting events only, never the automation's own run (same table).
    assert "- End of voting: " in text and "- automation" not in text
    # Voting closes after the reminder; nothing else arrives.
    end = ScheduledEvent.objects.get(election=election, kind=Kind.END_VOTING)
    wait_until(lambda: ScheduledEvent.objects.get(pk=end.pk).state != State.PENDING, 15,
               message="voting to close")
    assert smtp_server.handler.count() == 1 and OutboxMessage.objects.count() == 1


def test_when_the_end_moves_later_the_reminder_arrives_once_after_the_new_time(api, processes, smtp_server):
    election = new_election(api, scheduled_events={"end_voting": {"event_at": iso(in_seconds(9))}})
    observers(election, "bob")
    (old,) = runs_of(add(api, election, {"before": "end_voting", "offset": "PT5S"}))
    moved = api.patch(f"/api/elections/{election.pk}/scheduled-events/",
                      {"end_voting": {"event_at": iso(in_seconds(15))}}, format="json")
    assert moved.status_code == 200, moved.content
    (_, new) = runs_of(old.automation_id)
    [message] = arrived(smtp_server, 1)
    row = OutboxMessage.objects.get()
    assert row.cause.startswith(f"run:{new.task_id}") and row.sent_at >= new.event_at
    old.refresh_from_db()
    assert old.state == State.SUPERSEDED and old.executed_at is None
    assert smtp_server.handler.count() == 1 and message["To"] == "bob@example.org"


def test_unsubscribing_stops_the_next_message_to_that_person_only(api, processes, smtp_server):
    election = new_election(api)
    observers(election, "bob", "carol")
    automation = add(api, election, {"at": iso(in_seconds(3))})
    first = arrived(smtp_server, 2)
    link = next(m for m in first if m["To"] == "bob@example.org")["List-Unsubscribe"].strip("<>")
    browser = Client()  # the mail program: no session, no CSRF token
    assert browser.get(urlparse(link).path).status_code == 200 and not Unsubscribe.objects.exists()
    assert browser.post(urlparse(link).path, {"List-Unsubscribe": "One-Click"}).status_code == 200
    (stop,) = Unsubscribe.objects.all()
    assert stop.user.username == "bob" and stop.scope_label == "Remind observers"
    # The next run of the same automation (rescheduled): carol only, bob counted as unsubscribed.
    changed = api.patch(f"/api/elections/{election.pk}/automations/{automation}/",
                        {"when": {"at": iso(in_seconds(3))}}, format="json")
    assert changed.status_code == 200, changed.content
    second = runs_of(automation)[-1]
    wait_until(lambda: ScheduledEvent.objects.get(pk=second.pk).state == State.DONE, 20,
               message="the second run")
    messages = arrived(smtp_server, 3)
    assert [m["To"] for m in messages].count("carol@example.org") == 2
    assert [m["To"] for m in messages].count("bob@example.org") == 1
    second.refresh_from_db()
    assert second.result["operations"]["send_email"]["left_out"] == {"unsubscribed": 1}
    log = ActivityEntry.objects.get(action=Action.EMAILS_QUEUED,
                                    metadata__cause__startswith=f"run:{second.task_id}")
    assert log.metadata["unsubscribed"] == ["bob"] and log.metadata["queued"] == 1
    wait_until(lambda: OutboxMessage.objects.filter(state="sent").count() == 3, 10, message="rows sent")
    assert smtp_server.handler.count() == 3


def test_a_summary_arrives_with_the_trees_statuses(api, alice, processes, smtp_server):
    election = new_election(api, title="Council")
    for title in ("Ward 1", "Ward 2"):
        create_election(title=title, parent=election, created_by=alice)
    ward = Election.objects.get(title="Ward 1")
    with transaction.atomic():
        apply_transition(ward, StatusAction.START, actor=alice)
    observers(election, "bob")
    add(api, election, {"at": iso(in_seconds(3))}, name="Weekly summary", operations={"send_summary": {}})
    [message] = arrived(smtp_server, 1)
    text = message.get_body(("plain",)).get_content()
    assert message["Subject"] == "Summary: Council"
    assert "Its 3 elections: 2 not started, 1 started." in text
    assert "Recent activity:" in text and "Ward 1" in text
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_global_welcome_goes_to_the_new_user(make_user, processes, smtp_server):
    root = make_user("root", superuser=True)
    from tests.conftest import client_for

    response = client_for(root).post("/api/automations/", {
        "name": "Welcome", "when": {"on": "user.created"},
        "operations": {"send_email": {"template": "welcome"}}}, format="json")
    assert response.status_code == 201, response.content
    get_user_model().objects.create_user("newcomer", email="newcomer@example.org")
    [message] = arrived(smtp_server, 1)
    assert message["To"] == "newcomer@example.org" and message["Subject"] == "Welcome"
    assert "Your account newcomer is ready" in message.get_body(("plain",)).get_content()
    assert OutboxMessage.objects.get().election_id is None


def test_an_unknown_template_is_refused_naming_the_field(api):
    election = new_election(api)
    response = api.post(f"/api/elections/{election.pk}/automations/", {
        "name": "x", "when": {"at": iso(in_seconds(3600))},
        "operations": {"send_email": {"template": "nope"}}}, format="json")
    assert response.status_code == 400
    [message] = response.json()["operations.send_email.template"]
    assert "nope" in message and "voting-closes-soon" in message
    assert not runs_of_election(election)


def test_the_flags_decide_for_deactivated_accounts_and_the_spec_for_user_runs(alice):
    """Without workers: the operation on a run row, in a transaction, as the engine calls it."""
    from types import SimpleNamespace

    from django.utils import timezone

    from notifications.operations import send_email

    election = create_election(title="General", created_by=alice)
    observers(election, "bob", "dora")
    get_user_model().objects.filter(username="dora").update(is_active=False)
    run = ScheduledEvent(task_id="t1", kind=Kind.AUTOMATION, election=election, event_at=timezone.now(),
                         payload={"automation": {"id": 1, "uid": "u1", "name": "Tell deactivated"},
                                  "recipients": {"groups": ["observers"], "only_inactivated_users": True}})
    with transaction.atomic():
        counts = send_email(SimpleNamespace(run=run, election=election, now=timezone.now()),
                            {"template": "voting-opened"})
    assert counts == {"recipients": 1, "emails_queued": 1, "left_out": {"active": 1}}
    assert list(OutboxMessage.objects.values_list("address", flat=True)) == ["dora@example.org"]


def runs_of_election(election) -> list[ScheduledEvent]:
    return list(ScheduledEvent.objects.filter(kind=Kind.AUTOMATION, election=election))


def test_migration_0004_upgrades_unedited_defaults_and_leaves_edited_ones():
    from importlib import import_module

    from django.apps import apps

    from notifications.defaults import DEFAULT_TEMPLATES
    from notifications.models import EmailTemplate

    migration = import_module("notifications.migrations.0004_automation_templates")
    EmailTemplate.objects.filter(name="welcome").update(**migration.OLD["welcome"])
    EmailTemplate.objects.filter(name="election-summary").update(subject="Our own {{ election.title }}")
    migration.upgrade(apps, None)
    welcome = EmailTemplate.objects.get(name="welcome")
    assert (welcome.subject, welcome.text) == (DEFAULT_TEMPLATES["welcome"]["subject"],
                                               DEFAULT_TEMPLATES["welcome"]["text"])
    assert EmailTemplate.objects.get(name="election-summary").subject == "Our own {{ election.title }}"
