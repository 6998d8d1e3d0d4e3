"""Grants to groups (issue 15 item 17): a member of a group holds the group's grant, on the
election and its descendants, exactly as if it were their own; the access table again, through a
group; the highest of a user's own and their groups' grants counts; the settings page manages them,
logged like a user's grant; the rank is still one query."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from activity_log.models import Action, ActivityEntry
from activity_log.presentation import describe
from elections.models import ElectionGroupGrant
from elections.selectors import election_with_rank, viewable_among, viewable_elections
from elections.services import create_election, grant, set_group_grant
from tests.test_access_table import OBJECT_ENDPOINTS, PAGES, call, expected

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(make_user):
    """The access table's: a parent with a child, and a sibling tree, all owned by ``owner``."""
    owner = make_user("owner")
    parent = create_election(title="Parent", created_by=owner)
    child = create_election(title="Child", parent=parent, created_by=owner)
    sibling = create_election(title="Sibling", created_by=owner)
    return {"parent": parent, "child": child, "sibling": sibling}

GROUP_ROLES = ["view", "schedule-events", "edit"]


def member_of_group_with(role: str, make_user, grant_on, *, owner):
    """A user (no grant of their own) in a group that holds ``role`` on ``grant_on``."""
    user = make_user(f"member-{role}", can_create=False)
    group = Group.objects.create(name=f"holders of {role}")
    group.user_set.add(user)
    set_group_grant(grant_on, group, role, actor=owner)
    return user, group


@pytest.mark.parametrize("target", ["parent", "child", "sibling"])
@pytest.mark.parametrize("role", GROUP_ROLES)
def test_object_endpoints_through_a_group(role, target, world, make_user):
    owner = world["parent"].created_by
    user, _ = member_of_group_with(role, make_user, world["parent"], owner=owner)
    client = APIClient()
    client.force_authenticate(user)
    election = world[target]
    covered = target in ("parent", "child")
    mismatches = []
    for method, template, body, needs, allowed in OBJECT_ENDPOINTS:
        path = template.format(pk=election.pk)
        if isinstance(body, dict) and body.get("parent") == "{pk}":
            body = {**body, "parent": election.pk}
        want = expected(role, covered, needs, allowed, template)
        got = call(client, method, path, body).status_code
        if got != want:
            mismatches.append(f"{method.upper()} {template}: got {got}, want {want}")
    assert not mismatches, f"group {role} on {target}:\n" + "\n".join(mismatches)


@pytest.mark.parametrize("role", GROUP_ROLES)
def test_list_and_pages_through_a_group_and_leaving_the_group_takes_it_away(role, world, make_user):
    owner = world["parent"].created_by
    user, group = member_of_group_with(role, make_user, world["parent"], owner=owner)
    api = APIClient()
    api.force_authenticate(user)
    assert {row["id"] for row in api.get("/api/elections/").json()["results"]} == {
        world["parent"].pk, world["child"].pk}
    pages = Client()
    pages.force_login(user)
    for template in PAGES:
        assert pages.get(template.format(pk=world["child"].pk)).status_code == 200
        assert pages.get(template.format(pk=world["sibling"].pk)).status_code == 404
    settings = pages.get(f"/elections/{world['child'].pk}/settings/").status_code
    assert settings == (200 if role == "edit" else 403)

    group.user_set.remove(user)
    assert api.get(f"/api/elections/{world['child'].pk}/").status_code == 404
    assert api.get("/api/elections/").json()["results"] == []


def test_the_highest_of_own_and_group_grants_counts_in_one_query(world, make_user):
    owner = world["parent"].created_by
    user, _ = member_of_group_with("view", make_user, world["parent"], owner=owner)
    grant(user, world["child"], "schedule-events")
    second = Group.objects.create(name="editors of the child")
    second.user_set.add(user)
    with CaptureQueriesContext(connection) as queries:
        found = election_with_rank(user, world["child"].pk)
    assert found.granted_rank == 2 and len(queries) == 1
    set_group_grant(world["child"], second, "edit", actor=owner)
    assert election_with_rank(user, world["child"].pk).granted_rank == 3
    assert election_with_rank(user, world["parent"].pk).granted_rank == 1
    viewable = set(viewable_elections(user).values_list("pk", flat=True))
    assert viewable == {world["parent"].pk, world["child"].pk}
    assert viewable_among(user, {world["parent"].pk, world["sibling"].pk}) == {world["parent"].pk}


def test_the_settings_page_gives_changes_and_removes_a_group_grant_logged(world, make_user):
    owner = world["parent"].created_by
    Group.objects.create(name="Observers")
    page = Client()
    page.force_login(owner)
    url = f"/elections/{world['parent'].pk}/settings/"
    assert "Observers" in page.get(url).content.decode()
    for permission in ("view", "edit", ""):
        answer = page.post(url, {"form": "group-grant", "group": "Observers", "permission": permission})
        assert answer.status_code == 302
    assert not ElectionGroupGrant.objects.exists()
    log = ActivityEntry.objects.filter(election_id=world["parent"].pk, action__in=[
        Action.GRANT_ADDED, Action.GRANT_CHANGED, Action.GRANT_REMOVED]).order_by("id")
    assert [describe(e) for e in log] == [
        "owner gave group Observers view access",
        "owner changed the access of group Observers from view to edit",
        "owner removed the edit access of group Observers",
    ]
    assert log[0].metadata["group_id"] == Group.objects.get().pk
    missing = page.post(url, {"form": "group-grant", "group": "Nobody", "permission": "view"})
    assert missing.status_code == 400 and "No group named" in missing.content.decode()
    viewer = make_user("viewer", can_create=False)
    grant(viewer, world["parent"], "schedule-events")
    other = Client()
    other.force_login(viewer)
    refused = other.post(url, {"form": "group-grant", "group": "Observers", "permission": "edit"})
    assert refused.status_code == 403
    assert not ElectionGroupGrant.objects.exists()
