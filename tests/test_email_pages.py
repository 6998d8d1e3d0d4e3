"""The email pages' services, selectors and views without a browser: templates (edit, preview of
unsaved parts, send me a test), the outbox and one message (who may read it), My settings' resume.

The browser tests (with a real worker and SMTP server) are in tests/browser/test_email_pages.py."""

import pytest
from django.contrib.auth.models import Permission as DjangoPermission
from django.test import Client

from activity_log.models import Action, ActivityEntry
from automations.models import Automation
from elections.errors import InvalidInput
from elections.services import create_election, grant
from notifications import selectors, services
from notifications.models import EmailTemplate, MessageState, OutboxMessage, Unsubscribe
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def people(make_user):
    """alice edits the election and may edit templates; bob views it; carol has no grant; dave may
    edit templates but has no address; root is a superuser."""
    users = {name: make_user(name) for name in ("alice", "bob", "carol", "dave")}
    users["root"] = make_user("root", superuser=True)
    change = DjangoPermission.objects.get(codename="change_emailtemplate")
    for name, user in users.items():
        user.email = "" if name == "dave" else f"{name}@example.org"
        user.save()
        if name in ("alice", "dave"):
            user.user_permissions.add(change)
    return users


@pytest.fixture
def election(people):
    election = create_election(title="General", created_by=people["alice"])
    grant(people["bob"], election, "view")
    return election


