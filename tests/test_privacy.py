"""A grant on a child shows nothing of the parent it does not cover.

The list's "Part of" column, the breadcrumbs of the child's pages and the API name an
ancestor only to users who may view it; the API's ``parent`` stays an id (it names
nothing).
"""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from elections.models import Permission
from elections.services import create_election, grant

pytestmark = pytest.mark.django_db

SECRET = "Board of the secret parent"


@pytest.fixture
def tree(alice):
    top = create_election(title=SECRET, created_by=alice)
    middle = create_election(title="Regional round", parent=top, created_by=alice)
    leaf = create_election(title="Coastal ward", parent=middle, created_by=alice)
    return top, middle, leaf


def pages_of(pk: int) -> list[str]:
    return ["/", f"/elections/{pk}/", f"/elections/{pk}/events/", f"/elections/{pk}/activity/"]


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_child_grant_shows_no_title_or_link_of_the_parent(tree, make_user):
    top, middle, _ = tree
    user = make_user("vera", can_create=False)
    grant(user, middle, Permission.VIEW)
    client = logged_in(user)
    for url in pages_of(middle.pk):
        body = client.get(url).content.decode()
        assert "Regional round" in body, url
        assert SECRET not in body, url
        assert f'href="/elections/{top.pk}/"' not in body, url
    api = APIClient()
    api.force_authenticate(user)
    for url in (f"/api/elections/{middle.pk}/", f"/api/elections/?parent={top.pk}", "/api/elections/"):
        response = api.get(url)
        assert response.status_code == 200 and SECRET not in response.content.decode(), url
    assert api.get(f"/api/elections/{middle.pk}/").json()["parent"] == top.pk  # an id, no title


def test_each_page_names_the_ancestors_the_user_may_view(tree, make_user):
    top, middle, leaf = tree
    user = make_user("mid", can_create=False)
    grant(user, middle, Permission.SCHEDULE_EVENTS)
    client = logged_in(user)
    # The leaf's parent is covered by the grant: named and linked; the top still is not.
    for url in pages_of(leaf.pk):
        body = client.get(url).content.decode()
        assert "Regional round" in body and SECRET not in body, url
    assert f'href="/elections/{middle.pk}/"' in client.get(f"/elections/{leaf.pk}/").content.decode()
    assert "<td>Regional round</td>" in client.get("/").content.decode()  # "Part of" of the leaf

    # Someone who may view the top sees it everywhere.
    viewer = make_user("top", can_create=False)
    grant(viewer, top, Permission.VIEW)
    client = logged_in(viewer)
    assert f"<td>{SECRET}</td>" in client.get("/").content.decode()
    for url in pages_of(middle.pk)[1:]:
        body = client.get(url).content.decode()
        assert SECRET in body and f'href="/elections/{top.pk}/"' in body, url
