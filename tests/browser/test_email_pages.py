"""The email pages in headless Chromium (issue 13, "Other pages"): a template edit shows in the live
preview; "send me a test" goes through the outbox to a real SMTP server (aiosmtpd) by a real email
worker, and the outbox shows it sent; the outbox filters by state; an email's HTML never runs in the
page; another election's outbox is refused; a stopped automation is resumed on My settings.
Screenshots for the README with SCREENSHOTS=1."""

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission as DjangoPermission
from django.utils import timezone
from playwright.sync_api import expect

from activity_log.models import Action, ActivityEntry
from elections.services import create_election, grant
from notifications import services
from notifications.models import EmailTemplate, MessageState, OutboxMessage, Unsubscribe
from tests.processes import wait_until
from tests.smtp_server import SmtpServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(autouse=True)
def templates(transactional_db):
    """The default templates (a transactional test starts from empty tables)."""
    services.install_default_templates()


@pytest.fixture
def editor(alice):
    """alice, with an address and the permission to edit email templates."""
    alice.email = "alice@example.org"
    alice.save()
    alice.user_permissions.add(DjangoPermission.objects.get(codename="change_emailtemplate"))
    return alice


@pytest.fixture
def election(editor):
    return create_election(title="General", created_by=editor)


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


def outbox_row(election, recipient, state, subject, **fields) -> OutboxMessage:
    count = OutboxMessage.objects.count()
    return OutboxMessage.objects.create(**{
        "cause": f"run:{count}", "template_name": "welcome", "election_id": election.pk,
        "recipient": recipient,
        "address": recipient.email or "x@example.org", "from_address": "e@localhost", "subject": subject,
        "text": "Hi", "message_id": f"<{count}@localhost>", "state": state,
        "next_attempt_at": "2030-01-01T00:00:00Z", **fields})


def test_a_template_edit_shows_in_the_live_preview_with_errors_beside_the_field(editor, election, open_page):
    page = open_page(editor)
    page.get_by_role("link", name="Email templates").click()
    expect(page.locator("tr[data-template='event-alert']")).to_contain_text("Alerts to editors")
    page.get_by_role("link", name="voting-closes-soon", exact=True).click()
    page.get_by_label("Render for").select_option(str(election.pk))
    page.get_by_label("Subject").fill("Closing: {{ election.title }} for {{ recipient.username }}")
    expect(page.locator("#preview-subject")).to_have_text("Closing: General for alice")
    page.locator("#field-html").fill("<p class='x'>Bye {{ election.title }}</p>")
    expect(page.frame_locator("#preview-html").locator("p.x")).to_have_text("Bye General")
    page.get_by_label("Text", exact=True).fill("fine\n{% bogus %}")
    expect(page.locator("#field-text-error")).to_contain_text("Line 2: Invalid block tag")
    expect(page.get_by_label("Text", exact=True)).to_have_attribute("aria-invalid", "true")
    assert "Closing:" not in EmailTemplate.objects.get(name="voting-closes-soon").subject  # not saved
    page.get_by_label("Text", exact=True).fill("Bye\n{{ recipient.name }}")
    expect(page.locator("#field-text-error")).to_have_text("")
    expect(page.locator("#preview-text")).to_have_text("Bye\nalice")
    page.get_by_role("button", name="Save template").click()
    expect(page.locator("#notifications")).to_contain_text("Saved voting-closes-soon.")
    saved = EmailTemplate.objects.get(name="voting-closes-soon")
    assert saved.subject.startswith("Closing: {{ election.title }}")
    assert saved.text == "Bye\n{{ recipient.name }}"  # the browser's CRLF stored as a newline


