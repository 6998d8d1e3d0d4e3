"""Times in the user's chosen zone, else the election's, whatever the browser's (issue 15, item 15).

The browsers here run in America/New_York; the election is in Europe/Paris; alice chose Asia/Tokyo.
"""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activity_log.presentation import format_utc
from config.zones import format_in_zone
from elections.models import Permission
from elections.services import create_election, grant, set_time_zone
from notifications.models import UserSettings
from scheduling import configuring as scheduling
from scheduling.models import ScheduledEvent, State
from tests.browser.test_dashboard import confirm, open_dialog

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PARIS = ZoneInfo("Europe/Paris")


def paris_election(owner, start):
    root = set_time_zone(create_election(title="General", created_by=owner), "Europe/Paris")
    scheduling.configure(root, {"start_voting": start}, actor=owner, replace=False)
    return root


def test_a_user_in_tokyo_sees_tokyo_times_named_with_utc_on_hover(alice, make_user, open_page):
    start = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    root = paris_election(alice, start)
    UserSettings.objects.create(user=alice, time_zone="Asia/Tokyo")
    page = open_page(alice, timezone_id="America/New_York")
    page.goto(f"/elections/{root.pk}/")

    when = page.locator("#scheduled-start time")
    expect(when).to_have_text(format_in_zone(start, "Asia/Tokyo"))  # e.g. "Thu 3 Dec 2026 18:00 Asia/Tokyo"
    expect(when).to_have_attribute("title", format_utc(start))
    expect(page.locator("#last-refresh")).to_contain_text("Asia/Tokyo")  # the live refresh came...
    expect(when).to_have_text(format_in_zone(start, "Asia/Tokyo"))  # ...and wrote it the same way
    expect(page.locator("#scheduled-start")).not_to_contain_text("New_York")

    page.goto(f"/elections/{root.pk}/activity/")
    expect(page.locator("#activity thead")).to_contain_text("When (Asia/Tokyo)")
    row = page.locator("tr[data-action=event_scheduled]")
    expect(row.locator("td.sentence")).to_have_text(
        f"alice scheduled the start of voting for {format_in_zone(start, 'Asia/Tokyo')}")
    logged = row.locator("time")
    expect(logged).to_have_text(re.compile(r"^\w{3} \d{1,2} \w{3} \d{4} \d\d:\d\d(:\d\d)? Asia/Tokyo$"))
    expect(logged).to_have_attribute("title", re.compile(r"^\d{1,2} \w{3} \d{4} \d\d:\d\d(:\d\d)? UTC$"))

    # bob chose no zone: he sees the election's
    bob = make_user("bob", can_create=False)
    grant(bob, root, Permission.VIEW)
    page = open_page(bob, timezone_id="America/New_York")
    page.goto(f"/elections/{root.pk}/")
    expect(page.locator("#scheduled-start time")).to_have_text(format_in_zone(start, "Europe/Paris"))
    page.goto(f"/elections/{root.pk}/activity/")
    expect(page.locator("tr[data-action=event_scheduled] td.sentence")).to_contain_text(
        format_in_zone(start, "Europe/Paris"))


def test_the_dialog_takes_a_wall_time_in_the_elections_zone_not_the_browsers(alice, open_page):
    start = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    root = paris_election(alice, start)
    page = open_page(alice, timezone_id="America/New_York")
    page.goto(f"/elections/{root.pk}/")
    dialog = open_dialog(page)
    picker = dialog.get_by_label("Date and time (Europe/Paris)").first
    expect(picker).to_have_value(start.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M"))  # seconds 0: not shown

    # 09:15 in Paris on a day a week ahead, typed by a browser in New York
    day = (timezone.now() + timedelta(days=7)).astimezone(PARIS).date()
    typed = f"{day.isoformat()}T09:15:00"
    meant = datetime.fromisoformat(typed).replace(tzinfo=PARIS)
    picker.fill(typed)
    expect(dialog.locator("#start_voting-utc")).to_contain_text(format_utc(meant))
    request = confirm(page, dialog)
    assert request.post_data_json == {"start_voting": {"event_at": meant.astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")}}
    expect(dialog).to_be_hidden()
    stored = ScheduledEvent.objects.get(election_id=root.pk, kind="start_voting", state=State.PENDING)
    assert stored.event_at == meant
    expect(page.locator("#scheduled-start time")).to_have_text(format_in_zone(meant, "Europe/Paris"))
    expect(page.locator("#scheduled-start time")).to_have_text(re.compile(r" 09:15 Europe/Paris$"))
