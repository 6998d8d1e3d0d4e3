"""The pages in a person's words (issue 15, items 4, 5, 6, 10, 11), in headless Chromium."""

import uuid
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activity_log.models import Action
from activity_log.services import record
from elections.services import create_election
from scheduling import configuring as scheduling
from scheduling.models import ScheduledEvent, State

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_dialog(page):
    page.get_by_text("Actions").click()
    page.get_by_role("button", name="Configure scheduled events").click()
    dialog = page.get_by_role("dialog", name="Configure scheduled events")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#start_voting-enabled")).to_be_enabled()  # the schedule is loaded
    return dialog


def test_list_is_newest_first_and_says_nothing_scheduled_rather_than_none(alice, open_page):
    elections = [create_election(title=f"Election {i:02d}", created_by=alice) for i in range(52)]
    scheduling.configure(elections[-1], {"start_voting": timezone.now() + timedelta(days=3)}, actor=alice,
                         replace=False)
    page = open_page(alice)
    page.goto("/")
    rows = page.locator("table.table tbody tr")
    expect(rows.first).to_contain_text("Election 51")
    expect(rows.first).to_contain_text("Voting opens")
    expect(rows.nth(1)).to_contain_text("Election 50")
    expect(rows.nth(1)).to_contain_text("Nothing scheduled")
    expect(page.locator("table.table")).not_to_contain_text("None")
    page.get_by_role("link", name="Older →").click()
    expect(page.locator("table.table tbody tr").last).to_contain_text("Election 00")


def test_messages_and_the_log_use_words_with_the_task_id_one_click_away(alice, open_page):
    root = create_election(title="General", created_by=alice)
    scheduling.change_status(root, "start", actor=alice)
    stale, current = str(uuid.uuid4()), str(uuid.uuid4())
    record(Action.TASK_DISCARDED, root, task_id=stale, current_task_id=current, kind="start_voting",
           reason=f"task {stale} is not the event's current task {current}")
    page = open_page(alice)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    page.goto(f"/elections/{root.pk}/")
    dialog = open_dialog(page)
    dialog.get_by_label("Schedule the start of voting").check()
    soon = timezone.localtime(timezone.now() + timedelta(days=2), timezone=timezone.get_fixed_timezone(0))
    dialog.get_by_label("Date and time (UTC)").first.fill(soon.strftime("%Y-%m-%dT%H:%M:%S"))
    with page.expect_response(lambda r: r.request.method == "PATCH"):
        dialog.get_by_role("button", name="Confirm to change scheduled events").click()
    error = dialog.locator("#start_voting-error")
    expect(error).to_contain_text("already started")
    for code in ("event_at", "null", "notstarted", "start_voting"):
        expect(error).not_to_contain_text(code)

    page.goto(f"/elections/{root.pk}/activity/")
    row = page.locator("tr[data-action='task_discarded']")
    expect(row.locator("td.sentence")).to_contain_text(f"{stale[:8]}…")
    expect(row.locator("td.sentence")).not_to_contain_text(stale)
    expect(row.get_by_role("button", name=f"Task {stale[:8]}…")).to_be_visible()
    task = row.locator(f"button[data-task-id='{stale}']")
    task.focus()
    page.keyboard.press("Enter")  # keyboard-reachable
    expect(task).to_have_text(stale)
    expect(page.locator("#notifications")).to_contain_text(f"Task id {stale} copied")
    assert page.evaluate("navigator.clipboard.readText()") == stale


def test_a_save_that_changed_nothing_says_so_and_toasts_do_not_stack(alice, open_page):
    root = create_election(title="General", created_by=alice)
    scheduling.configure(root, {"start_voting": timezone.now() + timedelta(days=3)}, actor=alice,
                         replace=False)
    page = open_page(alice)
    page.goto(f"/elections/{root.pk}/")
    patches = []
    page.on("request", lambda r: patches.append(r) if r.method == "PATCH" else None)
    dialog = open_dialog(page)
    dialog.get_by_role("button", name="Confirm to change scheduled events").click()
    toasts = page.locator("#notifications .notice")
    expect(toasts).to_have_count(1)
    expect(toasts).to_contain_text("Nothing changed")
    expect(toasts).to_have_class("notice info")
    assert patches == []

    dialog = open_dialog(page)
    dialog.get_by_label("Schedule the end of voting").check()
    end = timezone.localtime(timezone.now() + timedelta(days=4), timezone=timezone.get_fixed_timezone(0))
    dialog.get_by_label("Date and time (UTC)").nth(1).fill(end.strftime("%Y-%m-%dT%H:%M:%S"))
    dialog.get_by_role("button", name="Confirm to change scheduled events").click()
    expect(toasts).to_have_count(1)  # replaced, not stacked
    expect(toasts).to_contain_text("changed successfully")
    page.get_by_role("button", name="Dismiss notification").click()
    expect(toasts).to_have_count(0)


def test_past_events_lists_only_what_has_happened(alice, open_page):
    root = create_election(title="General", created_by=alice)
    for days in (3, 4):
        scheduling.configure(root, {"start_voting": timezone.now() + timedelta(days=days)}, actor=alice,
                             replace=False)
    assert ScheduledEvent.objects.filter(election_id=root.pk, state=State.PENDING).count() == 1
    page = open_page(alice)
    page.goto(f"/elections/{root.pk}/events/")
    rows = page.locator("#event-history tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Voting opens")
    expect(rows.first).to_contain_text("superseded")
    expect(page.locator("#event-history")).not_to_contain_text("pending")


def test_no_favicon_404_and_examples_are_in_the_future(alice, open_page):
    root = create_election(title="General", created_by=alice)
    page = open_page(alice)
    failed = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(f"/elections/{root.pk}/")
    expect(page.locator("#last-refresh")).to_contain_text("Last heard")
    icon = page.request.get("/favicon.ico")
    assert icon.ok and "svg" in icon.headers["content-type"]
    assert failed == []

    page.goto("/elections/new/")
    placeholder = page.get_by_label("…or paste the configuration").get_attribute("placeholder")
    example = placeholder.split('"event_at": "')[1].split('"')[0]
    assert datetime.fromisoformat(example) > timezone.now()
    page.goto(f"/elections/{root.pk}/")
    dialog = open_dialog(page)
    today = timezone.now().strftime("%Y-%m-%d")
    assert dialog.get_by_label("Date and time (UTC)").first.get_attribute("min") >= today
