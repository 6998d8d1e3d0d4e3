"""The activity log filtered by day, action, child election and task id, with full task ids one
key press away and a CSV of what the filter shows (issue 15, item 16), in headless Chromium."""

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from elections.services import create_election
from scheduling import configuring as scheduling
from scheduling.models import ScheduledEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def csv_of(download) -> list[list[str]]:
    return list(csv.reader(Path(download.path()).read_text(encoding="utf-8").splitlines()))


def test_filters_task_ids_and_csv_of_what_the_filter_shows(alice, open_page):
    root = create_election(title="General", created_by=alice)
    child = create_election(title="=HYPERLINK(\"http://evil\")", parent=root, created_by=alice)
    later = timezone.now() + timedelta(days=3)
    for start in (later - timedelta(days=1), later):  # the second supersedes the first: two tasks
        scheduling.configure(root, {"start_voting": start}, actor=alice, replace=False)
    scheduling.configure(child, {"start_voting": later}, actor=alice, replace=False)  # with its parent
    task = ScheduledEvent.objects.filter(election_id=root.pk).order_by("pk").first().task_id
    page = open_page(alice)
    page.goto(f"/elections/{root.pk}/activity/")
    rows = page.locator("#activity tbody tr")
    expect(rows).to_have_count(6)  # 2 created, 3 scheduled, 1 revoked

    page.get_by_role("searchbox", name="Task id").fill(task[:8])
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)  # its scheduling and its revoke
    button = rows.first.locator(f"button[data-task-id='{task}']")
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_text(task)

    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV of what this filter shows").click()
    table = csv_of(info.value)
    assert table[0][:4] == ["time_utc", "election_id", "election", "action"]
    assert len(table) == 3 and {row[-1] for row in table[1:]} == {task}

    page.goto(f"/elections/{root.pk}/activity/")
    page.get_by_label("Election", exact=True).select_option(str(child.pk))
    page.get_by_label("Action").select_option("event_scheduled")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV of what this filter shows").click()
    table = csv_of(info.value)
    assert len(table) == 2 and table[1][2] == "'=HYPERLINK(\"http://evil\")"  # not run as a formula

    today = timezone.now().date()
    page.goto(f"/elections/{root.pk}/activity/")
    page.get_by_label("From (day, UTC)").fill((today + timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No activity matches.")).to_be_visible()
    page.get_by_label("From (day, UTC)").fill(today.isoformat())
    page.get_by_label("To (day, UTC, included)").fill(today.isoformat())
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(6)
    page.get_by_label("To (day, UTC, included)").fill((today - timedelta(days=1)).isoformat())
    page.get_by_label("From (day, UTC)").fill("")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No activity matches.")).to_be_visible()