def test_send_me_a_test_is_delivered_to_the_smtp_server_and_shown_sent(
        editor, election, open_page, start_celery, isolated_celery, smtp_server):
    start_celery("worker", ["-Q", isolated_celery["email_queue"]], env={"EMAIL_URL": smtp_server.url})
    page = open_page(editor)
    page.goto("/email-templates/voting-opened/")
    page.get_by_label("Render for").select_option(str(election.pk))
    expect(page.locator("#preview-subject")).to_contain_text("General")
    page.get_by_role("button", name="Send me a test").click()
    expect(page.locator("#notifications")).to_contain_text(
        "Test of voting-opened queued to alice@example.org")
    wait_until(lambda: smtp_server.handler.count() == 1, 30, message="the test at the SMTP server")
    [received] = smtp_server.handler.messages()
    assert received["To"] == "alice@example.org" and "General" in received["Subject"]
    wait_until(lambda: OutboxMessage.objects.filter(state=MessageState.SENT).exists(), 10,
               message="the row marked sent")
    page.reload()
    expect(page.locator("#message-state")).to_have_text("sent")
    page.goto(f"/elections/{election.pk}/")
    page.get_by_role("link", name="Emails", exact=True).click()
    row = page.locator("#outbox tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(received["Subject"])
    expect(row.locator(".badge")).to_have_text("sent")
    expect(row.locator("time")).to_have_count(2)  # queued and sent, each with UTC on hover


def test_the_outbox_filters_by_state(editor, election, open_page, make_user):
    for state, subject in ((MessageState.SENT, "Went out"), (MessageState.FAILED, "Bounced"),
                           (MessageState.QUEUED, "Waiting")):
        outbox_row(election, editor, state, subject,
                   error="550 5.1.1 mailbox unavailable" if state == MessageState.FAILED else "")
    page = open_page(editor)
    page.goto(f"/elections/{election.pk}/emails/")
    expect(page.locator("#outbox tbody tr")).to_have_count(3)
    page.get_by_role("navigation", name="Filter by state").get_by_role("link", name="failed").click()
    expect(page.locator("#outbox tbody tr")).to_have_count(1)
    expect(page.locator("#outbox tbody tr")).to_contain_text("550 5.1.1 mailbox unavailable")
    assert page.url.endswith("?state=failed")
    page.get_by_role("link", name="all", exact=True).click()
    expect(page.locator("#outbox tbody tr")).to_have_count(3)
    expect(page.locator("#outbox tbody tr").first).to_contain_text("Waiting")  # newest first


def test_html_in_an_email_never_runs_in_the_page(editor, election, open_page, make_user):
    outbox_row(election, editor, MessageState.SENT, XSS, html=f"<p>Hi</p>{XSS}", text=XSS,
                      cause_label=XSS)
    page = open_page(editor)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"/elections/{election.pk}/emails/")
    expect(page.locator("#outbox tbody tr")).to_contain_text(XSS)  # as text
    page.get_by_role("link", name=XSS).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(XSS)
    expect(page.locator("#message-text")).to_have_text(XSS)
    frame = page.locator("#message-html")
    expect(frame).to_have_attribute("sandbox", "")
    expect(page.frame_locator("#message-html").locator("p")).to_have_text("Hi")
    page.get_by_text("HTML source").click()
    expect(page.locator("#message-html-source")).to_have_text(f"<p>Hi</p>{XSS}")
    # the template preview too
    page.goto("/email-templates/welcome/")
    page.locator("#field-html").fill(f"<p class='y'>Preview</p>{XSS}")
    expect(page.frame_locator("#preview-html").locator("p.y")).to_have_text("Preview")
    page.wait_for_timeout(500)  # give an onerror handler, were it allowed, the time to run
    assert dialogs == []
    assert page.evaluate("document.querySelectorAll('body img').length") == 0  # none in the page itself


def test_another_elections_outbox_and_messages_are_refused(editor, election, open_page, make_user):
    other = make_user("bob", can_create=False)
    viewer_only = create_election(title="Viewed", created_by=editor)
    grant(other, viewer_only, "view")
    about = outbox_row(election, editor, MessageState.SENT, "Private")
    page = open_page(other)
    assert page.goto(f"/elections/{election.pk}/emails/").status == 404
    assert page.goto(f"/elections/{viewer_only.pk}/emails/").status == 403
    assert page.goto(f"/emails/{about.pk}/").status == 404
    assert page.goto("/emails/").status == 403
    assert page.goto("/email-templates/").status == 403
    page.goto(f"/elections/{viewer_only.pk}/")
    tabs = page.get_by_role("navigation", name="Election pages")
    expect(tabs.get_by_role("link", name="Past events")).to_have_count(1)
    expect(tabs.get_by_role("link", name="Emails")).to_have_count(0)
    expect(page.get_by_role("link", name="Email templates")).to_have_count(0)


def test_resuming_a_stopped_automation_on_my_settings(editor, open_page):
    services.unsubscribe(editor, "automation:abc", "Closing reminder")
    page = open_page(editor)
    page.get_by_role("link", name="My settings").click()
    row = page.locator("#stopped tbody tr")
    expect(row).to_contain_text("Closing reminder")
    expect(row).to_contain_text("still stopped")
    page.get_by_role("button", name="Resume the emails of Closing reminder").click()
    expect(page.locator("#notifications")).to_contain_text("Resumed: you will get these messages again.")
    expect(page.get_by_role("button", name="Resume the emails of Closing reminder")).to_have_count(0)
    expect(row.locator("time")).to_have_count(2)  # stopped, resumed
    assert Unsubscribe.objects.get().undone_at is not None
    [resumed] = ActivityEntry.objects.filter(action=Action.EMAILS_RESUMED)
    assert resumed.actor == editor and resumed.metadata["scope"] == "automation:abc"


@pytest.mark.skipif(os.environ.get("SCREENSHOTS") != "1", reason="set SCREENSHOTS=1")
def test_screenshots_of_the_email_pages(editor, election, open_page):
    """docs/screenshots/email-template.png and outbox-message.png for the README."""
    outbox_row(election, editor, MessageState.SENT, "Voting closes soon: General",
               cause_label="Closing reminder", sent_at=timezone.now(), attempts=1,
               html="<p>Hello Alice,</p><p>Voting in <strong>General</strong> closes tomorrow at 18:00.</p>",
               text="Hello Alice,\n\nVoting in General closes tomorrow at 18:00.\n")
    outbox_row(election, editor, MessageState.FAILED, "Voting opens soon: General", attempts=1,
               cause_label="Closing reminder", error="550 5.1.1 mailbox unavailable")
    out = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    page = open_page(editor)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"/email-templates/voting-closes-soon/?election={election.pk}")
    page.get_by_label("Subject").fill("Reminder: {{ election.title }} closes soon")
    expect(page.locator("#preview-subject")).to_have_text("Reminder: General closes soon")
    page.screenshot(path=str(out / "email-template.png"), full_page=True)
    page.goto(f"/elections/{election.pk}/emails/")
    page.screenshot(path=str(out / "outbox.png"))
    page.get_by_role("link", name="Voting closes soon: General").click()
    page.screenshot(path=str(out / "outbox-message.png"), full_page=True)
