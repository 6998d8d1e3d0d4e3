"""Screenshots of the dashboard, the dialog and the logs for the README, in docs/screenshots/.

Skipped unless SCREENSHOTS=1: ``SCREENSHOTS=1 pytest tests/browser/test_screenshots.py``.
"""

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from elections.services import create_election, set_time_zone
from scheduling import configuring as scheduling
from tests.helpers import status_of
from tests.processes import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(os.environ.get("SCREENSHOTS") != "1", reason="set SCREENSHOTS=1")]

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_screenshots(make_user, open_page, start_celery):
    start_celery("worker")
    start_celery("beat")
    alice = make_user("alice")
    root = set_time_zone(create_election(title="Municipal election 2026", created_by=alice,
                                         description="City council, all districts."), "Europe/Paris")
    for name in ("District 1 (North)", "District 2 (Riverside)", "District 3 (Old Town)"):
        create_election(title=name, parent=root, created_by=alice)
    day = timezone.now().replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=3)
    scheduling.configure(root, {"start_voting": day, "end_voting": day + timedelta(hours=9)},
                         actor=alice, replace=True)
    scheduling.configure(root, {"start_voting": timezone.now() + timedelta(seconds=3)},
                         actor=alice, replace=False)
    wait_until(lambda: status_of(root.pk) == "started", timeout=20, message="the start to run")
    scheduling.configure(root, {"end_voting": day + timedelta(days=1, hours=9)}, actor=alice, replace=False)

    OUT.mkdir(parents=True, exist_ok=True)
    page = open_page(alice, timezone_id="America/New_York")
    page.set_viewport_size({"width": 1200, "height": 760})
    page.goto(f"/elections/{root.pk}/")
    expect(page.locator("#election-status")).to_have_text("started")
    page.screenshot(path=str(OUT / "dashboard.png"))
    page.get_by_text("Actions").click()
    page.screenshot(path=str(OUT / "actions-menu.png"))
    page.get_by_role("button", name="Configure scheduled events").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm to change scheduled events")).to_be_enabled()  # loaded
    page.screenshot(path=str(OUT / "modal.png"))
    page.keyboard.press("Escape")
    page.goto(f"/elections/{root.pk}/activity/")
    page.screenshot(path=str(OUT / "activity-log.png"), full_page=True)
    page.goto(f"/elections/{root.pk}/events/")
    page.screenshot(path=str(OUT / "past-events.png"), full_page=True)

    page.goto(f"/elections/{root.pk}/")
    page.get_by_text("Actions").click()
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(page.get_by_role("dialog")).to_contain_text("and its 3 child elections?")
    page.screenshot(path=str(OUT / "confirm-stop.png"))
    page.keyboard.press("Escape")

    past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ahead = day.strftime("%Y-%m-%dT%H:%M:%SZ")
    page.goto("/elections/new/")
    page.get_by_label("…or paste the configuration").fill(json.dumps({
        "title": "Referendum", "scheduled_events": {"start_voting": {"event_at": ahead}},
        "children": [{"title": "Ward A", "scheduled_events": {"start_voting": {"event_at": past}}},
                     {"title": ""},
                     {"title": "Ward C", "scheduled_events": {"end_voting": {"event_at": "tomorrow"}}}],
    }, indent=1))
    page.get_by_role("button", name="Create the election").click()
    expect(page.locator("#upload-errors")).to_contain_text("problems")
    page.screenshot(path=str(OUT / "upload-errors.png"), full_page=True)

    page.goto(f"/elections/{root.pk}/settings/")
    page.screenshot(path=str(OUT / "settings.png"), full_page=True)
