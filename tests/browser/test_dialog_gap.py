"""The scheduling dialog says at once that a typed local time does not exist (issue 15, item 8).

The election is in Europe/Paris, so the dialog takes times there whatever the browser's zone
(Asia/Tokyo here): on the last Sunday of March Paris's clocks go from 02:00 to 03:00, so 02:30
does not exist that night; a browser would read it as 03:30.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from elections.services import create_election, set_time_zone
from scheduling.models import ScheduledEvent
from tests.browser.test_pages_words import open_dialog

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PARIS = ZoneInfo("Europe/Paris")


def next_spring_forward() -> datetime:
    """The UTC instant of the next spring-forward in Paris, at least a day from now (01:00 UTC)."""
    from django.utils import timezone

    t = (timezone.now() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    while not (t.astimezone(PARIS).utcoffset() > (t - timedelta(hours=1)).astimezone(PARIS).utcoffset()):
        t += timedelta(hours=1)
    return t.astimezone(UTC)


def test_a_time_in_the_gap_is_named_before_saving_and_nothing_is_sent(alice, open_page):
    day = next_spring_forward().astimezone(PARIS).strftime("%Y-%m-%d")
    root = set_time_zone(create_election(title="General", created_by=alice), "Europe/Paris")
    page = open_page(alice, timezone_id="Asia/Tokyo")  # not the page's zone
    page.goto(f"/elections/{root.pk}/")
    sent = []
    page.on("request", lambda r: sent.append(r) if r.method in ("PATCH", "PUT") else None)
    dialog = open_dialog(page)
    dialog.get_by_label("Schedule the start of voting").check()
    start_at = dialog.get_by_label("Date and time (Europe/Paris)").first
    start_at.fill(f"{day}T02:30:00")

    error = dialog.locator("#start_voting-error")  # before any click on Confirm
    expect(error).to_contain_text(f"There is no 02:30 on {day} in Europe/Paris")
    expect(error).to_contain_text("It would be read as 03:30")
    expect(start_at).to_have_attribute("aria-invalid", "true")

    dialog.get_by_role("button", name="Confirm to change scheduled events").click()
    expect(error).to_contain_text(f"There is no 02:30 on {day}")
    expect(dialog).to_be_visible()
    assert sent == [] and not ScheduledEvent.objects.filter(election_id=root.pk).exists()

    start_at.fill(f"{day}T03:30:00")
    expect(error).to_be_empty()
    expect(start_at).not_to_have_attribute("aria-invalid", "true")
