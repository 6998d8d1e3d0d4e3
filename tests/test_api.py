"""The REST API contract: paths, shapes, validation messages, status codes."""

import pytest
from rest_framework.test import APIClient

from activity_log.models import ActivityEntry
from elections.models import Election, Permission, Status
from elections.services import grant
from scheduling.models import ScheduledEvent
from tests.conftest import client_for
from tests.helpers import in_seconds, iso

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """These tests check the HTTP contract; delivery is covered by test_integration."""
    from scheduling import dispatching

    monkeypatch.setattr(dispatching, "send", lambda *a, **k: None)
    monkeypatch.setattr(dispatching, "revoke", lambda ids: None)


def create(api, **config):
    response = api.post("/api/elections/", {"title": "General", **config}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_token_login_and_token_authentication(alice):
    anonymous = APIClient()
    response = anonymous.post("/api/auth/token/", {"username": "alice", "password": "pw-Secret-123"},
                              format="json")
    assert response.status_code == 200
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert anonymous.get("/api/elections/").status_code == 200
    bad = APIClient().post("/api/auth/token/", {"username": "alice", "password": "nope"}, format="json")
    assert bad.status_code == 400


def test_a_token_acts_as_its_own_user_and_a_wrong_or_deactivated_one_gets_401(alice, make_user):
    from rest_framework.authtoken.models import Token

    bob = make_user("bob")
    mine = create(client_for(alice))
    for_alice, for_bob = APIClient(), APIClient()
    for_alice.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=alice).key}")
    for_bob.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=bob).key}")
    assert for_alice.get(f"/api/elections/{mine['id']}/scheduled-events/").status_code == 200
    assert for_bob.get(f"/api/elections/{mine['id']}/scheduled-events/").status_code == 404

    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    response = wrong.get("/api/elections/")
    assert response.status_code == 401 and response.json() == {"detail": "Invalid token."}

    alice.is_active = False
    alice.save()
    response = for_alice.get("/api/elections/")
    assert response.status_code == 401 and response.json() == {"detail": "User inactive or deleted."}


