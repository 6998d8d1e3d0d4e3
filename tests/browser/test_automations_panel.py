"""The dashboard's "Reminders and automations" panel in headless Chromium (issue 13): a reminder in
words with its next run, moving it with the end of voting through the dialog, switching a run off
and seeing a real worker skip it, Delete's confirmation, markup kept as text, and what a user with
only the view grant sees."""

import os
import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import expect

from automations import services
from config.zones import format_in_zone
from elections.models import Election, Permission
from elections.services import create_election, grant
from notifications.defaults import DEFAULT_TEMPLATES
from notifications.models import EmailTemplate, OutboxMessage
from scheduling import configuring
from scheduling.models import ScheduledEvent, State

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MADRID = "Europe/Madrid"
REMINDER = {"name": "Closing soon", "when": {"before": "end_voting", "offset": "PT24H"},
            "operations": {"send_email": {"template": "voting-closes-soon"}},
            "recipients": {"groups": ["observers"], "grants": ["edit"]}}
XSS_NAME = "<img src=x onerror=alert(1)>"


def election_in_madrid(owner, *, end):
    root = create_election(title="General", created_by=owner)
    Election.objects.filter(pk=root.pk).update(time_zone=MADRID)
    root.refresh_from_db()
    configuring.configure(root, {"end_voting": end}, actor=owner, replace=False)
    return root


def reminder(root, owner, **fields):
    Group.objects.get_or_create(name="observers")
    # a transactional test starts from a flush: the data migration's template is put back
    EmailTemplate.objects.get_or_create(name="voting-closes-soon",
                                        defaults=DEFAULT_TEMPLATES["voting-closes-soon"])
    return services.create_automation({**REMINDER, **fields}, election=root, actor=owner)


def item(page, automation):
    return page.locator(f"#automations-panel [data-automation-id='{automation.pk}']")


def test_a_reminder_shows_its_next_run_and_moves_with_the_end_of_voting(alice, open_page):
    end = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    root = election_in_madrid(alice, end=end)
    automation = reminder(root, alice)
    page = open_page(alice)  # the browser in UTC; the page shows the election's zone
    page.goto(f"/elections/{root.pk}/")
    words = item(page, automation).locator("[data-sentence]")
    expect(words).to_have_text(
        "Email voting-closes-soon to observers and edit-grant holders, 24 hours before voting closes"
        f" — next: {format_in_zone(end - timedelta(hours=24), MADRID)}")

    new_end = end + timedelta(days=1, hours=2)
    in_madrid = new_end.astimezone(ZoneInfo(MADRID)).strftime("%Y-%m-%dT%H:%M:%S")  # the dialog's zone
    page.get_by_text("Actions").click()
    page.get_by_role("button", name="Configure scheduled events").click()
    dialog = page.get_by_role("dialog", name="Configure scheduled events")
    row = dialog.locator("fieldset[data-kind='end_voting']")
    note = row.locator("[data-moves-with-note]")
    expect(note).to_be_hidden()  # nothing moves while the time is as it was
    row.get_by_label(f"Date and time ({MADRID})").fill(in_madrid)
    expect(note).to_have_text("1 reminder moves with the end of voting: “Closing soon”.")
    expect(dialog.locator("fieldset[data-kind='start_voting'] [data-moves-with-note]")).to_be_hidden()
    row.get_by_label("Schedule the end of voting").uncheck()
    expect(note).to_have_text("1 reminder is cancelled with the end of voting: “Closing soon”.")
    row.get_by_label("Schedule the end of voting").check()
    row.get_by_label(f"Date and time ({MADRID})").fill(in_madrid)
    dialog.get_by_role("button", name="Confirm to change scheduled events").click()
    expect(dialog).to_be_hidden()

    expect(words).to_contain_text(f"— next: {format_in_zone(new_end - timedelta(hours=24), MADRID)}")
    (pending,) = ScheduledEvent.objects.filter(automation_id=automation.pk, state=State.PENDING)
    assert pending.event_at == new_end - timedelta(hours=24)
    past = page.locator("#past-runs tr[data-state='superseded']")
    expect(past).to_contain_text("Replaced — the end of voting moved to")


