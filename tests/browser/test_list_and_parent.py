"""The election list finds what an administrator looks for, and the upload's parent is a search
(issue 15, item 13), in headless Chromium."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from elections.models import Election
from elections.services import create_election
from scheduling import configuring as scheduling

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def titles(page) -> list[str]:
    return page.locator("table.table tbody tr td:first-child").all_inner_texts()


def test_search_filter_top_level_and_order_by_next_event(alice, open_page):
    general = create_election(title="General", created_by=alice)
    north = create_election(title="North", parent=general, created_by=alice)
    create_election(title="South", parent=general, created_by=alice)
    referendum = create_election(title="Referendum", created_by=alice)
    scheduling.configure(general, {"start_voting": timezone.now() + timedelta(days=3)}, actor=alice,
                         replace=False)
    scheduling.configure(referendum, {"start_voting": timezone.now() + timedelta(days=1)}, actor=alice,
                         replace=False)
    scheduling.change_status(north, "start", actor=alice)
    page = open_page(alice)
    page.goto("/")
    assert titles(page) == ["Referendum", "South", "North", "General"]  # newest first

    page.get_by_label("Title contains").fill("ort")
    page.get_by_role("button", name="Show").click()
    assert titles(page) == ["North"]

    page.goto("/")
    page.get_by_label("Status").select_option("started")
    page.get_by_role("button", name="Show").click()
    assert titles(page) == ["North"]

    page.goto("/")
    page.get_by_label("Top-level only").check()
    page.get_by_role("button", name="Show").click()
    assert titles(page) == ["Referendum", "General"]

    page.goto("/")
    page.get_by_label("Order").select_option("next")
    page.get_by_role("button", name="Show").click()
    assert titles(page)[:2] == ["Referendum", "General"]  # soonest event first, nothing pending last
    page.get_by_label("Title contains").fill("Nothing like it")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("No election you may view matches.")).to_be_visible()


def test_the_parent_is_chosen_by_searching_among_elections_one_may_edit(alice, make_user, open_page):
    districts = [create_election(title=f"District {i:02d}", created_by=alice) for i in range(60)]
    bob = make_user("bob")
    create_election(title="District of bob", created_by=bob)  # alice may not edit it
    page = open_page(alice)
    page.goto("/elections/new/")
    parent = page.get_by_label("Under an existing election (optional)")
    parent.fill("District 4")
    options = page.locator("#parent-options option")
    expect(options).to_have_count(10)  # District 40-49, not 60 options nor bob's
    parent.fill("istrict 42")
    expect(options).to_have_count(1)
    label = f"District 42 (#{districts[42].pk})"
    expect(options.first).to_have_attribute("value", label)
    parent.fill(label)  # what choosing the suggestion puts in the field
    page.get_by_label("…or paste the configuration").fill(json.dumps({"title": "Ward"}))
    page.get_by_role("button", name="Create the election").click()
    page.wait_for_url("**/elections/*/")
    expect(page.locator(".crumbs")).to_contain_text("District 42")
    assert Election.objects.get(title="Ward").parent_id == districts[42].pk

    page.goto("/elections/new/")
    page.get_by_label("Under an existing election (optional)").fill("District of bob")
    expect(page.locator("#parent-options option")).to_have_count(0)
