"""Email without a worker: EMAIL_URL, templates and their API, time zones, the outbox, alerts, unsubscribe.

Delivery runs in-process here against a real SMTP server (aiosmtpd); tests with a
real worker are in test_email_delivery.py.
"""

import email
import subprocess
import sys
from datetime import timedelta
from email.policy import default
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone

from activity_log.models import Action, ActivityEntry
from activity_log.presentation import describe
from config.email_url import parse_email_url
from elections.models import Election
from elections.services import create_election, grant
from notifications import delivery, services
from notifications.models import EmailTemplate, MessageState, OutboxMessage, Unsubscribe
from notifications.unsubscribe import make_token
from scheduling import configuring, executing
from scheduling.models import ScheduledEvent
from tests.conftest import client_for
from tests.smtp_server import SmtpServer

pytestmark = pytest.mark.django_db

EVIL = "<script>alert(1)</script> & Co"
DEFAULT_NAMES = {"voting-opens-soon", "voting-closes-soon", "voting-opened", "voting-closed",
                 "election-summary", "event-alert", "welcome"}


@pytest.fixture
def people(make_user):
    """alice edits, bob views, carol has no grant, dave views but has no address, root is superuser."""
    users = {name: make_user(name) for name in ("alice", "bob", "carol", "dave")}
    users["root"] = make_user("root", superuser=True)
    for name, user in users.items():
        user.email = "" if name == "dave" else f"{name}@example.org"
        user.first_name = name.title()
        user.save()
    return users


@pytest.fixture
def election(people):
    election = create_election(title=EVIL, created_by=people["alice"])
    grant(people["bob"], election, "view")
    grant(people["dave"], election, "view")
    return election


def queue(election, users, cause="run:1", **kwargs):
    kwargs.setdefault("template_name", "voting-closes-soon")
    return services.queue_emails(election=election, users=users, cause=cause,
                                 cause_label="voting closes soon", **kwargs)


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


# --- EMAIL_URL ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://u:p%40ss@mail.example.org:2525", ("smtp", "mail.example.org", 2525, "u", "p@ss", False, False)),
    ("smtp+tls://u:p@mail.example.org", ("smtp", "mail.example.org", 587, "u", "p", True, False)),
    ("smtp+ssl://mail.example.org", ("smtp", "mail.example.org", 465, "", "", False, True)),
])
def test_email_url_smtp_forms(url, expected):
    c = parse_email_url(url, data_dir=Path("/d"))
    assert (c.transport, c.host, c.port, c.username, c.password, c.use_tls, c.use_ssl) == expected
    assert "p@ss" not in c.describe() and "p" + "@" not in c.describe().split("//")[1].split("@")[0][1:]


def test_email_url_default_console_and_file():
    assert parse_email_url("", data_dir=Path("/d")).path == "/d/outbox"
    assert parse_email_url("console://", data_dir=Path("/d")).transport == "console"
    assert parse_email_url("file:///var/mail/out", data_dir=Path("/d")).path == "/var/mail/out"


@pytest.mark.parametrize("url", ["http://x", "smtp://mail:abc", "smtp://", "mail.example.org", "file://"])
def test_malformed_email_url_is_refused(url):
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL"):
        parse_email_url(url, data_dir=Path("/d"))


def test_app_refuses_to_start_with_a_malformed_email_url(tmp_path):
    result = subprocess.run([sys.executable, "manage.py", "check"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "EMAIL_URL": "smtp://mail:notaport",
                                 "DATA_DIR": str(tmp_path)}, cwd=Path(__file__).parent.parent, timeout=60)
    assert result.returncode != 0
    assert "EMAIL_URL is malformed" in result.stderr


# --- templates and their API ----------------------------------------------------------------------

def test_default_templates_are_installed_and_listed(api):
    assert set(EmailTemplate.objects.values_list("name", flat=True)) == DEFAULT_NAMES
    response = api.get("/api/email-templates/")
    assert response.status_code == 200
    assert {t["name"] for t in response.json()["results"]} == DEFAULT_NAMES
    assert api.get("/api/email-templates/nope/").status_code == 404


def test_put_needs_the_change_permission(people):
    response = client_for(people["alice"]).put("/api/email-templates/welcome/",
                                               {"subject": "x", "text": "y"}, format="json")
    assert response.status_code == 403
    assert EmailTemplate.objects.get(name="welcome").subject != "x"


def test_put_stores_a_template_that_renders(people):
    response = client_for(people["root"]).put(
        "/api/email-templates/welcome/",
        {"subject": "Hi {{ recipient.name }}", "text": "Body {{ election.title }}", "html": ""},
        format="json")
    assert response.status_code == 200, response.json()
    assert EmailTemplate.objects.get(name="welcome").subject == "Hi {{ recipient.name }}"


