"""The scheduling dialog across a fall-back night, and two admins editing one schedule (H19, H20).

The election is in Europe/Paris, so the dialog takes times there whatever the browser's zone
(Asia/Tokyo here): on the last Sunday of October Paris's clocks go from 03:00 back to 02:00,
so 02:30 happens twice (00:30 UTC, then 01:30 UTC).
"""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from elections.models import Permission
from elections.services import create_election, grant, set_time_zone
from scheduling import configuring as scheduling
from scheduling.models import ScheduledEvent, State
from tests.browser.test_dashboard import open_dialog

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PARIS = ZoneInfo("Europe/Paris")


def next_fall_back() -> datetime:
    """The UTC instant of the next fall-back in Paris, at least a day from now (01:00 UTC)."""
    from django.utils import timezone

    t = (timezone.now() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    while not (t.astimezone(PARIS).utcoffset() < (t - timedelta(hours=1)).astimezone(PARIS).utcoffset()):
        t += timedelta(hours=1)
    return t.astimezone(UTC)


def pending(election_id):
    return {e.kind: e for e in ScheduledEvent.objects.filter(election_id=election_id, state=State.PENDING)}


def patch_request(page):
    return page.expect_request(lambda r: r.method == "PATCH" and "/scheduled-events/" in r.url)


def test_an_untouched_second_0230_stays_and_an_ambiguous_time_is_chosen_explicitly(alice, open_page):
    back = next_fall_back()
    first_0230, second_0230 = back - timedelta(minutes=30), back + timedelta(minutes=30)
    day = second_0230.astimezone(PARIS).strftime("%Y-%m-%d")
    root = set_time_zone(create_election(title="General", created_by=alice), "Europe/Paris")
    scheduling.configure(root, {"start_voting": back - timedelta(days=2), "end_voting": second_0230},
                         actor=alice, replace=True)
    end_task = pending(root.pk)["end_voting"].task_id
    page = open_page(alice, timezone_id="Asia/Tokyo")  # not the page's zone
    page.goto(f"/elections/{root.pk}/")
    dialog = open_dialog(page)
    start_at, end_at = dialog.get_by_label("Date and time (Europe/Paris)").all()

    # the stored end shows as 02:30 with its offset, the second one chosen
    expect(end_at).to_have_value(re.compile(rf"^{day}T02:30(:00)?$"))
    end_offset = dialog.locator("#end_voting-offset")
    expect(end_offset).to_be_visible()
    expect(end_offset.locator("option:checked")).to_have_text(re.compile(r"the second, UTC\+01:00"))
    expect(end_offset).to_contain_text("the first, UTC+02:00")
    expect(dialog.locator("#start_voting-offset")).to_be_hidden()

    # changing only the start sends only the start: the end is not sent, so it cannot move
    new_start = (back - timedelta(days=1)).replace(microsecond=0)
    start_at.fill(new_start.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M:%S"))
    with patch_request(page) as info:
        dialog.get_by_role("button", name="Confirm to change scheduled events").click()
    assert info.value.post_data_json == {"start_voting": {"event_at": new_start.strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")}}
    expect(dialog).to_be_hidden()
    events = pending(root.pk)
    assert (events["end_voting"].event_at, events["end_voting"].task_id) == (second_0230, end_task)
    assert events["start_voting"].event_at == new_start

    # typing an ambiguous time: the user must say which 02:15; nothing is sent until then
    dialog = open_dialog(page)
    start_at.fill(f"{day}T02:15:00")
    start_offset = dialog.locator("#start_voting-offset")
    expect(start_offset).to_be_visible()
    requests = []
    page.on("request", lambda r: requests.append(r) if r.method == "PATCH" else None)
    dialog.get_by_role("button", name="Confirm to change scheduled events").click()
    expect(dialog.locator("#start_voting-error")).to_contain_text("happens twice")
    assert requests == []
    start_offset.select_option(index=1)  # "the first, UTC+02:00 (…)"
    expect(start_offset.locator("option:checked")).to_have_text(re.compile(r"^the first, UTC\+02:00"))
    expect(dialog.locator("#start_voting-utc")).to_contain_text(
        (first_0230 - timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    with patch_request(page) as info:
        dialog.get_by_role("button", name="Confirm to change scheduled events").click()
    assert info.value.post_data_json == {"start_voting": {"event_at": (
        first_0230 - timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%S.000Z")}}
    expect(dialog).to_be_hidden()
    assert pending(root.pk)["start_voting"].event_at == first_0230 - timedelta(minutes=15)
    assert pending(root.pk)["end_voting"].task_id == end_task


def test_a_change_made_by_another_admin_while_the_dialog_was_open_is_not_undone(
        alice, make_user, open_page):
    from django.utils import timezone

    bob = make_user("bob", can_create=False)
    root = set_time_zone(create_election(title="General", created_by=alice), "Europe/Paris")
    grant(bob, root, Permission.SCHEDULE_EVENTS)
    start, end = timezone.now() + timedelta(days=2), timezone.now() + timedelta(days=5)
    scheduling.configure(root, {"start_voting": start, "end_voting": end}, actor=alice, replace=True)
    page = open_page(alice, timezone_id="Asia/Tokyo")  # not the page's zone
    page.goto(f"/elections/{root.pk}/")
    dialog = open_dialog(page)
    expect(dialog.get_by_role("button", name="Confirm to change scheduled events")).to_be_enabled()

    bobs_end = (timezone.now() + timedelta(days=6)).replace(microsecond=0)
    scheduling.configure(root, {"end_voting": bobs_end}, actor=bob, replace=False)  # meanwhile

    start_at = dialog.get_by_label("Date and time (Europe/Paris)").first
    start_at.fill((timezone.now() + timedelta(days=1)).astimezone(PARIS).strftime("%Y-%m-%dT%H:%M:%S"))
    with page.expect_response(lambda r: r.request.method == "PATCH") as info:
        dialog.get_by_role("button", name="Confirm to change scheduled events").click()
    assert info.value.status == 412
    error = dialog.locator("#schedule-error")
    expect(error).to_contain_text("The scheduled events changed after you read them. bob changed them at")
    expect(error).to_contain_text("bob scheduled the end of voting for")
    expect(dialog).to_be_visible()
    events = pending(root.pk)
    assert (events["start_voting"].event_at, events["end_voting"].event_at) == (start, bobs_end)

    # reopened, the dialog shows bob's end and saves from the current version
    dialog.get_by_role("button", name="Cancel").click()
    dialog = open_dialog(page)
    expect(dialog.get_by_label("Date and time (Europe/Paris)").nth(1)).to_have_value(
        re.compile("^" + re.escape(bobs_end.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M"))))
    start_at.fill((timezone.now() + timedelta(days=1)).astimezone(PARIS).strftime("%Y-%m-%dT%H:%M:%S"))
    with page.expect_response(lambda r: r.request.method == "PATCH") as info:
        dialog.get_by_role("button", name="Confirm to change scheduled events").click()
    assert info.value.status == 200
    expect(dialog).to_be_hidden()
    assert pending(root.pk)["end_voting"].event_at == bobs_end
