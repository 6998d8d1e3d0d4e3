"""The dashboard says what happened, not only what is planned, and shows a child's own schedule
where it differs from its parent's (issue 15, item 14), in headless Chromium with a real worker."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from config.zones import format_in_zone
from elections.services import create_election
from scheduling import configuring as scheduling
from scheduling.models import ScheduledEvent, State

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_voting_opened_at_with_lateness_and_task_and_a_childs_own_end(alice, open_page, start_celery):
    start_celery("worker")
    start_celery("beat")
    root = create_election(title="General", created_by=alice)
    north = create_election(title="North", parent=root, created_by=alice)
    south = create_election(title="South", parent=root, created_by=alice)
    end = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    scheduling.configure(root, {"end_voting": end}, actor=alice, replace=False)
    early_end = end - timedelta(hours=3)
    scheduling.configure(north, {"end_voting": early_end}, actor=alice, replace=False)

    page = open_page(alice)
    page.goto(f"/elections/{root.pk}/")
    expect(page.locator(f"tr[data-child-id='{north.pk}'] [data-own-schedule]")).to_have_text(
        f"Voting closes {format_in_zone(early_end, 'UTC')}")
    expect(page.locator(f"tr[data-child-id='{south.pk}'] [data-own-schedule]")).to_have_text("as above")
    happened = page.locator("#happened")
    expect(happened).to_contain_text("No scheduled event has run yet.")
    page.evaluate("window.__sameDocument = true")

    scheduling.configure(root, {"start_voting": timezone.now() + timedelta(seconds=2)}, actor=alice,
                         replace=False)
    line = happened.locator("li[data-state='done']")
    expect(line).to_contain_text("Voting opened at", timeout=30000)
    event = ScheduledEvent.objects.get(election_id=root.pk, kind="start_voting", state=State.DONE)
    expect(line).to_have_text(re.compile(
        r"^Voting opened at \w{3} \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d\.\d\d UTC "
        r"\(\d+(\.\d)? (ms|s) late, task "
        + re.escape(event.task_id[:8]) + r"…\)$"))
    line.get_by_role("button").click()
    expect(line.get_by_role("button")).to_have_text(event.task_id)
    assert page.evaluate("window.__sameDocument") is True  # it came with the refresh
