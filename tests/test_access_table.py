"""Who gets what: every API endpoint (and /healthz and the pages) against every kind of caller.

Callers: anonymous, a user with no grant, and users holding ``view``,
``schedule-events`` or ``edit`` on the parent election, and a superuser. A
grant on the parent covers its child and nothing else (not the sibling tree);
a grant on the child does not reach up to the parent.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from elections.models import Election
from elections.services import create_election, grant

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "no grant", "view", "schedule-events", "edit", "superuser"]
RANK = {"view": 1, "schedule-events": 2, "edit": 3, "superuser": 4}


def future(days: int) -> str:
    return (timezone.now() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


REMINDER = {"name": "Closing soon", "when": {"before": "end_voting", "offset": "PT24H"},
            "operations": {"send_email": {"template": "voting-closes-soon"}},
            "recipients": {"grants": ["edit"]}}

# (method, path template, body, the grant it needs, the status when allowed). In this order:
# the status actions go from notstarted, so suspend/resume are refused (409) before start and stop.
OBJECT_ENDPOINTS = [
    ("get", "/api/elections/{pk}/", None, "view", 200),
    ("get", "/api/elections/{pk}/scheduled-events/", None, "view", 200),
    ("get", "/api/elections/{pk}/scheduled-events/history/", None, "view", 200),
    ("get", "/api/elections/{pk}/activity/", None, "view", 200),
    ("post", "/api/elections/{pk}/scheduled-events/",
     {"start_voting": {"event_at": future(1)}}, "schedule-events", 200),
    ("put", "/api/elections/{pk}/scheduled-events/",
     {"start_voting": {"event_at": future(2)}, "end_voting": {"event_at": future(3)}},
     "schedule-events", 200),
    ("patch", "/api/elections/{pk}/scheduled-events/", {"end_voting": None}, "schedule-events", 200),
    ("get", "/api/elections/{pk}/automations/", None, "view", 200),
    ("post", "/api/elections/{pk}/automations/", REMINDER, "schedule-events", 201),
    ("get", "/api/automations/recipient-suggestions/?election={pk}", None, "schedule-events", 200),
    ("get", "/api/elections/{pk}/emails/", None, "edit", 200),
    ("post", "/api/elections/{pk}/suspend/", None, "edit", 409),
    ("post", "/api/elections/{pk}/resume/", None, "edit", 409),
    ("post", "/api/elections/{pk}/start/", None, "edit", 200),
    ("post", "/api/elections/{pk}/stop/", None, "edit", 200),
    ("post", "/api/elections/", {"title": "Ward", "parent": "{pk}"}, "edit", 201),
    ("delete", "/api/elections/{pk}/", None, "edit", 204),
]
PAGES = ["/elections/{pk}/", "/elections/{pk}/events/", "/elections/{pk}/activity/"]
#: Pages that need more than the view grant: (path template, grant).
GRANTED_PAGES = [("/elections/{pk}/automations/panel/", "view"), ("/elections/{pk}/emails/", "edit"),
                 ("/elections/{pk}/settings/", "edit")]


def expected(role: str, covered: bool, needs: str, allowed: int, path: str) -> int:
    if role == "anonymous":
        return 401
    if role != "superuser" and not covered:
        # Creating a child under an election you may not edit is bad input naming ``parent``.
        return 400 if path == "/api/elections/" else 404
    if RANK[role] >= RANK[needs]:
        return allowed
    if path == "/api/elections/":
        return 400
    return 403


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(make_user):
    owner = make_user("owner")
    parent = create_election(title="Parent", created_by=owner)
    child = create_election(title="Child", parent=parent, created_by=owner)
    sibling = create_election(title="Sibling", created_by=owner)
    return {"parent": parent, "child": child, "sibling": sibling}


def caller(role: str, make_user, grant_on: Election | None) -> APIClient:
    client = APIClient()
    if role == "anonymous":
        return client
    user = make_user(role.replace(" ", "-"), superuser=role == "superuser", can_create=False)
    if role in ("view", "schedule-events", "edit") and grant_on is not None:
        grant(user, grant_on, role)
    client.force_authenticate(user)
    return client


def signed_in(client, api_client: APIClient) -> APIClient:
    """Log the page ``client`` in as ``api_client``'s user (none: stays anonymous); returns ``api_client``."""
    user = getattr(api_client.handler, "_force_user", None)
    if user is not None:
        client.force_login(user)
    return api_client


def call(client, method, path, body):
    return getattr(client, method)(path, body, format="json") if body is not None else \
        getattr(client, method)(path)


@pytest.mark.parametrize("target", ["parent", "child", "sibling"])
@pytest.mark.parametrize("role", ROLES)
def test_object_endpoints(role, target, world, make_user):
    client = caller(role, make_user, grant_on=world["parent"])
    election = world[target]
    covered = role != "no grant" and target in ("parent", "child")
    mismatches = []
    for method, template, body, needs, allowed in OBJECT_ENDPOINTS:
        path = template.format(pk=election.pk)
        if isinstance(body, dict) and body.get("parent") == "{pk}":
            body = {**body, "parent": election.pk}
        want = expected(role, covered, needs, allowed, template)
        got = call(client, method, path, body).status_code
        if got != want:
            mismatches.append(f"{method.upper()} {template}: got {got}, want {want}")
    assert not mismatches, f"{role} on {target}:\n" + "\n".join(mismatches)


