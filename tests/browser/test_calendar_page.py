"""My calendar (issue 15 item 18) in headless Chromium: make the URL, copy it, a calendar reads it
without a session, revoke it and it is gone."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from elections.services import create_election
from scheduling import configuring

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_make_copy_use_and_revoke_the_calendar_url(alice, open_page, server):
    general = create_election(title="General", created_by=alice)
    configuring.configure(general, {"start_voting": timezone.now() + timedelta(days=2)}, actor=alice,
                          replace=True)
    page = open_page(alice)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My calendar").click()
    expect(page.locator("#calendar-state")).to_contain_text("no calendar URL yet")
    page.get_by_role("button", name="Make my calendar URL").click()
    url = page.get_by_role("textbox", name="Calendar URL").input_value()
    assert url.startswith(f"{server}/calendar/") and url.endswith(".ics")
    page.get_by_role("button", name="Copy the URL").click()
    expect(page.locator("#notifications")).to_contain_text("Calendar URL copied.")
    assert page.evaluate("navigator.clipboard.readText()") == url

    feed = page.context.request.get(url)  # a calendar app: the token, no need of the session
    assert feed.status == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert "SUMMARY:Voting opens: General" in feed.text()

    page.goto("/calendar/")
    expect(page.locator("#calendar-state")).to_contain_text("You have a calendar URL")
    expect(page.locator("main")).not_to_contain_text(url.rsplit("/", 1)[1])  # shown once only
    page.get_by_role("button", name="Revoke the URL").click()
    expect(page.locator("#notifications")).to_contain_text("Your calendar URL was revoked")
    assert page.context.request.get(url).status == 404
