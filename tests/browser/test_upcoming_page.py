"""Upcoming (issue 15 item 12) in headless Chromium: ordered by time, a failed run flagged in red
on top, the window narrows what is to come."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from elections.services import create_election
from scheduling import configuring, executing, runs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOUR = timedelta(hours=1)


def test_the_page_orders_by_time_and_flags_a_failed_run(alice, open_page):
    now = timezone.now()
    general = create_election(title="General", created_by=alice)
    configuring.configure(general, {"start_voting": now + 2 * HOUR, "end_voting": now + 240 * HOUR},
                          actor=alice, replace=True)
    specs = [runs.RunSpec(task_id=runs.run_task_id("uid-7", at), run_at=at, election_id=general.pk,
                          automation_id=7, payload={"automation": {"id": 7, "uid": "uid-7", "name": name},
                                                    "operations": {"ping": {}}})
             for name, at in (("Remind voters", now + 5 * HOUR), ("Chase late voters", now + 3 * HOUR))]
    _remind, chase = runs.schedule_runs(specs, actor=alice)
    executing.record_failure(chase.pk, chase.task_id, RuntimeError("mail server down"))

    page = open_page(alice)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Upcoming").click()
    rows = page.locator("#upcoming tbody tr")
    expect(rows).to_have_count(3)  # the 7-day window: the close in 10 days is not in it
    expect(rows.nth(0)).to_contain_text("Run of “Chase late voters”")
    expect(rows.nth(0)).to_contain_text("Failed")
    expect(rows.nth(0)).to_contain_text("RuntimeError: mail server down")
    expect(rows.nth(0)).to_have_class("needs-attention")
    assert rows.nth(0).locator("td").first.evaluate("td => getComputedStyle(td).backgroundColor") \
        == "rgb(253, 232, 230)"  # --bad-bg: red
    expect(rows.nth(1)).to_contain_text("Voting opens")
    expect(rows.nth(1)).to_contain_text("General")
    expect(rows.nth(2)).to_contain_text("Run of “Remind voters”")
    expect(rows.nth(2)).to_contain_text("Pending")
    expect(rows.nth(2)).not_to_have_class("needs-attention")
    times = rows.locator("td:first-child time").evaluate_all("ts => ts.map(t => t.dateTime)")
    assert times[1:] == sorted(times[1:])

    page.get_by_role("link", name="All").click()
    expect(rows).to_have_count(4)
    expect(rows.nth(3)).to_contain_text("Voting closes")
    page.get_by_role("link", name="Next 24 hours").click()
    expect(rows).to_have_count(3)
    expect(page.locator("#upcoming")).not_to_contain_text("Voting closes")