@pytest.mark.parametrize(("field", "source", "words"), [
    ("text", "Hello\n{% frobnicate %}", "Line 2"),
    ("html", "<p>\n\n{% if %}</p>", "Line 3"),
    ("subject", "{{ election.title|nosuchfilter }}", "nosuchfilter"),
    ("text", "x" * 200_001, "at most 200000"),
])
def test_put_refuses_a_template_that_does_not_render(people, field, source, words):
    before = EmailTemplate.objects.get(name="welcome")
    body = {"subject": "s", "text": "t", "html": "", field: source}
    response = client_for(people["root"]).put("/api/email-templates/welcome/", body, format="json")
    assert response.status_code == 400
    assert words in response.json()[field][0]
    after = EmailTemplate.objects.get(name="welcome")
    assert (after.subject, after.text, after.html) == (before.subject, before.text, before.html)


def test_preview_renders_for_an_election_in_its_time_zone_and_utc_escaping_html(people, election):
    Election.objects.filter(pk=election.pk).update(time_zone="Europe/Paris")
    configuring.configure(election, {"end_voting": timezone.now().replace(
        year=timezone.now().year + 1, month=7, day=1, hour=10, minute=0, second=0, microsecond=0)},
        actor=people["alice"], replace=True)
    response = client_for(people["bob"]).post("/api/email-templates/voting-closes-soon/preview/",
                                              {"election": election.pk}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert EVIL in body["subject"] and EVIL in body["text"]
    assert "<script>" not in body["html"] and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in body["html"]
    assert "12:00 CEST" in body["text"] and "10:00 UTC" in body["text"]
    # Bob chooses his own zone: his emails show it instead of the election's.
    services.set_time_zone(people["bob"], "America/New_York")
    text = client_for(people["bob"]).post("/api/email-templates/voting-closes-soon/preview/",
                                          {"election": election.pk}, format="json").json()["text"]
    assert "06:00 EDT" in text and "10:00 UTC" in text


def test_preview_needs_view_on_the_election(people, election):
    client = client_for(people["carol"])
    assert client.post("/api/email-templates/welcome/preview/", {"election": election.pk},
                       format="json").status_code == 404
    assert client.post("/api/email-templates/welcome/preview/", {"election": "x"},
                       format="json").status_code == 400


# --- the election's time zone ---------------------------------------------------------------------

def test_election_time_zone_from_the_configuration_children_inherit(api):
    children = [{"title": "C"}, {"title": "D", "time_zone": "Asia/Tokyo"}]
    response = api.post("/api/elections/", {"title": "T", "time_zone": "Europe/Paris", "children": children},
                        format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["time_zone"] == "Europe/Paris"
    zones = dict(Election.objects.filter(parent_id=response.json()["id"]).values_list("title", "time_zone"))
    assert zones == {"C": "Europe/Paris", "D": "Asia/Tokyo"}
    assert api.post("/api/elections/", {"title": "U"}, format="json").json()["time_zone"] == "UTC"


@pytest.mark.parametrize("zone", ["Mars/Olympus", 5, "", "../../etc/passwd"])
def test_unknown_time_zone_is_a_400_and_creates_nothing(api, zone):
    count = Election.objects.count()
    response = api.post("/api/elections/", {"title": "T", "time_zone": zone}, format="json")
    assert response.status_code == 400
    assert "time_zone" in response.json()
    assert Election.objects.count() == count


def test_patch_time_zone_needs_edit_and_a_known_zone(people, election):
    url = f"/api/elections/{election.pk}/"
    assert client_for(people["bob"]).patch(url, {"time_zone": "Asia/Tokyo"}, format="json").status_code == 403
    editor = client_for(people["alice"])
    for body in ({"time_zone": "Mars/Olympus"}, {"title": "x"}, {}):
        response = editor.patch(url, body, format="json")
        assert response.status_code == 400 and set(response.json()) <= {"time_zone", "title"}
    assert Election.objects.get(pk=election.pk).time_zone == "UTC"
    response = editor.patch(url, {"time_zone": "Asia/Tokyo"}, format="json")
    assert response.status_code == 200 and response.json()["time_zone"] == "Asia/Tokyo"


# --- queueing -------------------------------------------------------------------------------------

def test_queue_counts_who_gets_nothing_and_never_queues_twice(people, election):
    everyone = list(people.values())
    result = queue(election, everyone)
    assert result.queued == 3  # alice, bob, root
    assert result.no_address == ["dave"] and result.may_not_view == ["carol"]
    rows = OutboxMessage.objects.filter(cause="run:1")
    assert sorted(rows.values_list("address", flat=True)) == [
        "alice@example.org", "bob@example.org", "root@example.org"]
    assert len(set(rows.values_list("message_id", flat=True))) == 3
    entry = ActivityEntry.objects.filter(election_id=election.pk, action="emails_queued").get()
    assert entry.metadata["summary"] == ("queued 3 emails: voting closes soon; 1 without an address; "
                                         "1 may not view the election")
    again = queue(election, everyone)
    assert (again.queued, again.already_queued) == (0, 3)
    assert OutboxMessage.objects.filter(cause="run:1").count() == 3


def test_unknown_template_or_oversized_body_stores_and_sends_nothing(people, election, settings):
    with pytest.raises(Exception, match="No email template named 'nope'"):
        queue(election, [people["alice"]], template_name="nope")
    EmailTemplate.objects.filter(name="welcome").update(
        text="{% for c in election.title %}{{ election.title }}{% endfor %}", html="")
    settings.EMAIL_MAX_BODY_CHARS = 300  # the source fits, what it renders does not
    with pytest.raises(Exception, match="Renders to"):
        queue(election, [people["alice"]], template_name="welcome")
    assert not OutboxMessage.objects.exists()
    assert not ActivityEntry.objects.filter(action="emails_queued").exists()


def test_automation_messages_carry_a_one_click_way_out(people, election):
    queue(election, [people["bob"]], unsubscribe_scope="automation:abc", unsubscribe_label="Closing reminder")
    row = OutboxMessage.objects.get()
    link = row.headers["List-Unsubscribe"].strip("<>")
    assert row.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link in row.text and link in row.html
    path = link.split("127.0.0.1:8000", 1)[1]
    anonymous = Client()
    assert anonymous.get(path).status_code == 200  # a link scanner's GET changes nothing
    assert not Unsubscribe.objects.exists()
    response = anonymous.post(path, {"List-Unsubscribe": "One-Click"})  # RFC 8058, no session, no CSRF token
    assert response.status_code == 200
    assert Unsubscribe.objects.get().user == people["bob"]
    [stopped] = ActivityEntry.objects.filter(action=Action.EMAILS_STOPPED)
    assert stopped.actor_name == "bob" and describe(stopped) == "bob stopped the emails of Closing reminder"
    later = queue(election, [people["bob"]], cause="run:2", unsubscribe_scope="automation:abc")
    assert later.unsubscribed == ["bob"] and later.queued == 0
    # Undone on My settings: messages come again.
    web = Client()
    web.force_login(people["bob"])
    assert "Closing reminder" in web.get("/settings/").content.decode()
    web.post("/settings/", {"undo": Unsubscribe.objects.get().pk})
    [resumed] = ActivityEntry.objects.filter(action=Action.EMAILS_RESUMED)
    assert describe(resumed) == "bob resumed the emails of Closing reminder"
    assert queue(election, [people["bob"]], cause="run:3", unsubscribe_scope="automation:abc").queued == 1


def test_a_forged_unsubscribe_token_is_refused(people):
    token = make_token(people["bob"], "automation:abc")
    assert Client().post(f"/email/unsubscribe/{token[:-2]}xx/").status_code == 400
    assert not Unsubscribe.objects.exists()


def test_my_settings_time_zone(people):
    web = Client()
    web.force_login(people["bob"])
    web.post("/settings/", {"time_zone": "Europe/Paris"})
    assert people["bob"].notification_settings.time_zone == "Europe/Paris"
    web.post("/settings/", {"time_zone": "Mars/Olympus"})
    people["bob"].notification_settings.refresh_from_db()
    assert people["bob"].notification_settings.time_zone == "Europe/Paris"
    assert Client().get("/settings/").status_code == 302  # log in first


# --- delivery in-process, against a real SMTP server ----------------------------------------------

def use_server(settings, server):
    settings.EMAIL_CONFIG = parse_email_url(server.url, data_dir=Path("/unused"))


def test_delivery_headers_and_escaped_content(people, election, settings, smtp_server):
    use_server(settings, smtp_server)
    result = queue(election, [people["bob"]], unsubscribe_scope="automation:abc")
    assert delivery.deliver(result.ids) == {"sent": 1}
    [message] = smtp_server.handler.messages()
    row = OutboxMessage.objects.get()
    assert (row.state, row.attempts, row.error) == (MessageState.SENT, 1, "")
    assert message["Message-ID"] == row.message_id
    assert message["To"] == "bob@example.org"
    assert message["Subject"] == f"Voting closes soon: {EVIL}"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"] == row.headers["List-Unsubscribe"]
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert EVIL in message.get_body(("plain",)).get_content()


def test_a_4xx_is_retried_with_backoff_and_a_5xx_fails_at_once(people, election, settings, smtp_server):
    use_server(settings, smtp_server)
    smtp_server.handler.replies = ["451 4.3.0 try again later", "550 5.1.1 no such user"]
    result = queue(election, [people["alice"], people["bob"]])
    assert delivery.deliver(result.ids) == {"queued": 1, "failed": 1}
    first, second = OutboxMessage.objects.order_by("pk")
    assert first.state == MessageState.QUEUED and "451" in first.error
    assert first.next_attempt_at >= timezone.now() + timedelta(seconds=0.5)  # EMAIL_RETRY_FIRST_SECONDS=1
    assert second.state == MessageState.FAILED and second.error.startswith("550 5.1.1 no such user")
    failure = ActivityEntry.objects.get(action="email_failed")
    assert "550" in failure.metadata["summary"]
    # The sweep sends the retry once due, never the failed one.
    assert delivery.sweep(now=timezone.now() + timedelta(seconds=2)) == 1
    assert delivery.deliver([first.pk, second.pk]) == {"sent": 1, "skipped": 1}
    assert smtp_server.handler.count() == 1
    first.refresh_from_db()
    assert (first.state, first.attempts) == (MessageState.SENT, 2)


def test_server_down_postpones_the_whole_batch_then_it_is_delivered_once(people, election, settings):
    server = SmtpServer()
    use_server(settings, server)
    result = queue(election, [people["alice"], people["bob"], people["root"]])
    outcome = delivery.deliver(result.ids)
    assert outcome == {"queued": 1, "postponed": 2}  # one tried, the rest wait without trying
    assert all("cannot connect" in e for e in OutboxMessage.objects.values_list("error", flat=True))
    server.start()
    try:
        assert delivery.sweep(now=timezone.now() + timedelta(seconds=2)) == 3
        assert delivery.deliver(result.ids) == {"sent": 3}
        assert server.handler.count() == 3
    finally:
        server.stop()


def test_the_sweep_publishes_a_slow_backlog_again_less_and_less_often(people, election, settings):
    settings.EMAIL_REDELIVER_AFTER_SECONDS = 10
    queue(election, [people["alice"]])  # its task never runs: no worker here
    row = OutboxMessage.objects.get()
    assert delivery.sweep(now=row.next_attempt_at - timedelta(seconds=1)) == 0
    waits = []
    for _ in range(3):
        now = OutboxMessage.objects.get().next_attempt_at
        assert delivery.sweep(now=now) == 1
        waits.append((OutboxMessage.objects.get().next_attempt_at - now).total_seconds())
    assert waits == [20, 40, 80]
    assert OutboxMessage.objects.get().publishes == 4


def test_gives_up_after_the_limit(people, election, settings):
    use_server(settings, SmtpServer())
    settings.EMAIL_GIVE_UP_AFTER_SECONDS = 0
    result = queue(election, [people["alice"]])
    assert delivery.deliver(result.ids) == {"failed": 1}
    assert OutboxMessage.objects.get().error.startswith("gave up after 1 attempts")


def test_embedded_default_writes_eml_files_the_email_package_parses(people, election, settings, tmp_path):
    settings.EMAIL_CONFIG = parse_email_url("", data_dir=tmp_path)
    result = queue(election, [people["alice"], people["bob"]])
    assert delivery.deliver(result.ids) == {"sent": 2}
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    parsed = [email.message_from_bytes(f.read_bytes(), policy=default) for f in files]
    ids = set(OutboxMessage.objects.values_list("message_id", flat=True))
    assert {m["Message-ID"] for m in parsed} == ids
    assert all(m["Subject"] == f"Voting closes soon: {EVIL}" for m in parsed)


# --- alerts ---------------------------------------------------------------------------------------

def overdue(election, kind, seconds_ago, user):
    now = timezone.now()
    return ScheduledEvent.objects.create(election=election, kind=kind, next_dispatch_at=now,
                                         scheduled_by=user, event_at=now - timedelta(seconds=seconds_ago))


def alerts():
    return OutboxMessage.objects.filter(template_name="event-alert")


def test_a_skipped_event_alerts_each_editor_once(people, election):
    event = overdue(election, "end_voting", 5, people["alice"])  # not started: the end is skipped
    assert executing.execute_event(event.pk, event.task_id) == "skipped"
    assert sorted(alerts().values_list("address", flat=True)) == ["alice@example.org", "root@example.org"]
    text = alerts().first().text
    assert "was skipped" in text and "End of voting" in text and "What to do" in text
    assert "List-Unsubscribe" not in alerts().first().headers  # alerts cannot be turned off


def test_a_late_event_alerts_and_an_on_time_one_does_not(people, election, settings):
    settings.ALERT_LATE_SECONDS = 60
    event = overdue(election, "start_voting", 5, people["alice"])
    assert executing.execute_event(event.pk, event.task_id) == "done"
    assert not alerts().exists()
    event = overdue(election, "end_voting", 120, people["alice"])
    assert executing.execute_event(event.pk, event.task_id) == "done"
    assert alerts().count() == 2 and "ran late" in alerts().first().subject


def test_a_failed_event_alerts(people, election):
    event = overdue(election, "start_voting", 5, people["alice"])
    executing.record_failure(event.pk, event.task_id, RuntimeError("disk full"))
    assert alerts().count() == 2 and "disk full" in alerts().first().text


def test_one_alert_per_incident_for_a_whole_tree(people, election):
    children = [create_election(title=f"child {i}", parent=election) for i in range(150)]
    now = timezone.now()
    events = ScheduledEvent.objects.bulk_create([
        ScheduledEvent(election=child, kind="end_voting", event_at=now - timedelta(seconds=5),
                       next_dispatch_at=now) for child in children])
    for start in (0, 100):  # two deliveries of the same incident
        batch = [(e.pk, e.task_id) for e in events[start:start + 100]]
        assert set(executing.execute_events(batch).values()) == {"skipped"}
    assert sorted(alerts().values_list("address", flat=True)) == ["alice@example.org", "root@example.org"]
    assert "100 scheduled events was skipped" in alerts().first().subject or "100 scheduled events" in \
        alerts().first().subject


def test_an_editor_of_one_child_only_is_alerted_about_that_child(people, election, make_user):
    children = [create_election(title=f"child {i}", parent=election) for i in range(3)]
    erin = make_user("erin")
    erin.email = "erin@example.org"
    erin.save()
    grant(erin, children[1], "edit")
    now = timezone.now()
    events = ScheduledEvent.objects.bulk_create([
        ScheduledEvent(election=child, kind="end_voting", event_at=now - timedelta(seconds=5),
                       next_dispatch_at=now) for child in children])
    executing.execute_events([(e.pk, e.task_id) for e in events])
    assert sorted(alerts().values_list("address", flat=True)) == [
        "alice@example.org", "erin@example.org", "root@example.org"]
    mine = alerts().get(address="erin@example.org")
    assert mine.election_id == children[1].pk and "child 1" in mine.text
    assert "child 0" not in mine.text and EVIL not in mine.text  # nothing she may not view


def test_a_broken_alert_never_undoes_the_execution(people, election, monkeypatch):
    monkeypatch.setattr("notifications.alerts._alert_tree", lambda *a: 1 / 0)
    event = overdue(election, "end_voting", 5, people["alice"])
    assert executing.execute_event(event.pk, event.task_id) == "skipped"
    event.refresh_from_db()
    assert event.state == "skipped" and not alerts().exists()


# --- the outbox API and pages ---------------------------------------------------------------------

def test_outbox_api_needs_edit_or_superuser_and_filters_by_state(people, election):
    queue(election, [people["alice"], people["bob"]])
    OutboxMessage.objects.filter(address="bob@example.org").update(state="sent")
    url = f"/api/elections/{election.pk}/emails/"
    assert client_for(people["bob"]).get(url).status_code == 403
    assert client_for(people["carol"]).get(url).status_code == 404
    body = client_for(people["alice"]).get(url + "?state=sent").json()
    assert [m["address"] for m in body["results"]] == ["bob@example.org"]
    assert client_for(people["alice"]).get(url + "?state=lost").status_code == 400
    assert client_for(people["alice"]).get("/api/emails/").status_code == 403
    assert client_for(people["root"]).get("/api/emails/").json()["count"] == 2


def test_outbox_pages(people, election):
    queue(election, [people["bob"]])
    web = Client()
    web.force_login(people["alice"])
    page = web.get(f"/elections/{election.pk}/emails/").content.decode()
    assert "bob@example.org" in page and "<script>alert" not in page
    assert web.get("/emails/").status_code == 403
    web.force_login(people["bob"])
    assert web.get(f"/elections/{election.pk}/emails/").status_code == 403
    web.force_login(people["root"])
    assert "bob@example.org" in web.get("/emails/").content.decode()