def test_a_run_switched_off_is_not_sent_when_its_time_comes(alice, open_page, start_celery):
    start_celery("worker")
    start_celery("beat")
    root = election_in_madrid(alice, end=timezone.now() + timedelta(days=2))
    due = (timezone.now() + timedelta(seconds=20)).replace(microsecond=0)
    automation = reminder(root, alice, name="Soon", when={"at": due.isoformat()})
    (run,) = ScheduledEvent.objects.filter(automation_id=automation.pk, state=State.PENDING)
    page = open_page(alice)
    page.goto(f"/elections/{root.pk}/")
    switch = item(page, automation).get_by_role("switch", name="Send the next run of Soon")
    expect(switch).to_be_checked()
    switch.focus()
    page.keyboard.press("Space")  # by keyboard
    expect(item(page, automation).locator("[data-run-off]")).to_have_text("Next run turned off by alice")
    expect(switch).not_to_be_checked()
    run.refresh_from_db()
    assert run.enabled is False and run.state == State.PENDING
    assert timezone.now() < due, "the switch must be turned off before the run is due"

    outcome = page.locator(f"#past-runs tr[data-run-id='{run.pk}'] [data-outcome]")
    expect(outcome).to_have_text("Not sent — turned off by alice", timeout=60000)
    run.refresh_from_db()
    assert run.state == State.SKIPPED and run.reason == "turned off by alice"
    row = page.locator(f"#past-runs tr[data-run-id='{run.pk}']")
    expect(row).to_contain_text(format_in_zone(due, MADRID))
    expect(row).to_contain_text(re.compile(r"\d+(\.\d)? (ms|s|min)( \d+ s)? late"))
    task = row.locator("button.task-id")
    expect(task).to_have_accessible_name(re.compile("show and copy the full task id"))
    task.focus()
    page.keyboard.press("Enter")
    expect(task).to_have_text(run.task_id)


def test_markup_in_a_name_stays_text_and_delete_names_what_stops(alice, open_page):
    end = timezone.now() + timedelta(days=3)
    root = election_in_madrid(alice, end=end)
    automation = reminder(root, alice, name=XSS_NAME)
    page = open_page(alice)
    alerts = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    page.goto(f"/elections/{root.pk}/")
    expect(item(page, automation).locator(".automation-name")).to_have_text(XSS_NAME)
    assert page.locator("#automations-panel img").count() == 0

    item(page, automation).get_by_role("button", name=f"Delete {XSS_NAME}").click()
    confirm = page.get_by_role("dialog", name=f"Delete “{XSS_NAME}”?")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text(
        "This stops: Email voting-closes-soon to observers and edit-grant holders, 24 hours before "
        "voting closes. Its next run (")
    assert page.locator("#automations-panel img").count() == 0
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    assert ScheduledEvent.objects.filter(automation_id=automation.pk, state=State.PENDING).count() == 1

    item(page, automation).get_by_role("button", name=f"Delete {XSS_NAME}").click()
    confirm.get_by_role("button", name="Delete").click()
    expect(page.locator("#automations-panel [data-empty]")).to_have_text("No reminders or automations yet.")
    (cancelled,) = ScheduledEvent.objects.filter(automation_id=automation.pk)
    assert cancelled.state == State.CANCELLED
    expect(page.locator(f"#past-runs tr[data-run-id='{cancelled.pk}'] [data-outcome]")).to_have_text(
        "Not sent — cancelled: the automation was deleted")
    expect(page.locator("#past-runs")).to_contain_text(XSS_NAME)
    assert alerts == [] and page.locator("img").count() == 0


