"""The dashboard, the scheduling dialog and the activity log in headless Chromium.

The app runs in a real server process with a real worker and beat where an event
has to fire; the tests check what the user sees and what the database holds. The
elections here are in America/New_York, so the pages show and take times there.
"""

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from activity_log.models import ActivityEntry
from config.zones import format_in_zone
from elections.models import Permission, Status
from elections.services import create_election, grant, set_time_zone
from scheduling import configuring as scheduling
from scheduling.models import ScheduledEvent, State
from tests.browser.conftest import log_in
from tests.helpers import status_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_YORK = ZoneInfo("America/New_York")
XSS = '<script>window.__xss = 1</script><b>bold</b>'


def now():
    from django.utils import timezone

    return timezone.now()


def shown(instant, zone="America/New_York") -> str:
    """How the page writes ``instant`` for a user who chose no zone, in an election in ``zone``."""
    return format_in_zone(instant, zone)


def local_input(instant, zone=NEW_YORK) -> str:
    """What a person in ``zone`` types into the datetime-local picker for ``instant``."""
    return instant.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def make_tree(owner, title="General election", start=None, end=None):
    root = set_time_zone(create_election(title=title, created_by=owner), "America/New_York")
    for name in ("North", "South"):
        create_election(title=name, parent=root, created_by=owner)
    events = {k: v for k, v in (("start_voting", start), ("end_voting", end)) if v}
    if events:
        scheduling.configure(root, events, actor=owner, replace=False)
    return root


def pending_snapshot(election_id):
    return sorted(ScheduledEvent.objects.filter(election_id=election_id, state=State.PENDING)
                  .values_list("kind", "task_id", "event_at"))


def open_dialog(page):
    page.get_by_text("Actions").click()
    page.get_by_role("button", name="Configure scheduled events").click()
    dialog = page.get_by_role("dialog", name="Configure scheduled events")
    expect(dialog).to_be_visible()
    return dialog


def confirm(page, dialog):
    with page.expect_request(lambda r: r.method == "PATCH" and "/scheduled-events/" in r.url) as info:
        dialog.get_by_role("button", name="Confirm to change scheduled events").click()
    return info.value


def test_schedule_start_from_new_york_and_watch_it_start(alice, open_page, start_celery):
    start_celery("worker")
    start_celery("beat")
    far = (now() + timedelta(days=30)).replace(microsecond=0)
    root = make_tree(alice, start=far)
    page = open_page(alice, timezone_id="America/New_York")
    page.goto(f"/elections/{root.pk}/")
    start_box = page.locator("#scheduled-start")
    expect(start_box).to_contain_text(shown(far))
    expect(start_box.locator("time")).to_have_attribute("title", format_in_zone(far, "UTC", weekday=False))
    page.evaluate("window.__sameDocument = true")

    dialog = open_dialog(page)
    expect(dialog).to_contain_text("America/New_York")
    expect(dialog.get_by_label("Schedule the start of voting")).to_be_checked()
    expect(dialog.get_by_label("Date and time (America/New_York)").first).to_have_value(local_input(far))

    target = (now() + timedelta(seconds=7)).replace(microsecond=0)
    dialog.get_by_label("Date and time (America/New_York)").first.fill(local_input(target))
    utc_text = target.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    expect(dialog.locator("#start_voting-utc")).to_contain_text(utc_text)
    request = confirm(page, dialog)
    assert request.post_data_json == {"start_voting": {"event_at": utc_text}}  # only what changed
    assert request.headers.get("if-match")  # the version the dialog loaded
    assert "csrftoken" in (request.headers.get("cookie") or request.all_headers().get("cookie", ""))
    assert request.headers.get("x-csrftoken")

    expect(page.locator("#notifications")).to_contain_text("scheduled events were changed successfully")
    expect(dialog).to_be_hidden()
    expect(start_box).to_contain_text(shown(target))
    expect(page.locator("#election-status")).to_have_text("not started")

    expect(page.locator("#election-status")).to_have_text("started", timeout=20_000)
    for child in page.locator("[data-child-status]").all():
        expect(child).to_have_text("started", timeout=5_000)
    expect(start_box).to_contain_text("Not scheduled")
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert status_of(root.pk) == Status.STARTED
    page.get_by_text("Actions").click()
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    expect(page.get_by_role("button", name="Start")).to_be_hidden()

    done = ScheduledEvent.objects.get(election_id=root.pk, state=State.DONE)
    old = ScheduledEvent.objects.get(election_id=root.pk, state=State.SUPERSEDED)
    page.goto(f"/elections/{root.pk}/activity/")
    rows = page.locator("#activity tbody")
    expect(rows).to_contain_text(f"alice scheduled the start of voting for {shown(target)}")
    expect(rows).to_contain_text(f"task {old.task_id[:8]}… revoked: rescheduled")
    expect(rows).to_contain_text("the start of voting ran")
    executed = page.locator("tr[data-action=event_executed]")
    expect(executed.locator("button.task-id")).to_have_attribute("data-task-id", done.task_id)
    expect(executed).to_contain_text("system (for alice)")
    first_action = page.locator("#activity tbody tr").first.get_attribute("data-action")
    assert first_action in {"event_executed", "status_changed"}  # newest first