@pytest.mark.parametrize("target,want", [("parent", 404), ("child", 200), ("sibling", 404)])
def test_a_grant_on_a_child_does_not_reach_its_parent(target, want, world, make_user):
    client = caller("edit", make_user, grant_on=world["child"])
    election = world[target]
    for template in ("/api/elections/{pk}/", "/api/elections/{pk}/activity/",
                     "/api/elections/{pk}/scheduled-events/"):
        assert client.get(template.format(pk=election.pk)).status_code == want
    response = client.post(f"/api/elections/{election.pk}/start/")
    assert response.status_code == (200 if want == 200 else 404)
    if want == 404:
        assert Election.objects.get(pk=election.pk).status == "notstarted"


@pytest.mark.parametrize("role", ROLES)
def test_election_list_shows_exactly_what_the_grant_covers(role, world, make_user):
    client = caller(role, make_user, grant_on=world["parent"])
    response = client.get("/api/elections/")
    if role == "anonymous":
        assert response.status_code == 401
        return
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    want = {"no grant": set(), "superuser": {e.pk for e in world.values()}}.get(
        role, {world["parent"].pk, world["child"].pk})
    assert ids == want


@pytest.mark.parametrize("role,want", [("anonymous", 401), ("no grant", 403), ("edit", 403),
                                       ("superuser", 201)])
def test_creating_a_top_level_election_needs_the_add_permission(role, want, world, make_user):
    client = caller(role, make_user, grant_on=world["parent"])
    assert client.post("/api/elections/", {"title": "New"}, format="json").status_code == want


def test_the_add_permission_allows_a_top_level_election(api):
    assert api.post("/api/elections/", {"title": "New"}, format="json").status_code == 201


@pytest.mark.parametrize("role", ROLES)
def test_public_and_token_endpoints(role, world, make_user):
    client = caller(role, make_user, grant_on=world["parent"])
    health = client.get("/healthz")
    # Everyone without a staff token gets the status only (tests/test_health.py has the details).
    assert health.status_code in (200, 503) and list(health.json()) == ["status"]
    # The OpenAPI schema is public (drf-spectacular's default SERVE_PERMISSIONS): it holds no data.
    assert client.get("/api/schema/").status_code == 200
    token = client.post("/api/auth/token/", {"username": "owner", "password": "wrong"}, format="json")
    assert token.status_code == 400


def test_token_endpoint_gives_a_token_for_the_right_password(world):
    from django.core.cache import cache

    cache.clear()
    response = APIClient().post("/api/auth/token/", {"username": "owner", "password": "pw-Secret-123"},
                                format="json")
    assert response.status_code == 200 and response.json()["token"]
    token_client = APIClient(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert token_client.get(f"/api/elections/{world['child'].pk}/").status_code == 200
    assert APIClient(HTTP_AUTHORIZATION="Token nope").get("/api/elections/").status_code == 401


@pytest.mark.parametrize("target", ["parent", "child", "sibling"])
@pytest.mark.parametrize("role", ROLES)
def test_pages(role, target, world, make_user, client):
    signed_in(client, caller(role, make_user, grant_on=world["parent"]))
    covered = role == "superuser" or (role != "no grant" and target != "sibling")
    for template in PAGES:
        response = client.get(template.format(pk=world[target].pk))
        if role == "anonymous":
            assert response.status_code == 302 and "/login/" in response["Location"], template
        else:
            assert response.status_code == (200 if covered else 404), (template, response.status_code)
    for path in ("/", "/elections/new/", "/upcoming/", "/calendar/"):
        response = client.get(path)
        assert response.status_code == (302 if role == "anonymous" else 200), path


@pytest.mark.parametrize("target", ["parent", "child", "sibling"])
@pytest.mark.parametrize("role", ROLES)
def test_pages_that_need_a_grant(role, target, world, make_user, client):
    signed_in(client, caller(role, make_user, grant_on=world["parent"]))
    covered = role != "no grant" and target in ("parent", "child")
    mismatches = []
    for template, needs in GRANTED_PAGES:
        got = client.get(template.format(pk=world[target].pk)).status_code
        if role == "anonymous":
            ok = got in (302, 401)  # the fragment answers 401; pages send to the login page
        else:
            ok = got == expected(role, covered, needs, 200, template)
        if not ok:
            mismatches.append(f"{template}: got {got}")
    assert not mismatches, f"{role} on {target}:\n" + "\n".join(mismatches)


@pytest.mark.parametrize("role", ROLES)
def test_superuser_only_pages(role, world, make_user, client):
    api_client = signed_in(client, caller(role, make_user, grant_on=world["parent"]))
    for path in ("/automations/", "/emails/", "/email-templates/"):
        got = client.get(path).status_code
        if role == "anonymous":
            assert got == 302, path
        else:
            assert got == (200 if role == "superuser" else 403), (path, got)
    api = api_client.get("/api/automations/").status_code
    assert api == {"anonymous": 401, "superuser": 200}.get(role, 403)
