"""The dashboard as an administrator lives in it (issue 15): live refresh of every child, the
offline notice, and the confirmation of a status action, in headless Chromium."""

import pytest
from playwright.sync_api import expect

from elections.models import Status
from elections.services import create_election
from scheduling import configuring as scheduling

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def make_tree(owner, children: int, title="General"):
    root = create_election(title=title, created_by=owner)
    kids = [create_election(title=f"District {i:03d}", parent=root, created_by=owner)
            for i in range(children)]
    return root, kids


def test_sixty_children_all_turn_started_without_a_reload(alice, open_page):
    """The refresh read one page (50) of ``?parent=``: children 51-60 stayed "not started"."""
    root, kids = make_tree(alice, 60)
    page = open_page(alice)
    page.goto(f"/elections/{root.pk}/")
    expect(page.locator("[data-child-status]")).to_have_count(60)
    expect(page.locator("#last-refresh")).to_contain_text("Last heard from the server at")
    page.evaluate("window.__sameDocument = true")

    scheduling.change_status(root, "start", actor=alice)

    expect(page.locator("[data-child-status][data-status='started']")).to_have_count(60)
    expect(page.locator(f"tr[data-child-id='{kids[-1].pk}'] [data-child-status]")).to_have_text("started")
    expect(page.locator("#election-status")).to_have_text("started")
    assert page.evaluate("window.__sameDocument") is True  # no reload


def test_offline_notice_appears_when_the_server_stops_and_goes_when_it_returns(
        alice, open_page, live_server_process):
    """A real stop of the server process (not ``page.route``): the page must notice that nothing
    answers at all, and recover when the same address answers again, without a reload."""
    root, _ = make_tree(alice, 2)
    page = open_page(alice)
    page.goto(f"/elections/{root.pk}/")
    expect(page.locator("#last-refresh")).to_contain_text("Last heard from the server at")
    notice = page.locator("#offline-notice")
    expect(notice).to_be_hidden()

    live_server_process.stop()
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Offline since")
    expect(notice).to_contain_text("retrying")

    live_server_process.start()
    expect(notice).to_be_hidden(timeout=15000)
    expect(page.locator("#notifications")).to_contain_text("Back online")


def test_stop_asks_first_naming_how_many_elections_change(alice, open_page):
    root, kids = make_tree(alice, 5)
    scheduling.change_status(root, "start", actor=alice)
    scheduling.change_status(kids[0], "stop", actor=alice)  # already stopped: stopping the root skips it
    page = open_page(alice)
    page.goto(f"/elections/{root.pk}/")

    page.get_by_text("Actions").click()
    page.get_by_role("button", name="Stop", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Stop voting in “General” and its 4 child elections?")
    expect(dialog).to_contain_text("cannot be started again")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    root.refresh_from_db()
    assert root.status == Status.STARTED  # cancelled: nothing changed

    page.get_by_text("Actions").click()
    page.get_by_role("button", name="Stop", exact=True).click()
    dialog.get_by_role("button", name="Stop voting").click()
    expect(page.locator("#election-status")).to_have_text("stopped")
    expect(page.locator("[data-child-status][data-status='stopped']")).to_have_count(5)
    root.refresh_from_db()
    assert root.status == Status.STOPPED


def test_an_unchanged_summary_is_a_304_and_a_change_is_sent_again(alice):
    """Not a browser test: the summary's ETag, which the browser's cache revalidates every 2 s."""
    from django.test import Client

    root, kids = make_tree(alice, 3)
    client = Client()
    client.force_login(alice)
    url = f"/elections/{root.pk}/summary/"
    first = client.get(url)
    assert first.status_code == 200 and first.json()["children"] == [[k.pk, "notstarted"] for k in kids]
    assert client.get(url, headers={"If-None-Match": first["ETag"]}).status_code == 304
    scheduling.change_status(kids[1], "start", actor=alice)
    changed = client.get(url, headers={"If-None-Match": first["ETag"]})
    assert changed.status_code == 200 and changed.json()["children"][1] == [kids[1].pk, "started"]
    assert Client().get(url).status_code == 401


def test_a_deleted_election_or_an_ended_session_is_said_not_shown_as_live(alice, open_page):
    root, _ = make_tree(alice, 2)
    other, _ = make_tree(alice, 1, title="Referendum")
    page = open_page(alice)
    page.goto(f"/elections/{root.pk}/")
    expect(page.locator("#last-refresh")).to_contain_text("Last heard from the server at")
    notice = page.locator("#gone-notice")
    expect(notice).to_be_hidden()
    scheduling.delete_election(root, actor=alice)
    expect(notice).to_contain_text("This election no longer exists")

    page.goto(f"/elections/{other.pk}/")
    expect(page.locator("#last-refresh")).to_contain_text("Last heard from the server at")
    page.context.clear_cookies()  # the session is gone
    expect(page.locator("#gone-notice")).to_contain_text("Your session has ended")
