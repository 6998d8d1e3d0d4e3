"""What the rule editor asks the server: recipient suggestions (only what the caller may see),
the preview in the editor's zone with each DST note on its run, and the global automations page."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from automations.models import Automation
from elections.models import ElectionGroupGrant, Permission
from elections.services import create_election, grant
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

SUGGEST = "/api/automations/recipient-suggestions/"
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def tree(alice):
    top = create_election(title="General", created_by=alice)
    child = create_election(title="North", parent=top, created_by=alice)
    return top, child


def test_an_election_scheduler_is_offered_only_the_people_and_groups_who_may_view_it(tree, make_user):
    top, child = tree
    scheduler = make_user("sam", can_create=False)
    grant(scheduler, child, Permission.SCHEDULE_EVENTS)
    viewer = make_user("vicky", can_create=False)
    grant(viewer, top, Permission.VIEW)  # on an ancestor: may view the child
    observers = Group.objects.create(name="observers")
    member = make_user("oscar", can_create=False)
    member.groups.add(observers)
    ElectionGroupGrant.objects.create(group=observers, election=child, permission=Permission.VIEW)
    Group.objects.create(name="outsiders")
    make_user("stranger", can_create=False)
    stranger_election = create_election(title="Elsewhere", created_by=make_user("other"))
    grant(make_user("elsewhere", can_create=False), stranger_election, Permission.EDIT)

    response = client_for(scheduler).get(SUGGEST, {"election": child.pk})
    assert response.status_code == 200, response.content
    assert response.json() == {"users": ["alice", "oscar", "sam", "vicky"], "groups": ["observers"]}
    assert client_for(scheduler).get(SUGGEST, {"election": child.pk, "q": "VI"}).json() == {
        "users": ["vicky"], "groups": []}
    # the parent is not theirs to schedule: no names from it
    assert client_for(scheduler).get(SUGGEST, {"election": top.pk}).status_code == 404
    # usernames only: no addresses, no ids
    assert "@" not in response.content.decode()


def test_suggestions_need_the_schedule_events_grant_or_a_superuser_for_global_rules(tree, make_user):
    _, child = tree
    viewer = make_user("vicky", can_create=False)
    grant(viewer, child, Permission.VIEW)
    assert client_for(viewer).get(SUGGEST, {"election": child.pk}).status_code == 403
    assert client_for(viewer).get(SUGGEST).status_code == 403
    assert Client().get(SUGGEST).status_code in (401, 403)
    root = make_user("root", superuser=True)
    for n in range(12):
        make_user(f"user{n:02}", can_create=False)
    everyone = client_for(root).get(SUGGEST, {"q": "user"}).json()
    assert everyone["users"] == [f"user{n:02}" for n in range(10)]  # bounded, by name
    assert client_for(root).get(SUGGEST, {"q": "x" * 151}).json() == {
        "q": ["Is longer than 150 characters; type part of a name."]}
    assert client_for(root).get(SUGGEST, {"election": "1e3"}).status_code == 400
    # PostgreSQL refuses a NUL in a parameter: it is bad input, named, not a 500.
    assert client_for(root).get(SUGGEST, {"q": "a\x00b"}).json() == {
        "q": ["Contains a NUL character (\\u0000); remove it."]}


def test_the_preview_reads_a_date_in_the_editors_zone_and_marks_the_run_a_dst_change_moves(api):
    at = {"at": "2027-03-28T09:00:00+02:00"}
    body = api.post("/api/automations/preview/", {"when": at, "timezone": "America/New_York"},
                    format="json").json()
    assert body["timezone"] == "America/New_York"
    assert body["next"] == [{"at": "2027-03-28T07:00:00Z", "local": "2027-03-28T03:00:00-04:00"}]
    assert body["description"] == "Once, on 28 Mar 2027 at 03:00 (America/New_York time)"
    refused = api.post("/api/automations/preview/", {"when": at, "timezone": "Europe/Pariss"}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {
        "timezone": ["'Europe/Pariss' is not a known IANA time zone; e.g. Europe/Paris"]}
    huge = api.post("/api/automations/preview/", {"when": at, "timezone": "Europe/" + "x" * 100_000},
                    format="json")
    assert huge.status_code == 400 and len(huge.content) < 300  # names the field, echoes 64 characters

    cron = {"cron_rule": "30 2 * * *", "timezone": "Europe/Paris"}
    body = api.post("/api/automations/preview/", {"when": cron, "from": "2027-03-27T12:00:00Z",
                                                  "timezone": "UTC"}, format="json").json()
    assert body["timezone"] == "Europe/Paris"  # a cron rule is read in its own zone
    notes = [run.get("note") for run in body["next"]]
    assert notes == ["02:30 does not exist on 28 Mar 2027 in Europe/Paris; this run will happen at 03:00",
                     None, None, None, None]
    assert body["warnings"] == [notes[0]]


def test_the_global_automations_page_is_for_superusers_and_keeps_names_as_text(make_user):
    root = make_user("root", superuser=True)
    Automation.objects.create(name=HOSTILE, when={"on": "user.created"},
                              operations={"send_email": {"template": "welcome"}}, recipients={})
    client = Client()
    client.force_login(root)
    page = client.get("/automations/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Run the daily maintenance, at 04:00 every day, UTC time" in body
    assert "no run planned" in body  # no worker has planned its first run in this test database
    assert "Email welcome, when a user account is created" in body
    assert "when it is triggered" in body
    assert HOSTILE not in body and "&lt;img src=x onerror=alert(1)&gt;" in body
    assert 'data-rule-editor-new data-election=""' in body and 'id="rule-editor"' in body
    assert 'href="/automations/"' in body  # the superuser's navigation links to it

    other = Client()
    other.force_login(make_user("bob"))
    assert other.get("/automations/").status_code == 403
    assert 'href="/automations/"' not in other.get("/").content.decode()
    assert Client().get("/automations/").status_code == 302  # to the log-in page