def test_a_viewer_sees_the_panel_without_controls_or_recipients(alice, make_user, open_page):
    root = election_in_madrid(alice, end=timezone.now() + timedelta(days=3))
    automation = reminder(root, alice)
    viewer = make_user("viewer")
    grant(viewer, root, Permission.VIEW)
    page = open_page(viewer)
    page.goto(f"/elections/{root.pk}/")
    panel = page.locator("#automations-panel")
    expect(item(page, automation).locator("[data-sentence]")).to_contain_text(
        "Email voting-closes-soon, 24 hours before voting closes — next: ")
    expect(panel).not_to_contain_text("observers")
    for role, name in (("switch", re.compile("Send the next run")), ("button", re.compile("^Edit")),
                       ("button", re.compile("^Delete")), ("button", "Add a reminder")):
        expect(panel.get_by_role(role, name=name)).to_have_count(0)
    controls = "[data-rule-editor-edit], [data-rule-editor-new], [data-run-switch], [data-delete-automation]"
    expect(panel.locator(controls)).to_have_count(0)


def test_the_panel_refreshes_when_the_rule_editor_says_it_saved(alice, open_page):
    root = election_in_madrid(alice, end=timezone.now() + timedelta(days=3))
    page = open_page(alice)
    page.add_init_script("window.setInterval = function () { return 0; };")  # no polling: only the event
    page.goto(f"/elections/{root.pk}/")
    expect(page.locator("#automations-panel [data-empty]")).to_be_visible()
    automation = reminder(root, alice, name="Added by the editor")
    page.wait_for_timeout(500)
    expect(item(page, automation)).to_have_count(0)  # nothing refreshes by itself here
    page.evaluate("document.dispatchEvent(new CustomEvent('automation:saved', {detail: {}}))")
    expect(item(page, automation).locator(".automation-name")).to_have_text("Added by the editor")


@pytest.mark.skipif(os.environ.get("SCREENSHOTS") != "1", reason="set SCREENSHOTS=1")
def test_screenshot_of_the_panel(alice, make_user, open_page):
    """docs/screenshots/automations-panel.png: two reminders and past runs of each outcome."""
    end = (timezone.now() + timedelta(days=3)).replace(hour=18, minute=0, second=0, microsecond=0)
    root = election_in_madrid(alice, end=end)
    Election.objects.filter(pk=root.pk).update(title="Municipal election 2026")
    closing = reminder(root, alice)
    reminder(root, alice, name="Last call", when={"before": "end_voting", "offset": "PT2H"},
             recipients={"users": ["alice"]})
    EmailTemplate.objects.get_or_create(name="voting-opened", defaults=DEFAULT_TEMPLATES["voting-opened"])
    opened = reminder(root, alice, name="Voting is open", when={"on": "election.started"},
                      operations={"send_email": {"template": "voting-opened"}})
    (run,) = ScheduledEvent.objects.filter(automation_id=closing.pk, state=State.PENDING)
    services.set_run_enabled(closing, run.pk, False, actor=alice)
    before = timezone.now() - timedelta(days=1)
    past = [("done", "", {"recipients": 12}, 12), ("skipped", "voting had already closed", {}, 0),
            ("skipped", "turned off by alice", {}, 0)]
    for index, (state, reason, result, sent) in enumerate(past):
        row = ScheduledEvent.objects.create(
            kind="automation", election=root, automation_id=opened.pk,
            event_at=before - timedelta(hours=index),
            state=state, reason=reason, result=result, finished_at=before - timedelta(hours=index),
            lateness=timedelta(milliseconds=40 + index * 300), next_dispatch_at=before,
            payload={"automation": {"name": opened.name}, "operations": opened.operations})
        for n in range(sent):
            OutboxMessage.objects.create(cause=f"run:{row.task_id}:send_email", template_name="voting-opened",
                                         address=f"p{index}{n}@example.org", from_address="e@example.org",
                                         subject="s", text="t", message_id=f"<{index}.{n}@example.org>",
                                         state="sent", next_attempt_at=before)
    page = open_page(alice, timezone_id=MADRID)
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(f"/elections/{root.pk}/")
    panel = page.locator("#automations-panel")
    expect(panel).to_contain_text("Sent to 12 of 12")
    panel.screenshot(path=str(Path(__file__).resolve().parents[2] / "docs" / "screenshots"
                              / "automations-panel.png"))
