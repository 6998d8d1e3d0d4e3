"""Hostile or odd input (issue 14, H2 to H6): a 4xx JSON body naming the problem, never a 500.

Each test would fail before its fix: Django's test client re-raises a server error
(RecursionError, OverflowError, UnicodeEncodeError, PostgreSQL's NUL refusal) instead
of returning a response.
"""

import json
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from activity_log.models import Action, ActivityEntry
from config.api import MAX_ERRORS
from config.input import MAX_JSON_DEPTH
from elections.models import Election
from elections.services import MAX_TREE_DEPTH, create_election
from scheduling import configuring, dispatching
from scheduling.models import Kind, ScheduledEvent, State
from tests.conftest import client_for
from tests.helpers import in_seconds, iso

pytestmark = pytest.mark.django_db

HUGE_ID = "9" * 25


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """These tests check what the HTTP layer answers; delivery is covered elsewhere."""
    monkeypatch.setattr(dispatching, "send", lambda *a, **k: None)
    monkeypatch.setattr(dispatching, "revoke", lambda ids: None)


def send(client, method: str, url: str, body: str, content_type: str = "application/json"):
    return client.generic(method, url, body, content_type=content_type)


def chain(levels: int, user) -> list[Election]:
    """A tree ``levels`` deep built directly (as chained uploads did before the limit), root first."""
    root = create_election(title="Level 1", created_by=user)
    elections = [root]
    for level in range(2, levels + 1):
        elections.append(Election.objects.create(title=f"Level {level}", parent=elections[-1]))
    return elections


def nested_config(levels: int, events: dict | None = None) -> dict:
    """An election configuration ``levels`` deep, the deepest one with ``events``."""
    config: dict = {"title": f"Level {levels}"}
    if events:
        config["scheduled_events"] = events
    for level in range(levels - 1, 0, -1):
        config = {"title": f"Level {level}", "children": [config]}
    return config


def assert_json_4xx(response, status: int):
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    return response.json()


# --- H2: deeply nested JSON ---------------------------------------------------------------

def test_json_nested_5000_levels_is_a_400_on_every_endpoint_even_the_anonymous_token_one(api, alice):
    election = create_election(title="Target", created_by=alice)
    deep = "[" * 5000 + "]" * 5000
    for client, method, url in [
        (APIClient(), "POST", "/api/auth/token/"),
        (api, "POST", "/api/elections/"),
        (api, "PUT", f"/api/elections/{election.pk}/scheduled-events/"),
        (api, "PATCH", f"/api/elections/{election.pk}/scheduled-events/"),
    ]:
        body = assert_json_4xx(send(client, method, url, deep), 400)
        assert f"more than {MAX_JSON_DEPTH} levels" in body["detail"], (url, body)
    assert Election.objects.count() == 1


def test_json_just_over_the_depth_limit_is_refused_and_the_deepest_allowed_tree_fits(api):
    too_deep = {"title": "x", "description": json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)}
    body = assert_json_4xx(send(api, "POST", "/api/elections/", json.dumps(too_deep)), 400)
    assert f"more than {MAX_JSON_DEPTH} levels" in body["detail"]
    assert not Election.objects.exists()

    start = {"start_voting": {"event_at": iso(in_seconds(3600))}}
    response = send(api, "POST", "/api/elections/", json.dumps(nested_config(MAX_TREE_DEPTH, start)))
    assert response.status_code == 201, response.content[:500]
    assert Election.objects.count() == MAX_TREE_DEPTH
    assert ScheduledEvent.objects.filter(election__title=f"Level {MAX_TREE_DEPTH}").count() == 1


# --- H3: oversized body ---------------------------------------------------------------------