def test_reschedule_cancel_and_invalid_dates_in_the_dialog(alice, open_page):
    # whole minute plus sub-seconds: the picker shows no seconds and keeps no sub-seconds,
    # yet leaving the start untouched must not reschedule it
    start = (now() + timedelta(days=1)).replace(second=0, microsecond=123456)
    end = now() + timedelta(days=2)
    root = make_tree(alice, start=start, end=end)
    page = open_page(alice, timezone_id="America/New_York")
    page.goto(f"/elections/{root.pk}/")
    pickers = page.get_by_label("Date and time (America/New_York)")

    # reschedule the end of voting; the start, left as it was, keeps its row and task
    start_task = ScheduledEvent.objects.get(election_id=root.pk, kind="start_voting").task_id
    new_end = (now() + timedelta(days=3)).replace(microsecond=0)
    dialog = open_dialog(page)
    pickers.nth(1).fill(local_input(new_end))
    confirm(page, dialog)
    expect(dialog).to_be_hidden()
    expect(page.locator("#scheduled-stop")).to_contain_text(shown(new_end))
    assert ScheduledEvent.objects.get(election_id=root.pk, kind="end_voting", state=State.PENDING
                                      ).event_at == new_end
    assert ScheduledEvent.objects.filter(election_id=root.pk, kind="end_voting",
                                         state=State.SUPERSEDED).count() == 1
    assert ScheduledEvent.objects.get(election_id=root.pk, kind="start_voting").task_id == start_task

    # cancel the start of voting by unchecking it
    dialog = open_dialog(page)
    dialog.get_by_label("Schedule the start of voting").uncheck()
    expect(pickers.first).to_be_disabled()
    request = confirm(page, dialog)
    assert request.post_data_json["start_voting"] is None
    expect(dialog).to_be_hidden()
    expect(page.locator("#scheduled-start")).to_contain_text("Not scheduled")
    assert not ScheduledEvent.objects.filter(election_id=root.pk, kind="start_voting", state=State.PENDING)
    assert ScheduledEvent.objects.get(election_id=root.pk, kind="start_voting", state=State.CANCELLED)

    # a time in the past: the error is next to the field, and nothing changes
    before, log_size = pending_snapshot(root.pk), ActivityEntry.objects.count()
    dialog = open_dialog(page)
    dialog.get_by_label("Schedule the start of voting").check()
    pickers.first.fill(local_input(now() - timedelta(hours=1)))
    confirm(page, dialog)
    expect(dialog.locator("#start_voting-error")).to_contain_text("is in the past")
    expect(pickers.first).to_have_attribute("aria-invalid", "true")
    expect(dialog).to_be_visible()

    # the end before the start: the error is next to the end
    pickers.first.fill(local_input(new_end + timedelta(hours=1)))
    confirm(page, dialog)
    expect(dialog.locator("#end_voting-error")).to_contain_text("Must be after the start of voting")
    expect(dialog.locator("#start_voting-error")).to_be_empty()
    assert pending_snapshot(root.pk) == before
    assert ActivityEntry.objects.count() == log_size

    # Escape closes the dialog and gives the focus back to the Actions menu
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#actions-menu summary")).to_be_focused()

    page.goto(f"/elections/{root.pk}/activity/")
    rows = page.locator("#activity tbody")
    expect(rows).to_contain_text("revoked: rescheduled")
    expect(rows).to_contain_text("revoked: cancelled")
    expect(rows).to_contain_text("alice scheduled the end of voting for")
    page.get_by_label("Action").select_option("event_revoked")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#activity tbody tr")).to_have_count(2)

    page.goto(f"/elections/{root.pk}/events/")
    # what happened (superseded, cancelled); the pending end is on the dashboard, not here
    expect(page.locator("#event-history tbody tr")).to_have_count(2)
    expect(page.locator("#event-history")).to_contain_text("superseded")
    expect(page.locator("#event-history")).to_contain_text("cancelled")


