"""An election's settings page: edit its title and description, manage grants, delete it with a
confirmation naming its children and pending events (issue 15, item 17), in headless Chromium."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from activity_log.models import Action, ActivityEntry
from elections.models import Election, ElectionGrant, Permission
from elections.services import create_election, grant
from scheduling import configuring as scheduling
from scheduling.models import ScheduledEvent, State

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_edit_title_and_description_and_nothing_changed(alice, open_page):
    root = create_election(title="General", created_by=alice)
    page = open_page(alice)
    page.goto(f"/elections/{root.pk}/")
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_label("Title", exact=True).fill("General election 2027")
    page.get_by_label("Description", exact=True).fill("All districts.")
    page.get_by_role("button", name="Save title and description").click()
    expect(page.locator("#notifications")).to_contain_text("Saved: the title and the description changed.")
    root.refresh_from_db()
    assert (root.title, root.description) == ("General election 2027", "All districts.")
    page.get_by_role("button", name="Save title and description").click()
    expect(page.locator("#notifications")).to_contain_text("Nothing changed.")
    page.get_by_label("Title", exact=True).fill("   ")
    page.get_by_role("button", name="Save title and description").click()
    expect(page.locator("#edit-title-error")).to_contain_text("Required")
    root.refresh_from_db()
    assert root.title == "General election 2027"
    page.goto(f"/elections/{root.pk}/activity/")
    expect(page.locator("#activity")).to_contain_text(
        "alice changed the description from “” to “All districts.”; the title from “General” to "
        "“General election 2027”")


def test_grants_are_given_changed_removed_and_the_last_editor_is_kept(alice, make_user, open_page):
    root = create_election(title="General", created_by=alice)
    bob = make_user("bob", can_create=False)
    page = open_page(alice)
    page.goto(f"/elections/{root.pk}/settings/")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Grant", exact=True).select_option("view")
    page.get_by_role("button", name="Give the grant").click()
    expect(page.locator("#notifications")).to_contain_text("bob now has the view grant.")
    assert ElectionGrant.objects.get(user=bob, election=root).permission == Permission.VIEW

    page.get_by_label("Grant of bob", exact=True).select_option("edit")
    page.locator("tr[data-user='bob']").get_by_role("button", name="Change").click()
    expect(page.locator("#notifications")).to_contain_text("bob now has the edit grant.")

    page.get_by_role("button", name="Remove the grant of bob").click()
    expect(page.locator("tr[data-user='bob']")).to_have_count(0)
    page.get_by_role("button", name="Remove the grant of alice").click()  # the last editor: refused
    expect(page.locator("#grant-error")).to_contain_text("alice holds the last edit grant")
    assert ElectionGrant.objects.get(user=alice, election=root).permission == Permission.EDIT

    page.get_by_label("Username").fill("nobody")
    page.get_by_role("button", name="Give the grant").click()
    expect(page.locator("#grant-username-error")).to_contain_text("No active user named “nobody”")
    rows = ActivityEntry.objects.filter(
        action__in=[Action.GRANT_ADDED, Action.GRANT_CHANGED, Action.GRANT_REMOVED]).order_by("pk")
    assert [(r.action, r.metadata["user"], r.metadata["from"], r.metadata["to"]) for r in rows] == [
        (Action.GRANT_ADDED, "bob", None, "view"), (Action.GRANT_CHANGED, "bob", "view", "edit"),
        (Action.GRANT_REMOVED, "bob", "edit", None)]
    page.goto(f"/elections/{root.pk}/activity/")
    expect(page.locator("#activity")).to_contain_text("alice removed the edit access of bob")


def test_settings_need_the_edit_grant_and_csrf(alice, make_user):
    root = create_election(title="General", created_by=alice)
    scheduler = make_user("scheduler", can_create=False)
    grant(scheduler, root, Permission.SCHEDULE_EVENTS)
    client = Client()
    client.force_login(scheduler)
    assert client.get(f"/elections/{root.pk}/settings/").status_code == 403
    assert client.post(f"/elections/{root.pk}/delete/").status_code == 403
    assert "Settings</a>" not in client.get(f"/elections/{root.pk}/").content.decode()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(f"/elections/{root.pk}/delete/").status_code == 403
    assert Election.objects.filter(pk=root.pk).exists()


def test_delete_asks_naming_children_and_pending_events(alice, open_page):
    root = create_election(title="General", created_by=alice)
    kids = [create_election(title=f"District {i}", parent=root, created_by=alice) for i in range(3)]
    start = timezone.now() + timedelta(days=2)
    scheduling.configure(root, {"start_voting": start}, actor=alice, replace=False)
    scheduling.configure(kids[0], {"start_voting": start}, actor=alice, replace=False)
    page = open_page(alice)
    page.goto(f"/elections/{root.pk}/settings/")
    page.get_by_role("button", name="Delete…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete “General” and its 3 child elections?")
    expect(dialog).to_contain_text("Their 2 pending scheduled events will be cancelled.")
    dialog.get_by_role("button", name="Cancel").click()
    assert Election.objects.filter(pk=root.pk).exists()
    page.get_by_role("button", name="Delete…").click()
    dialog.get_by_role("button", name="Delete", exact=True).click()
    page.wait_for_url("**/")
    expect(page.locator("#notifications")).to_contain_text("“General” and its child elections were deleted")
    assert not Election.objects.filter(pk__in=[root.pk, *[k.pk for k in kids]]).exists()
    assert ScheduledEvent.objects.filter(state=State.CANCELLED).count() == 2