def web(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def message(election, recipient, **fields) -> OutboxMessage:
    values = {"cause": f"run:{OutboxMessage.objects.count()}", "template_name": "welcome",
              "election_id": election.pk if election else None, "recipient": recipient,
              "address": recipient.email, "from_address": "e@localhost", "subject": "Hello",
              "text": "Hi", "html": "", "message_id": f"<{OutboxMessage.objects.count()}@localhost>",
              "next_attempt_at": "2030-01-01T00:00:00Z", **fields}
    return OutboxMessage.objects.create(**values)


# --- services ---------------------------------------------------------------------------------

def test_send_test_queues_the_saved_template_to_the_user_each_time(people, election,
                                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as published:
        first = services.send_test("voting-closes-soon", election, people["alice"])
        second = services.send_test("voting-closes-soon", election, people["alice"])
    assert (first.address, first.state, first.election_id) == ("alice@example.org", MessageState.QUEUED,
                                                                election.pk)
    assert "General" in first.subject and first.cause.startswith("test:voting-closes-soon:")
    assert first.pk != second.pk and len(published) == 2  # delivery published when each commits
    assert ActivityEntry.objects.filter(action=Action.EMAILS_QUEUED, election_id=election.pk).count() == 2


def test_send_test_renders_without_an_election_and_with_sample_summary(people):
    sent = services.send_test("election-summary", None, people["alice"])
    assert sent.election_id is None and sent.text.strip()


def test_send_test_needs_an_address_and_queues_nothing(people, election):
    with pytest.raises(InvalidInput) as error:
        services.send_test("welcome", election, people["dave"])
    assert "no email address" in error.value.detail["email"][0]
    with pytest.raises(InvalidInput) as error:
        services.send_test("no-such", election, people["alice"])
    assert "template" in error.value.detail
    assert not OutboxMessage.objects.exists()


def test_preview_parts_renders_unsaved_parts_and_names_the_line_that_fails(people, election):
    rendered = services.preview_parts("Hi {{ election.title }}", "For {{ recipient.name }}",
                                      f"<p>{{{{ election.title }}}}</p>{XSS}", election, people["alice"])
    assert rendered.subject == "Hi General" and rendered.text == "For alice"
    with pytest.raises(InvalidInput) as error:
        services.preview_parts("s", "ok\n{% if %}", "", election, people["alice"])
    assert list(error.value.detail) == ["text"] and error.value.detail["text"][0].startswith("Line 2:")


# --- the preview API with unsaved parts -----------------------------------------------------------

def test_preview_api_renders_an_edit_for_template_editors_only(people, election):
    url = "/api/email-templates/welcome/preview/"
    edit = {"election": election.pk, "subject": "New {{ election.title }}", "text": "t", "html": XSS}
    response = client_for(people["alice"]).post(url, edit, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["subject"] == "New General"
    assert response.json()["html"] == XSS  # the template's own markup: shown sandboxed by the pages
    assert client_for(people["bob"]).post(url, edit, format="json").status_code == 403
    assert client_for(people["bob"]).post(url, {"election": election.pk}, format="json").status_code == 200
    bad = client_for(people["alice"]).post(url, {**edit, "html": "{% for %}"}, format="json")
    assert bad.status_code == 400 and list(bad.json()) == ["html"]
    no_election = client_for(people["alice"]).post(url, {"subject": "x"}, format="json")
    assert no_election.status_code == 200
    assert EmailTemplate.objects.get(name="welcome").subject.startswith("Welcome")  # nothing saved


# --- selectors -------------------------------------------------------------------------------------

def test_message_for_superuser_recipient_and_editors_only(people, election):
    about = message(election, people["bob"])
    for name in ("root", "bob", "alice"):
        assert selectors.message_for(people[name], about.pk) == about
    from django.http import Http404
    for name in ("carol", "dave"):
        with pytest.raises(Http404):
            selectors.message_for(people[name], about.pk)
    orphan = message(None, people["bob"])  # no election: superuser and recipient only
    with pytest.raises(Http404):
        selectors.message_for(people["alice"], orphan.pk)
    with pytest.raises(Http404):
        selectors.message_for(people["root"], orphan.pk + 1000)


def test_template_uses_name_automations_only_of_elections_the_user_may_view(people, election):
    hidden = create_election(title="Secret", created_by=people["carol"])
    closing = {"send_email": {"template": "voting-closes-soon"}}
    for where, name, operations in ((election, "Closing reminder", closing),
                                    (hidden, "Secret reminder", closing),
                                    (election, "Weekly summary", {"send_summary": {}}),
                                    (None, XSS, {"send_email": {"template": "welcome"}})):
        Automation.objects.create(election=where, name=name, when={"at": "2030-01-01T00:00:00Z"},
                                  operations=operations)
    rows = {row.template.name: row.uses for row in selectors.templates_with_uses(people["bob"])}
    assert rows["voting-closes-soon"] == ["Automation “Closing reminder” of election “General”",
                                          "1 automation you may not see"]
    assert "Automation “Weekly summary” of election “General”" in rows["election-summary"]
    assert rows["welcome"] == ["1 automation you may not see"]  # global rules: superusers only
    as_root = {row.template.name: row.uses for row in selectors.templates_with_uses(people["root"])}
    assert as_root["welcome"] == [f"Automation “{XSS}” (global)"]
    assert rows["event-alert"] and rows["voting-opened"] == []


def test_unsubscribes_still_stopped_come_first(people):
    older = services.unsubscribe(people["bob"], "automation:a", "A")
    resumed = services.unsubscribe(people["bob"], "automation:b", "B")
    services.undo_unsubscribe(people["bob"], resumed.pk)
    services.unsubscribe(people["carol"], "automation:a", "A")
    assert [u.pk for u in selectors.unsubscribes_of(people["bob"])] == [older.pk, resumed.pk]


# --- pages -------------------------------------------------------------------------------------------

def test_template_pages_need_the_change_permission(people):
    for name in ("bob", "carol"):
        client = web(people[name])
        assert client.get("/email-templates/").status_code == 403
        assert client.get("/email-templates/welcome/").status_code == 403
        assert client.post("/email-templates/welcome/", {"subject": "x", "text": "y"}).status_code == 403
        assert client.post("/email-templates/welcome/test/").status_code == 403
    assert Client().get("/email-templates/").status_code == 302  # log in first
    assert web(people["alice"]).get("/email-templates/").status_code == 200
    assert web(people["root"]).get("/email-templates/nope/").status_code == 404
    assert not OutboxMessage.objects.exists()


def test_saving_a_template_that_does_not_render_is_a_400_beside_the_field(people, election):
    client = web(people["alice"])
    before = EmailTemplate.objects.get(name="welcome")
    response = client.post("/email-templates/welcome/",
                           {"subject": "S", "text": "a\n{% bogus %}", "html": ""})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="field-text-error">Line 2: Invalid block tag' in page
    assert EmailTemplate.objects.get(name="welcome").text == before.text
    response = client.post("/email-templates/welcome/", {"subject": "", "text": "ok", "html": ""})
    assert response.status_code == 400
    assert 'id="field-subject-error">This field may not be blank.' in response.content.decode()
    response = client.post("/email-templates/welcome/",
                           {"subject": "Hi {{ election.title }}", "text": "T", "html": ""})
    assert response.status_code == 302
    saved = EmailTemplate.objects.get(name="welcome")
    assert (saved.subject, saved.text, saved.updated_by) == ("Hi {{ election.title }}", "T", people["alice"])
    page = client.get(f"/email-templates/welcome/?election={election.pk}").content.decode()
    assert 'id="preview-subject">Hi General<' in page


def test_template_pages_need_csrf(people):
    client = web(people["alice"], enforce_csrf_checks=True)
    assert client.post("/email-templates/welcome/", {"subject": "x", "text": "y"}).status_code == 403
    assert client.post("/email-templates/welcome/test/").status_code == 403
    assert not OutboxMessage.objects.exists()


def test_send_me_a_test_page_queues_and_shows_the_message(people, election):
    client = web(people["alice"])
    response = client.post("/email-templates/voting-opened/test/", {"election": election.pk})
    sent = OutboxMessage.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/emails/{sent.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "queued to alice@example.org" in page and 'id="message-state">queued<' in page
    hidden = create_election(title="Secret", created_by=people["carol"])
    assert client.post("/email-templates/voting-opened/test/", {"election": hidden.pk}).status_code == 404
    response = web(people["dave"]).post("/email-templates/voting-opened/test/", {"election": ""}, follow=True)
    assert "no email address" in response.content.decode()
    assert OutboxMessage.objects.count() == 1


def test_outbox_pages_check_the_grant(people, election):
    message(election, people["bob"])
    assert web(people["carol"]).get(f"/elections/{election.pk}/emails/").status_code == 404
    assert web(people["bob"]).get(f"/elections/{election.pk}/emails/").status_code == 403
    assert web(people["alice"]).get(f"/elections/{election.pk}/emails/").status_code == 200
    assert web(people["alice"]).get("/emails/").status_code == 403
    assert web(people["root"]).get("/emails/?state=bogus").status_code == 200


def test_a_message_html_is_shown_escaped_in_a_sandboxed_frame(people, election):
    sent = message(election, people["bob"], subject=XSS, text=XSS, html=f"<p>{XSS}</p>", cause_label=XSS)
    page = web(people["alice"]).get(f"/emails/{sent.pk}/").content.decode()
    assert XSS not in page  # not as markup anywhere: escaped text, in the frame's srcdoc too
    assert ('sandbox="" title="HTML of the email" '
            'srcdoc="&lt;p&gt;&lt;img src=x onerror=alert(1)&gt;&lt;/p&gt;"') in page
    assert web(people["carol"]).get(f"/emails/{sent.pk}/").status_code == 404
    listing = web(people["alice"]).get(f"/elections/{election.pk}/emails/").content.decode()
    assert XSS not in listing and "&lt;img src=x onerror=alert(1)&gt;" in listing


def test_resume_on_my_settings_is_logged_and_only_for_ones_own(people):
    stopped = services.unsubscribe(people["bob"], "automation:abc", XSS)
    page = web(people["bob"]).get("/settings/").content.decode()
    assert XSS not in page and "Resume the emails of &lt;img" in page
    response = web(people["carol"]).post("/settings/", {"undo": stopped.pk}, follow=True)
    assert "Nothing to resume" in response.content.decode()
    assert Unsubscribe.objects.get().undone_at is None
    response = web(people["bob"]).post("/settings/", {"undo": stopped.pk}, follow=True)
    assert "Resumed" in response.content.decode() and Unsubscribe.objects.get().undone_at is not None
    assert ActivityEntry.objects.filter(action=Action.EMAILS_RESUMED, actor=people["bob"]).count() == 1
    for bad in ("x", "²", str(10**30), "-1"):  # a clear message, never a 500
        response = web(people["bob"]).post("/settings/", {"undo": bad}, follow=True)
        assert response.status_code == 200 and "Nothing to resume" in response.content.decode()


@pytest.mark.parametrize("bad", ["x", "²", str(10**30), "-1", "1.5"])
def test_a_bad_election_for_a_preview_or_a_test_is_named_and_nothing_is_queued(people, bad):
    client = web(people["alice"])
    page = client.get("/email-templates/welcome/", {"election": bad})
    assert page.status_code == 200
    assert 'id="field-election-error">Choose an election from the list, or none.' in page.content.decode()
    response = client.post("/email-templates/welcome/test/", {"election": bad}, follow=True)
    assert "Choose an election from the list, or none." in response.content.decode()
    assert not OutboxMessage.objects.exists()


def test_an_editor_reads_a_message_without_the_recipients_unsubscribe_token(people, election):
    from notifications.unsubscribe import read_token, unsubscribe_url

    link = unsubscribe_url(people["bob"], "automation:some-uid", "Closing soon")
    token = link.rsplit("/", 2)[-2]
    assert read_token(token)["u"] == people["bob"].pk
    sent = message(election, people["bob"], text=f"Stop: {link}", html=f'<a href="{link}">stop</a>',
                   headers={"List-Unsubscribe": f"<{link}>",
                            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    as_editor = web(people["alice"]).get(f"/emails/{sent.pk}/").content.decode()
    assert token not in as_editor and "/email/unsubscribe/[hidden]" in as_editor
    for reader in ("bob", "root"):  # the recipient and a superuser see what was sent
        assert token in web(people[reader]).get(f"/emails/{sent.pk}/").content.decode()
    assert token in OutboxMessage.objects.get(pk=sent.pk).text  # nothing stored was changed