def test_user_without_the_grant_sees_no_configure_action_and_gets_403(alice, make_user, open_page):
    root = make_tree(alice, start=now() + timedelta(days=1))
    viewer = make_user("viewer", can_create=False)
    grant(viewer, root, Permission.VIEW)
    page = open_page(viewer)
    page.goto(f"/elections/{root.pk}/")
    expect(page.locator("#scheduled-start")).to_contain_text("America/New_York")
    page.get_by_text("Actions").click()
    expect(page.get_by_role("link", name="Activity log").first).to_be_visible()
    expect(page.get_by_role("button", name="Configure scheduled events")).to_have_count(0)
    expect(page.get_by_role("button", name="Start")).to_have_count(0)
    status = page.evaluate("""async (url) => {
        const token = document.querySelector('input[name=csrfmiddlewaretoken]').value;
        const response = await fetch(url, {method: 'PUT', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json', 'X-CSRFToken': token},
            body: JSON.stringify({start_voting: null, end_voting: null})});
        return response.status;
    }""", f"/api/elections/{root.pk}/scheduled-events/")
    assert status == 403
    assert len(pending_snapshot(root.pk)) == 1

    stranger = make_user("stranger", can_create=False)
    other = open_page(stranger)
    assert other.goto(f"/elections/{root.pk}/").status == 404


def test_status_actions_from_the_menu(alice, open_page):
    root = make_tree(alice)
    page = open_page(alice)
    page.goto(f"/elections/{root.pk}/")
    for action in ("Start", "Suspend", "Stop"):  # each asks first (test_dashboard_live.py)
        page.get_by_text("Actions").click()
        page.get_by_role("button", name=action, exact=True).click()
        page.get_by_role("dialog").get_by_role("button", name=f"{action} voting").click()
        if action == "Start":
            expect(page.locator("#election-status")).to_have_text("started")
            expect(page.locator("#notifications")).to_contain_text("now started")
        if action == "Suspend":
            expect(page.locator("#election-status")).to_have_text("suspended")
            assert status_of(root.pk) == Status.SUSPENDED
    expect(page.locator("#election-status")).to_have_text("stopped")
    expect(page.locator("[data-child-status]").first).to_have_text("stopped")
    assert status_of(root.pk) == Status.STOPPED


def test_titles_with_markup_are_escaped_on_every_page(alice, open_page):
    root = create_election(title=XSS, created_by=alice)
    create_election(title=f"child {XSS}", parent=root, created_by=alice)
    scheduling.configure(root, {"start_voting": now() + timedelta(days=1)}, actor=alice, replace=False)
    page = open_page(alice)
    for url in ("/", f"/elections/{root.pk}/", f"/elections/{root.pk}/events/",
                f"/elections/{root.pk}/activity/"):
        page.goto(url)
        expect(page.locator("main")).to_contain_text(XSS)
        assert page.evaluate("window.__xss") is None, url
        assert page.locator("main b").count() == 0, url
    page.goto(f"/elections/{root.pk}/")
    page.wait_for_timeout(2500)  # one polling round re-renders the status box
    assert page.evaluate("window.__xss") is None
    assert page.locator("main b").count() == 0


def test_upload_a_configuration(alice, open_page):
    page = open_page(alice)
    page.goto("/elections/new/")
    text = page.get_by_label("…or paste the configuration")
    text.fill('{"title": "Regional", "scheduled_events": {"start_voting": {"event_at": "tomorrow"}}}')
    page.get_by_role("button", name="Create the election").click()
    errors = page.locator("#upload-errors")
    expect(errors).to_contain_text("scheduled_events.start_voting.event_at")
    expect(errors).to_contain_text("ISO 8601")
    text.fill("{not json")
    page.get_by_role("button", name="Create the election").click()
    expect(errors).to_contain_text("Not valid JSON")

    when = (now() + timedelta(days=5)).replace(microsecond=0)
    text.fill('{"title": "Regional", "children": [{"title": "Coast"}], "scheduled_events": '
              f'{{"end_voting": {{"event_at": "{when.isoformat()}"}}}}}}')
    page.get_by_role("button", name="Create the election").click()
    page.wait_for_url("**/elections/*/")
    expect(page.locator("h1")).to_have_text("Regional")
    expect(page.locator("#scheduled-stop")).to_contain_text(shown(when, "UTC"))  # the default zone
    expect(page.locator("#children")).to_contain_text("Coast")


def test_login_page_is_rate_limited(alice, open_page):
    from django.core.cache import cache

    page = open_page()
    try:
        for _ in range(10):
            assert log_in(page, "alice", "wrong").status == 200
        response = log_in(page, "alice", "pw-Secret-123")
        assert response.status == 429
        expect(page.get_by_role("alert")).to_contain_text("Too many failed log-in attempts")
    finally:
        cache.clear()