def test_oversized_body_is_a_json_413_naming_the_limit_and_creates_nothing(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    big = json.dumps({"title": "Big", "description": "x" * 20_000})
    for client, url, content_type, payload in [
        (api, "/api/elections/", "application/json", big),
        (api, "/api/elections/", "application/x-www-form-urlencoded", urlencode(json.loads(big))),
        (APIClient(), "/api/auth/token/", "application/json", big),
    ]:
        body = assert_json_4xx(send(client, "POST", url, payload, content_type), 413)
        assert "10,000 bytes" in body["detail"], body
    assert not Election.objects.exists()


# --- H4: ids and text validated at the edge ---------------------------------------------------

def test_unicode_digits_and_huge_ids_are_400_naming_the_parameter_or_404(api, alice):
    root = create_election(title="Root", created_by=alice)
    for query in ("?parent=%C2%B2", f"?parent={HUGE_ID}", "?parent=-1"):
        body = assert_json_4xx(api.get(f"/api/elections/{query}"), 400)
        assert list(body) == ["parent"], body
    for query in ("?election=%C2%B2", f"?election={HUGE_ID}"):
        body = assert_json_4xx(api.get(f"/api/elections/{root.pk}/activity/{query}"), 400)
        assert list(body) == ["election"], body
    for path in (f"/api/elections/{HUGE_ID}/", f"/api/elections/{HUGE_ID}/scheduled-events/",
                 f"/api/elections/{HUGE_ID}/activity/"):
        assert_json_4xx(api.get(path), 404)
    body = assert_json_4xx(api.post("/api/elections/", {"title": "x", "parent": int(HUGE_ID)},
                                    format="json"), 400)
    assert list(body) == ["parent"], body
    assert Election.objects.count() == 1


def test_unicode_digits_and_huge_ids_on_pages_are_400_or_404(client, alice):
    root = create_election(title="Root", created_by=alice)
    client.force_login(alice)
    assert client.get(f"/elections/{HUGE_ID}/").status_code == 404
    assert client.get(f"/elections/{root.pk}/activity/?election=%C2%B2").status_code == 200


@pytest.mark.parametrize("field, value, problem", [
    ("title", "Gen\u0000eral", "NUL character"),
    ("description", "lone \ud800 surrogate", "lone surrogate"),
])
def test_nul_and_lone_surrogates_are_400_naming_the_field_and_create_nothing(api, field, value, problem):
    config = {"title": "General", field: value}
    body = assert_json_4xx(send(api, "POST", "/api/elections/", json.dumps(config)), 400)
    assert problem in body[field][0]
    nested = {"title": "General", "children": [{"title": "North", field: value}]}
    body = assert_json_4xx(send(api, "POST", "/api/elections/", json.dumps(nested)), 400)
    assert problem in body["children"]["0"][field][0]
    if "\x00" in value:  # a form body cannot carry a lone surrogate: its bytes are not UTF-8
        form = send(api, "POST", "/api/elections/", urlencode(config), "application/x-www-form-urlencoded")
        assert problem in assert_json_4xx(form, 400)[field][0]
    assert not Election.objects.exists()


def test_nul_or_surrogate_in_field_names_schedules_and_credentials_never_echo_a_500(api, alice):
    election = create_election(title="Root", created_by=alice)
    url = f"/api/elections/{election.pk}/scheduled-events/"
    body = assert_json_4xx(send(api, "POST", "/api/elections/", '{"title": "x", "\\ud800": 1}'), 400)
    assert "lone surrogate" in json.dumps(body)
    nul_time = json.dumps({"start_voting": {"event_at": "2026\u0000"}})
    body = assert_json_4xx(send(api, "PATCH", url, nul_time), 400)
    assert "NUL character" in body["start_voting"]["event_at"][0]
    body = assert_json_4xx(send(APIClient(), "POST", "/api/auth/token/",
                                json.dumps({"username": "alice\u0000", "password": "\udfff"})), 400)
    assert "NUL character" in body["username"][0] and "lone surrogate" in body["password"][0]
    assert not ScheduledEvent.objects.exists()


# --- H5: permission before validation; errors capped -------------------------------------------

def test_a_child_under_a_parent_one_may_not_edit_is_refused_before_the_body_is_read(alice, make_user):
    root = create_election(title="Root", created_by=alice)
    bob = client_for(make_user("bob", can_create=False))
    config = {"title": "", "parent": root.pk, "children": [{"bogus": "x" * 50}] * 5000}
    response = send(bob, "POST", "/api/elections/", json.dumps(config))
    body = assert_json_4xx(response, 400)
    assert list(body) == ["parent"] and "edit" in body["parent"][0]
    assert len(response.content) < 1000
    assert Election.objects.count() == 1


def test_errors_are_capped_with_a_count_of_the_rest(api):
    config = {"title": "", "children": [{"bogus": "x" * 50}] * 5000}
    response = send(api, "POST", "/api/elections/", json.dumps(config))
    body = assert_json_4xx(response, 400)
    assert len(response.content) < 20_000
    assert body["title"]
    assert len(body["children"]) < MAX_ERRORS
    total = 1 + 2 * 5000  # the title, and an unknown field and a missing title in each child
    assert body["non_field_errors"] == [f"… and {total - MAX_ERRORS:,} more errors; fix these first."]
    assert not Election.objects.exists()


# --- H6: tree depth limited; deep trees deleted without recursion ---------------------------------

def test_a_child_below_the_deepest_level_is_refused_naming_parent_and_the_limit(api, alice):
    elections = chain(MAX_TREE_DEPTH, alice)
    deepest, above = elections[-1], elections[-2]
    body = assert_json_4xx(api.post("/api/elections/", {"title": "Too deep", "parent": deepest.pk},
                                    format="json"), 400)
    assert list(body) == ["parent"] and str(MAX_TREE_DEPTH) in body["parent"][0]
    body = assert_json_4xx(api.post("/api/elections/", {
        "title": "Fits", "parent": above.pk, "children": [{"title": "Too deep"}]}, format="json"), 400)
    assert list(body) == ["children"] and str(MAX_TREE_DEPTH) in body["children"][0]
    fits = api.post("/api/elections/", {"title": "Fits", "parent": above.pk}, format="json")
    assert fits.status_code == 201
    assert Election.objects.count() == MAX_TREE_DEPTH + 1


def test_an_upload_nested_deeper_than_the_limit_is_refused_naming_children(api):
    too_deep = json.dumps(nested_config(MAX_TREE_DEPTH + 1))
    body = assert_json_4xx(send(api, "POST", "/api/elections/", too_deep), 400)
    assert list(body) == ["children"] and f"{MAX_TREE_DEPTH} levels" in body["children"][0]
    assert not Election.objects.exists()


def test_a_tree_700_levels_deep_is_deleted_keeping_its_log_and_cancelling_its_events(api, alice):
    elections = chain(700, alice)
    root, deepest = elections[0], elections[-1]
    configuring.configure(deepest, {Kind.START_VOTING: in_seconds(3600)}, actor=alice, replace=False)
    event = ScheduledEvent.objects.get(election_id=deepest.pk)

    response = api.delete(f"/api/elections/{root.pk}/")

    assert response.status_code == 204, response.content[:500]
    assert not Election.objects.exists()
    event.refresh_from_db()
    assert event.state == State.CANCELLED
    assert ActivityEntry.objects.filter(action=Action.ELECTION_DELETED).count() == 700
    assert ActivityEntry.objects.filter(election_id=deepest.pk, action=Action.EVENT_SCHEDULED).exists()


@pytest.mark.parametrize("path", ["/", "/elections/new/parents/"])
def test_a_search_with_a_nul_or_a_lone_surrogate_is_searched_without_it(path, client, make_user):
    """PostgreSQL refuses a NUL in a query parameter: the pages search without it (200, never 500)."""
    client.force_login(make_user("nul-searcher"))
    for query in ("Gen%00eral", "Gen%ED%A0%80eral", "%F0%9F%97%B3%00"):  # NUL, a surrogate, an emoji
        assert client.get(f"{path}?q={query}").status_code == 200