def test_anonymous_gets_401():
    response = APIClient().get("/api/elections/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


def test_create_with_children_and_events_returns_the_contract_shape(api):
    start, end = in_seconds(60), in_seconds(120)
    body = create(api, description="d", children=[{"title": "North"}, {"title": "South"}],
                  scheduled_events={"start_voting": {"event_at": iso(start)},
                                    "end_voting": {"event_at": end.isoformat()}})
    assert set(body) == {"id", "title", "description", "status", "parent", "children",
                         "scheduled_events", "automations", "created_at", "updated_at", "time_zone"}
    assert body["automations"] == []
    assert body["status"] == "notstarted" and body["parent"] is None and len(body["children"]) == 2
    start_voting = body["scheduled_events"]["start_voting"]
    assert set(start_voting) == {"event_at", "task_id", "state"}
    assert start_voting["state"] == "pending"
    assert start_voting["event_at"] == start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    child = api.get(f"/api/elections/{body['children'][0]}/").json()
    assert child["parent"] == body["id"] and child["scheduled_events"] == {
        "start_voting": None, "end_voting": None}


def test_offsets_are_stored_and_returned_in_utc(api):
    body = create(api, scheduled_events={"start_voting": {"event_at": "2999-09-12T11:26:00+02:00"}})
    assert body["scheduled_events"]["start_voting"]["event_at"] == "2999-09-12T09:26:00Z"


def test_bad_configuration_anywhere_in_the_tree_creates_nothing(api):
    response = api.post("/api/elections/", {
        "title": "General",
        "scheduled_events": {"start_voting": {"event_at": iso(in_seconds(60))}},
        "children": [{"title": "ok"}, {"title": "bad", "scheduled_events": {
            "end_voting": {"event_at": "2026-09-12T09:26:00"}}}],
    }, format="json")
    assert response.status_code == 400
    message = response.json()["children"]["1"]["scheduled_events"]["end_voting"]["event_at"][0]
    assert "offset" in message
    assert not Election.objects.exists() and not ScheduledEvent.objects.exists()
    assert not ActivityEntry.objects.exists()


def test_rule_broken_in_a_child_is_reported_at_its_path_and_creates_nothing(api):
    response = api.post("/api/elections/", {"title": "General", "children": [
        {"title": "c", "scheduled_events": {"start_voting": {"event_at": "2001-01-01T00:00:00Z"}}}]},
        format="json")
    assert response.status_code == 400
    assert "in the past" in response.json()["children"]["0"]["scheduled_events"]["start_voting"][
        "event_at"][0]
    assert not Election.objects.exists()


def paths_of(detail, path="") -> list[str]:
    """``children[3].scheduled_events.end_voting.event_at`` for each message of an error body."""
    if isinstance(detail, list):
        return [path]
    return [found for key, value in detail.items() for found in paths_of(
        value, f"{path}[{key}]" if key.isdigit() else f"{path}.{key}" if path else key)]


def test_an_upload_with_five_problems_in_different_children_names_all_five_at_once(api):
    """Issue 15 item 7: the malformed fields and the schedules the rules refuse, of every child, in
    one answer (before, the rules stopped at the first election they refused)."""
    day = 24 * 3600
    response = api.post("/api/elections/", {
        "title": "General",
        "scheduled_events": {"start_voting": {"event_at": iso(in_seconds(day))},
                             "end_voting": {"event_at": iso(in_seconds(3 * day))}},
        "children": [
            {"title": "past", "scheduled_events": {"end_voting": {"event_at": "2001-01-01T00:00:00Z"}}},
            {"title": "fine", "scheduled_events": {"end_voting": {"event_at": iso(in_seconds(2 * day))}}},
            {"title": "closes before its parent opens",
             "scheduled_events": {"end_voting": {"event_at": iso(in_seconds(day / 2))}}},
            {"title": "malformed", "scheduled_events": {"start_voting": {"event_at": "tomorrow"}}},
            {"title": "", "children": [{"title": "closes after its grandparent", "scheduled_events": {
                "end_voting": {"event_at": iso(in_seconds(4 * day))}}}]},
        ],
    }, format="json")
    assert response.status_code == 400
    detail = response.json()
    assert sorted(paths_of(detail)) == [
        "children[0].scheduled_events.end_voting.event_at",
        "children[2].scheduled_events.end_voting.event_at",
        "children[3].scheduled_events.start_voting.event_at",
        "children[4].children[0].scheduled_events.end_voting.event_at",
        "children[4].title",
    ]
    assert "in the past" in detail["children"]["0"]["scheduled_events"]["end_voting"]["event_at"][0]
    assert detail["children"]["2"]["scheduled_events"]["end_voting"]["event_at"][0].startswith(
        "Must be after the start of voting of \u201cGeneral\u201d (at the top in this upload)")
    assert "\u201cGeneral\u201d (at the top in this upload)" in (
        detail["children"]["4"]["children"]["0"]["scheduled_events"]["end_voting"]["event_at"][0])
    assert not Election.objects.exists() and not ScheduledEvent.objects.exists()
    assert not ActivityEntry.objects.exists()


def test_an_upload_under_a_parent_is_checked_against_the_stored_windows_above_it(api):
    day = 24 * 3600
    top = create(api, scheduled_events={"start_voting": {"event_at": iso(in_seconds(day))},
                                        "end_voting": {"event_at": iso(in_seconds(2 * day))}})
    middle = create(api, parent=top["id"])
    response = api.post("/api/elections/", {"title": "North", "parent": middle["id"], "children": [
        {"title": "late", "scheduled_events": {"end_voting": {"event_at": iso(in_seconds(3 * day))}}},
        {"title": "early", "scheduled_events": {"start_voting": {"event_at": iso(in_seconds(day / 2))}}},
    ]}, format="json")
    assert response.status_code == 400
    detail = response.json()["children"]
    assert sorted(detail) == ["0", "1"]
    message = detail["0"]["scheduled_events"]["end_voting"]["event_at"][0]
    assert f"\u201cGeneral\u201d (id {top['id']})" in message
    assert "cannot open before its parent" in detail["1"]["scheduled_events"]["start_voting"]["event_at"][0]
    assert Election.objects.count() == 2


def test_a_hundred_refused_schedules_come_back_capped_with_the_count_of_the_rest(api):
    response = api.post("/api/elections/", {"title": "General", "children": [
        {"title": f"c{i}", "scheduled_events": {"start_voting": {"event_at": "2001-01-01T00:00:00Z"}}}
        for i in range(100)]}, format="json")
    assert response.status_code == 400
    detail = response.json()
    assert len(detail["children"]) == 50
    assert detail["non_field_errors"] == ["… and 50 more errors; fix these first."]


@pytest.mark.parametrize("body, path", [
    ({}, ["title"]),
    ({"title": ""}, ["title"]),
    ({"title": "x", "scheduled_event": {}}, ["scheduled_event"]),
    ({"title": "x", "children": "North"}, ["children"]),
    ({"title": "x", "parent": 999999}, ["parent"]),
    ({"title": "x", "scheduled_events": {"start_voting": {"event_at": "2999-01-01T00:00:00Z",
                                                          "task_id": "mine"}}},
     ["scheduled_events", "start_voting", "task_id"]),
])
def test_election_config_errors_name_the_field(api, body, path):
    response = api.post("/api/elections/", body, format="json")
    assert response.status_code == 400, response.content
    detail = response.json()
    for key in path:
        detail = detail[key]
    assert isinstance(detail, list) and detail[0]
    assert not Election.objects.exists()


def test_malformed_json_is_a_400_not_a_500(api):
    election = create(api)
    for url in ("/api/elections/", f"/api/elections/{election['id']}/scheduled-events/"):
        response = api.generic("POST", url, '{"title": ', content_type="application/json")
        assert response.status_code == 400
        assert "JSON parse error" in response.json()["detail"]


def test_put_replaces_and_patch_merges(api):
    election = create(api)
    url = f"/api/elections/{election['id']}/scheduled-events/"
    start, end = in_seconds(60), in_seconds(120)
    put = api.put(url, {"start_voting": {"event_at": iso(start)}, "end_voting": {"event_at": iso(end)}},
                  format="json").json()
    patched = api.patch(url, {"end_voting": None}, format="json").json()
    assert patched["start_voting"] == put["start_voting"] and patched["end_voting"] is None
    replaced = api.post(url, {"end_voting": {"event_at": iso(end)}}, format="json").json()
    assert replaced["start_voting"] is None and replaced["end_voting"]["task_id"] != put["end_voting"][
        "task_id"]
    assert api.get(url).json() == replaced


def test_invalid_schedule_is_a_400_naming_the_field_and_changes_nothing(api):
    election = create(api, scheduled_events={"start_voting": {"event_at": iso(in_seconds(60))}})
    url = f"/api/elections/{election['id']}/scheduled-events/"
    before = (api.get(url).json(), ActivityEntry.objects.count(), ScheduledEvent.objects.count())
    response = api.patch(url, {"end_voting": {"event_at": iso(in_seconds(30))}}, format="json")
    assert response.status_code == 400
    assert "after the start of voting" in response.json()["end_voting"]["event_at"][0]
    assert (api.get(url).json(), ActivityEntry.objects.count(), ScheduledEvent.objects.count()) == before


def test_history_lists_every_row_with_its_fate(api, alice):
    election = create(api, scheduled_events={"start_voting": {"event_at": iso(in_seconds(60))}})
    url = f"/api/elections/{election['id']}/scheduled-events/"
    api.patch(url, {"start_voting": {"event_at": iso(in_seconds(90))}}, format="json")
    api.patch(url, {"start_voting": None}, format="json")
    rows = api.get(url + "history/").json()["results"]
    assert [row["state"] for row in rows] == ["cancelled", "superseded"]
    assert rows[0]["scheduled_by"] == "alice" and rows[1]["reason"] == "rescheduled"
    assert {"event_at", "executed_at", "lateness_seconds", "task_id", "reason"} <= set(rows[0])


def test_status_actions_and_409(api):
    election = create(api, children=[{"title": "North"}])
    base = f"/api/elections/{election['id']}"
    assert api.post(f"{base}/suspend/").status_code == 409
    assert "needs resumed or started" in api.post(f"{base}/suspend/").json()["detail"]
    started = api.post(f"{base}/start/")
    assert started.status_code == 200 and started.json()["status"] == "started"
    assert Election.objects.get(pk=election["children"][0]).status == Status.STARTED
    for action, status in (("suspend", "suspended"), ("resume", "resumed"), ("stop", "stopped")):
        assert api.post(f"{base}/{action}/").json()["status"] == status


def test_activity_is_newest_first_paginated_and_filterable(api):
    election = create(api, children=[{"title": "North"}],
                      scheduled_events={"start_voting": {"event_at": iso(in_seconds(60))}})
    api.post(f"/api/elections/{election['id']}/start/")
    url = f"/api/elections/{election['id']}/activity/"
    page = api.get(url).json()
    assert {"count", "next", "previous", "results"} <= set(page)
    rows = page["results"]
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    assert set(rows[0]) >= {"id", "created_at", "election", "actor", "action", "metadata"}
    revoked = api.get(url, {"action": "event_revoked"}).json()["results"]
    assert len(revoked) == 1 and revoked[0]["metadata"]["task_id"]
    child_rows = api.get(url, {"election": election["children"][0]}).json()["results"]
    assert {r["election"] for r in child_rows} == {election["children"][0]}
    assert api.get(url, {"action": "nope"}).status_code == 400


def test_grants_decide_what_a_user_sees_and_does(api, make_user):
    election = create(api, children=[{"title": "North"}])
    child_id = election["children"][0]
    bob = make_user("bob", can_create=False)
    bob_api = client_for(bob)
    assert bob_api.get(f"/api/elections/{election['id']}/").status_code == 404
    assert bob_api.get("/api/elections/").json()["count"] == 0
    assert bob_api.post("/api/elections/", {"title": "x"}, format="json").status_code == 403

    grant(bob, Election.objects.get(pk=election["id"]), Permission.VIEW)
    assert bob_api.get("/api/elections/").json()["count"] == 2  # the child is covered
    assert bob_api.get(f"/api/elections/{child_id}/").status_code == 200
    url = f"/api/elections/{child_id}/scheduled-events/"
    assert bob_api.put(url, {}, format="json").status_code == 403
    grant(bob, Election.objects.get(pk=election["id"]), Permission.SCHEDULE_EVENTS)
    assert bob_api.put(url, {}, format="json").status_code == 200
    assert bob_api.post(f"/api/elections/{child_id}/start/").status_code == 403


def test_delete_needs_edit_and_cancels_events(api):
    election = create(api, scheduled_events={"start_voting": {"event_at": iso(in_seconds(60))}})
    assert api.delete(f"/api/elections/{election['id']}/").status_code == 204
    assert ScheduledEvent.objects.get().state == "cancelled"


def test_openapi_schema_describes_every_path(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/elections/", "/api/elections/{id}/", "/api/elections/{id}/scheduled-events/",
                 "/api/elections/{id}/scheduled-events/history/", "/api/elections/{id}/activity/",
                 "/api/elections/{id}/start/", "/api/auth/token/"):
        assert path in paths, path


def test_list_filtered_by_parent_gives_its_children_in_one_request(api):
    election = create(api, children=[{"title": "North"}, {"title": "South", "children": [{"title": "x"}]}])
    children = api.get("/api/elections/", {"parent": election["id"]}).json()["results"]
    assert [c["id"] for c in children] == election["children"]
    assert {c["status"] for c in children} == {"notstarted"}
    assert api.get("/api/elections/", {"parent": "North"}).status_code == 400
