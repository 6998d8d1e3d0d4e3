"""The upload page shows every problem at once, each next to its path, and says how to split a
configuration that is too big (issue 15, items 7 and 9), in headless Chromium."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from elections.models import Election
from scheduling.election_config import MAX_ELECTIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def iso(instant) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def upload(page, config):
    page.goto("/elections/new/")
    page.get_by_label("…or paste the configuration").fill(json.dumps(config))
    page.get_by_role("button", name="Create the election").click()


def test_five_problems_are_shown_at_once_each_next_to_its_path(alice, open_page):
    """One submit, one answer: the API's 400 holds every problem (not one per round trip)."""
    past, soon = timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=2)
    early_end = soon - timedelta(hours=1)  # before its parent's start
    config = {"title": "General", "scheduled_events": {"start_voting": {"event_at": iso(soon)}},
              "children": [
                  {"title": "A", "scheduled_events": {"start_voting": {"event_at": iso(past)}}},
                  {"title": "B"},
                  {"title": "C", "scheduled_events": {"start_voting": {"event_at": iso(past)}}},
                  {"title": "D", "scheduled_events": {"end_voting": {"event_at": iso(early_end)}}},
                  {"title": "E", "scheduled_events": {"start_voting": {"event_at": "tomorrow"}}},
                  {"title": "", "scheduled_events": {"start_voting": {"event_at": iso(past)}}},
              ]}
    page = open_page(alice)
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    upload(page, config)
    errors = page.locator("#upload-errors")
    expect(errors).to_contain_text("6 problems")
    paths = errors.locator("code.error-path")
    expect(paths).to_have_count(6)
    texts = sorted(paths.all_inner_texts())
    assert texts == sorted([
        "children[0].scheduled_events.start_voting.event_at",
        "children[2].scheduled_events.start_voting.event_at",
        "children[3].scheduled_events.end_voting.event_at",
        "children[4].scheduled_events.start_voting.event_at",
        "children[5].title",
        "children[5].scheduled_events.start_voting.event_at",
    ])
    expect(errors).to_contain_text("is in the past")
    expect(errors).to_contain_text("not an ISO 8601 date-time")
    assert [url.split("/", 3)[3] for url in posts] == ["api/elections/"]  # one round trip: the API's 400
    assert not Election.objects.exists()


def test_too_many_elections_says_the_limit_and_how_to_split_without_a_round_trip(alice, open_page):
    config = {"title": "General", "children": [{"title": f"c{i}"} for i in range(MAX_ELECTIONS)]}
    page = open_page(alice)
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    upload(page, config)
    errors = page.locator("#upload-errors")
    expect(errors).to_contain_text(f"more than {MAX_ELECTIONS:,} elections")
    expect(errors).to_contain_text("Split it: upload the top election with its first")
    expect(errors).to_contain_text('"parent"')
    expect(errors).not_to_contain_text(f"children[{MAX_ELECTIONS - 1}]")
    assert posts == [] and not Election.objects.exists()


def test_more_than_fifty_problems_show_fifty_and_count_the_rest(alice, open_page):
    past = iso(timezone.now() - timedelta(days=1))
    config = {"title": "General", "children": [
        {"title": f"c{i}", "scheduled_events": {"start_voting": {"event_at": past}}} for i in range(60)]}
    page = open_page(alice)
    upload(page, config)
    errors = page.locator("#upload-errors")
    expect(errors).to_contain_text("50 problems")
    expect(errors.locator("code.error-path")).to_have_count(50)
    expect(errors.locator("code.error-path").first).to_have_text("children[0].scheduled_events.start_voting.event_at")
    expect(errors.locator("p").last).to_have_text("… and 10 more errors; fix these first.")
