"""The automations REST API: shapes, permissions, bad input, and how runs follow the rules.

Delivery is not exercised here (the broker is stubbed, as in test_api); the real worker
and beat are in test_automations_integration.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

import tests.automation_ops  # noqa: F401  (registers record_call)
from activity_log.models import Action, ActivityEntry
from automations.models import Automation
from elections.models import Permission
from elections.services import grant
from scheduling.models import Kind, ScheduledEvent, State
from tests.conftest import client_for
from tests.helpers import in_seconds, iso

pytestmark = pytest.mark.django_db

CRON = {"cron_rule": "0 7 * * 1", "timezone": "Europe/Paris"}
RECORD = {"record_call": {"template": "weekly"}}


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    from scheduling import dispatching

    monkeypatch.setattr(dispatching, "send", lambda *a, **k: None)
    monkeypatch.setattr(dispatching, "revoke", lambda ids: None)


def election(api, **config) -> dict:
    response = api.post("/api/elections/", {"title": "General", **config}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def automation(api, election_id, **fields) -> dict:
    body = {"name": "Weekly", "when": CRON, "operations": RECORD, **fields}
    response = api.post(f"/api/elections/{election_id}/automations/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def runs(automation_id) -> list[ScheduledEvent]:
    return list(ScheduledEvent.objects.filter(kind=Kind.AUTOMATION, automation_id=automation_id)
                .order_by("id"))


def pending(automation_id) -> list[ScheduledEvent]:
    return [r for r in runs(automation_id) if r.state == State.PENDING]


def test_create_a_cron_automation_with_its_next_run(api, alice):
    root = election(api)
    created = automation(api, root["id"], recipients={"users": ["alice"]})
    assert created["when"] == {**CRON, "cron_rule": "0 7 * * 1", "catch_up": "PT1H"}
    assert created["recipients"]["users"] == ["alice"]
    assert created["election"] == root["id"] and created["revision"] == 1
    (run,) = pending(created["id"])
    assert created["next_run_at"] == run.event_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    local = run.event_at.astimezone(datetime.now().astimezone().tzinfo)  # any zone: it is an instant
    assert local == run.event_at
    paris = run.event_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert (paris.weekday(), paris.hour, paris.minute) == (0, 7, 0)
    assert run.payload["operations"] == RECORD and run.payload["catch_up_seconds"] == 3600
    log = ActivityEntry.objects.filter(election_id=root["id"], action=Action.AUTOMATION_CREATED).get()
    assert log.actor_name == "alice" and log.metadata["name"] == "Weekly"
    assert ActivityEntry.objects.filter(action=Action.RUN_SCHEDULED, metadata__task_id=run.task_id).exists()
    listed = api.get(f"/api/elections/{root['id']}/automations/").json()["results"]
    assert [a["id"] for a in listed] == [created["id"]]
    assert api.get(f"/api/elections/{root['id']}/").json()["automations"][0]["id"] == created["id"]


BAD = [
    ({"when": {"cron_rule": "0 25 * * *"}}, "when.cron_rule", "hour 25 is out of range"),
    ({"when": {"cron_rule": "0 0 30 2 *"}}, "when.cron_rule", "can never fire"),
    ({"when": {"cron_rule": "0 7 * * *", "timezone": "Europe/Pariss"}}, "when.timezone", "Europe/Paris"),
    ({"when": {"before": "end_voting", "offset": "-PT1H"}}, "when.offset", "has a sign"),
    ({"when": {"before": "end_voting", "offset": "1 day"}}, "when.offset", "not an ISO 8601 duration"),
    ({"when": {"after": "election.paused", "delay": "PT1H"}}, "when.after", "not a known event"),
    ({"when": {"on": "user.created"}}, "when.on", "only for global automations"),
    ({"when": {"before": "end_voting", "after": "start_voting"}}, "when", "exactly one of"),
    ({"when": {"at": "2020-01-01T00:00:00Z"}}, "when.at", "is in the past"),
    ({"operations": {"record_call": {"template": "nope"}}}, "operations.record_call.template", "No template"),
    ({"operations": {"launch_rockets": {}}}, "operations.launch_rockets", "Unknown operation"),
    ({"operations": {"maintenance": {}}}, "operations.maintenance", "Unknown operation for election"),
    ({"operations": {"_relative_guard": {}}}, "operations._relative_guard", "Unknown operation"),
    ({"operations": {}}, "operations", "at least one operation"),
    ({"recipients": {"users": ["nobody"]}}, "recipients.users", "No account"),
    ({"recipients": {"groups": ["nogroup"]}}, "recipients.groups", "No group named"),
    ({"name": ""}, "name", "required"),
    ({"uid": "x"}, "uid", "set by the server"),
    ({"colour": "red"}, "colour", "Unknown field"),
]


@pytest.mark.parametrize(("change", "field", "words"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(api, change, field, words):
    root = election(api)
    before = (Automation.objects.count(), ScheduledEvent.objects.count(), ActivityEntry.objects.count())
    body = {"name": "Weekly", "when": CRON, "operations": RECORD, **change}
    response = api.post(f"/api/elections/{root['id']}/automations/", body, format="json")
    assert response.status_code == 400, response.content
    assert words in " ".join(response.json()[field]), response.json()
    assert (Automation.objects.count(), ScheduledEvent.objects.count(),
            ActivityEntry.objects.count()) == before


def test_more_than_100_automations_on_one_election_are_refused(api):
    root = election(api)
    from automations import services
    from elections.models import Election

    target = Election.objects.get(pk=root["id"])
    for index in range(100):
        services.create_automation({"name": f"a{index}", "when": {"on": "election.started"},
                                    "operations": RECORD}, election=target, actor=None)
    response = api.post(f"/api/elections/{root['id']}/automations/",
                        {"name": "one more", "when": CRON, "operations": RECORD}, format="json")
    assert response.status_code == 400
    assert "100 automations already" in response.json()["automations"][0]


def test_who_may_see_and_change_what(api, alice, make_user):
    root = election(api)
    created = automation(api, root["id"], recipients={"users": ["alice"]})
    viewer, scheduler, stranger = make_user("viewer"), make_user("sched"), make_user("stranger")
    from elections.models import Election

    grant(viewer, Election.objects.get(pk=root["id"]), Permission.VIEW)
    grant(scheduler, Election.objects.get(pk=root["id"]), Permission.SCHEDULE_EVENTS)
    url = f"/api/elections/{root['id']}/automations/"
    detail = f"{url}{created['id']}/"
    seen = client_for(viewer).get(detail).json()
    assert seen["name"] == "Weekly" and seen["next_run_at"] and "recipients" not in seen
    assert "recipients" not in client_for(viewer).get(url).json()["results"][0]
    shown = client_for(viewer).get(f"/api/elections/{root['id']}/").json()["automations"][0]
    assert "recipients" not in shown
    assert client_for(viewer).get(f"{detail}runs/").status_code == 200
    refused = client_for(viewer).post(url, {"name": "x", "when": CRON, "operations": RECORD}, format="json")
    assert refused.status_code == 403 and "recipients" not in refused.content.decode()
    assert client_for(viewer).patch(detail, {"name": "y"}, format="json").status_code == 403
    assert client_for(viewer).delete(detail).status_code == 403
    assert client_for(scheduler).get(detail).json()["recipients"]["users"] == ["alice"]
    assert client_for(scheduler).patch(detail, {"name": "Renamed"}, format="json").status_code == 200
    assert client_for(stranger).get(detail).status_code == 404
    assert client_for(stranger).get(url).status_code == 404
    # global automations: superusers only
    assert client_for(alice).get("/api/automations/").status_code == 403
    assert client_for(alice).post("/api/automations/", {}, format="json").status_code == 403
    # an automation of another election is not found through this one
    other = election(api)
    assert api.get(f"/api/elections/{other['id']}/automations/{created['id']}/").status_code == 404


def test_changing_a_rule_supersedes_its_runs_and_never_reuses_a_task_id(api):
    root = election(api)
    created = automation(api, root["id"])
    url = f"/api/elections/{root['id']}/automations/{created['id']}/"
    assert len(pending(created["id"])) == 1
    changed = api.patch(url, {"when": {"cron_rule": "0 8 * * 1", "timezone": "Europe/Paris"}}, format="json")
    assert changed.status_code == 200 and changed.json()["revision"] == 2
    back = api.patch(url, {"when": CRON}, format="json").json()
    assert back["revision"] == 3
    rows = runs(created["id"])
    assert [r.state for r in rows] == [State.SUPERSEDED, State.SUPERSEDED, State.PENDING]
    assert rows[0].event_at == rows[2].event_at and rows[0].task_id != rows[2].task_id
    assert "changed" in rows[0].reason
    assert api.patch(url, {"name": "Same"}, format="json").json()["revision"] == 4
    unchanged = api.patch(url, {"name": "Same"}, format="json").json()
    assert unchanged["revision"] == 4  # nothing changed: nothing replanned
    off = api.patch(url, {"active": False}, format="json").json()
    assert off["next_run_at"] is None and not pending(created["id"])
    on = api.patch(url, {"active": True}, format="json").json()
    assert on["next_run_at"] == back["next_run_at"]
    changes = ActivityEntry.objects.filter(action=Action.AUTOMATION_CHANGED).order_by("id")
    assert [e.metadata["changed"] for e in changes] == [["when"], ["when"], ["name"], ["active"], ["active"]]
    assert api.put(url, {"name": "x"}, format="json").status_code == 400  # PUT needs everything
    assert api.delete(url).status_code == 204
    assert all(r.state != State.PENDING for r in runs(created["id"]))
    assert runs(created["id"])[-1].reason == "the automation was deleted"
    assert ActivityEntry.objects.filter(action=Action.AUTOMATION_DELETED).count() == 1
    assert api.get(url).status_code == 404


def test_a_pending_run_can_be_turned_off_and_on(api, alice):
    root = election(api)
    created = automation(api, root["id"])
    (run,) = pending(created["id"])
    url = f"/api/elections/{root['id']}/automations/{created['id']}/runs/"
    listed = api.get(url).json()["results"]
    assert listed[0]["task_id"] == run.task_id and listed[0]["enabled"] is True
    off = api.patch(f"{url}{run.pk}/", {"enabled": False}, format="json")
    assert off.status_code == 200 and off.json()["enabled"] is False and off.json()["toggled_by"] == "alice"
    assert api.get(f"/api/elections/{root['id']}/automations/{created['id']}/").json()["next_run_at"] is None
    assert api.patch(f"{url}{run.pk}/", {"enabled": True}, format="json").json()["enabled"] is True
    assert api.patch(f"{url}{run.pk}/", {"enabled": "no"}, format="json").status_code == 400
    assert api.patch(f"{url}{run.pk}/", {"state": "done"}, format="json").status_code == 400
    assert api.patch(f"{url}999999/", {"enabled": False}, format="json").status_code == 404
    logged = ActivityEntry.objects.filter(metadata__task_id=run.task_id).order_by("id")
    assert [e.action for e in logged][-2:] == [Action.RUN_TURNED_OFF, Action.RUN_TURNED_ON]
    api.patch(f"/api/elections/{root['id']}/automations/{created['id']}/", {"active": False}, format="json")
    closed = api.patch(f"{url}{run.pk}/", {"enabled": False}, format="json")
    assert closed.status_code == 400 and "not pending" in closed.json()["enabled"][0]


def test_a_reminder_moves_with_the_end_of_voting_and_is_cancelled_with_it(api):
    end = in_seconds(3 * 86400)
    root = election(api, scheduled_events={"end_voting": {"event_at": iso(end)}})
    created = automation(api, root["id"], when={"before": "end_voting", "offset": "PT24H"})
    (first,) = pending(created["id"])
    assert abs(first.event_at - (end - timedelta(hours=24))) < timedelta(seconds=1)
    assert first.payload["occurrence"]["anchor_task_id"] == root["scheduled_events"]["end_voting"]["task_id"]
    later = end + timedelta(hours=5)
    moved = api.patch(f"/api/elections/{root['id']}/scheduled-events/",
                      {"end_voting": {"event_at": iso(later)}}, format="json")
    assert moved.status_code == 200
    first.refresh_from_db()
    (second,) = pending(created["id"])
    assert first.state == State.SUPERSEDED and "the end of voting moved to" in first.reason
    assert abs(second.event_at - (later - timedelta(hours=24))) < timedelta(seconds=1)
    assert second.payload["occurrence"]["anchor_task_id"] == moved.json()["end_voting"]["task_id"]
    api.patch(f"/api/elections/{root['id']}/scheduled-events/", {"end_voting": None}, format="json")
    second.refresh_from_db()
    assert second.state == State.CANCELLED and second.reason == "the end of voting was cancelled"
    assert not pending(created["id"])
    assert api.get(f"/api/elections/{root['id']}/automations/{created['id']}/").json()["next_run_at"] is None


def test_a_status_change_by_hand_creates_the_runs_of_status_triggers(api):
    root = election(api, children=[{"title": "North"}])
    on_start = automation(api, root["id"], name="On start", when={"on": "election.started"})
    later = automation(api, root["id"], name="After stop",
                       when={"after": "election.stopped", "delay": "PT1H"})
    assert not pending(on_start["id"]) and not pending(later["id"])
    assert api.post(f"/api/elections/{root['id']}/start/").status_code == 200
    (run,) = pending(on_start["id"])
    assert run.election_id == root["id"] and run.event_at <= timezone.now()
    assert not pending(later["id"])
    api.post(f"/api/elections/{root['id']}/stop/")
    (after,) = pending(later["id"])
    assert timedelta(minutes=59) < after.event_at - timezone.now() <= timedelta(hours=1)


def test_user_triggers_of_global_automations(django_user_model, make_user):
    admin = make_user("root", superuser=True)
    api = client_for(admin)
    created = api.post("/api/automations/", {"name": "Welcome", "when": {"on": "user.created"},
                                              "operations": RECORD}, format="json")
    assert created.status_code == 201, created.content
    comeback = api.post("/api/automations/", {"name": "Come back", "when": {"after": "user.last_login",
                        "delay": "P7D"}, "operations": RECORD}, format="json").json()
    activated = api.post("/api/automations/", {"name": "Activated", "when": {"on": "user.activated"},
                         "operations": RECORD}, format="json").json()
    bob = django_user_model.objects.create_user("bob", password="pw-Secret-123", is_active=False)
    (welcome,) = pending(created.json()["id"])
    assert welcome.subject_user_id == bob.pk and welcome.election_id is None
    bob.is_active = True
    bob.save()
    assert [r.subject_user_id for r in pending(activated["id"])] == [bob.pk]
    from django.test import Client

    client = Client()
    assert client.login(username="bob", password="pw-Secret-123")
    (first,) = pending(comeback["id"])
    client.logout()
    assert client.login(username="bob", password="pw-Secret-123")
    (second,) = pending(comeback["id"])
    first.refresh_from_db()
    assert first.state == State.SUPERSEDED and "logged in again" in first.reason
    assert second.task_id != first.task_id
    listed = api.get(f"/api/automations/{comeback['id']}/runs/").json()["results"]
    assert [r["subject_user"] for r in listed] == ["bob", "bob"]
    log = ActivityEntry.objects.filter(election_id=0, action=Action.AUTOMATION_CREATED)
    assert log.count() == 3 and {e.election_title for e in log} == {"(global)"}


def test_global_only_and_election_only_rules(make_user):
    api = client_for(make_user("root", superuser=True))
    maintenance = api.post("/api/automations/", {"name": "M", "when": {"cron_rule": "0 4 * * *"},
                                                 "operations": {"maintenance": {}}}, format="json")
    assert maintenance.status_code == 201, maintenance.content
    assert maintenance.json()["when"]["timezone"] == "UTC"  # settings.TIME_ZONE
    relative = api.post("/api/automations/", {"name": "R", "when": {"before": "end_voting", "offset": "P1D"},
                                              "operations": RECORD}, format="json")
    assert relative.status_code == 400 and "global automation" in relative.json()["when.before"][0]
    grants = api.post("/api/automations/", {"name": "G", "when": {"cron_rule": "0 4 * * *"},
                                            "operations": RECORD, "recipients": {"grants": ["edit"]}},
                      format="json")
    assert grants.status_code == 400 and "recipients.grants" in grants.json()


def test_the_daily_maintenance_is_installed_and_planned_by_the_service():
    from automations.services import plan_missing_runs

    daily = Automation.objects.get(election__isnull=True, name="Daily maintenance")
    assert daily.when["cron_rule"] == "0 4 * * *" and daily.operations == {"maintenance": {}}
    plan_missing_runs()
    (run,) = pending(daily.pk)
    assert (run.event_at.hour, run.event_at.minute) == (4, 0)  # TIME_ZONE is UTC
    assert plan_missing_runs() == 0  # idempotent


def test_preview_gives_five_runs_words_and_dst_warnings(api):
    response = api.post("/api/automations/preview/", {
        "when": {"cron_rule": "30 2 * * *", "timezone": "Europe/Paris"}, "from": "2027-03-26T12:00:00Z",
    }, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [n["local"][:16] for n in body["next"]] == [
        "2027-03-27T02:30", "2027-03-28T03:00", "2027-03-29T02:30", "2027-03-30T02:30", "2027-03-31T02:30"]
    assert body["next"][1]["at"] == "2027-03-28T01:00:00Z"
    assert body["description"] == "At 02:30 every day, Europe/Paris time"
    assert body["warnings"] == [
        "02:30 does not exist on 28 Mar 2027 in Europe/Paris; this run will happen at 03:00"]
    refused = api.post("/api/automations/preview/", {"when": {"cron_rule": "0 25 * * *"}}, format="json")
    assert refused.status_code == 400 and "hour 25" in refused.json()["when.cron_rule"][0]
    hidden = api.post("/api/automations/preview/", {"when": CRON, "election": 999999}, format="json")
    assert hidden.status_code == 404


def test_the_election_configuration_carries_automations_all_or_nothing(api):
    good = {"name": "Remind", "when": {"before": "end_voting", "offset": "PT1H"}, "operations": RECORD}
    end = iso(in_seconds(86400))
    bad = api.post("/api/elections/", {
        "title": "General", "automations": [good], "scheduled_events": {"end_voting": {"event_at": end}},
        "children": [{"title": "North", "automations": [{**good, "when": {"cron_rule": "0 25 * * *"}}]}],
    }, format="json")
    assert bad.status_code == 400
    assert "hour 25" in bad.json()["children"]["0"]["automations"]["0"]["when.cron_rule"][0]
    assert not Automation.objects.filter(election__isnull=False).exists()
    created = election(api, automations=[good], scheduled_events={"end_voting": {"event_at": end}},
                       children=[{"title": "North", "automations": [{**good, "when": CRON}]}])
    assert [a["name"] for a in created["automations"]] == ["Remind"]
    assert created["automations"][0]["next_run_at"] is not None  # relative to the uploaded end
    child = api.get(f"/api/elections/{created['children'][0]}/").json()
    assert child["automations"][0]["when"]["cron_rule"] == "0 7 * * 1"
    too_many = api.post("/api/elections/", {"title": "T", "automations": [good] * 101}, format="json")
    assert too_many.status_code == 400 and "at most 100" in too_many.json()["automations"][0]


def test_recipients_groups_are_validated_against_real_groups(api):
    Group.objects.create(name="observers")
    root = election(api)
    created = automation(api, root["id"],
                         recipients={"groups": ["observers"], "include_inactive_users": True})
    assert created["recipients"]["groups"] == ["observers"]
    assert created["recipients"]["include_inactive_users"] is True
    assert created["recipients"]["only_inactivated_users"] is False


def test_never_an_at_in_the_past_but_a_past_at_does_not_block_a_rename(api):
    root = election(api)
    soon = in_seconds(3600)
    created = automation(api, root["id"], when={"at": iso(soon)})
    row = Automation.objects.get(pk=created["id"])
    Automation.objects.filter(pk=row.pk).update(updated_at=soon - timedelta(hours=2))
    from automations import services

    later = soon + timedelta(hours=1)
    renamed = services.update_automation(row, {"name": "Renamed"}, actor=None, partial=True, now=later)
    assert renamed.name == "Renamed"
    assert not [r for r in pending(row.pk) if r.event_at > later]  # its moment is past: no new run


def _due_now(*rows: ScheduledEvent) -> None:
    """As if these rows' time had come while their messages were lost (a test stands in for the clock)."""
    past = timezone.now() - timedelta(seconds=5)
    ScheduledEvent.objects.filter(pk__in=[r.pk for r in rows]).update(event_at=past)


def test_a_reminder_before_closing_delivered_after_voting_closed_is_skipped_and_says_why(api):
    from scheduling.executing import execute_event

    root = election(api, scheduled_events={"start_voting": {"event_at": iso(in_seconds(3600))},
                                           "end_voting": {"event_at": iso(in_seconds(7200))}})
    opened = automation(api, root["id"], name="After opening",
                        when={"after": "start_voting", "delay": "PT10M"})
    (after_start,) = pending(opened["id"])
    closing = automation(api, root["id"], when={"before": "end_voting", "offset": "PT30M"})
    (reminder,) = pending(closing["id"])
    start = ScheduledEvent.objects.get(task_id=root["scheduled_events"]["start_voting"]["task_id"])
    end = ScheduledEvent.objects.get(task_id=root["scheduled_events"]["end_voting"]["task_id"])
    _due_now(after_start)  # its anchor has not happened yet: skipped
    assert execute_event(after_start.pk, after_start.task_id) == "skipped"
    after_start.refresh_from_db()
    assert after_start.reason == "the start of voting did not happen (pending)"
    _due_now(start, end)
    assert execute_event(start.pk, start.task_id) == "done"
    assert execute_event(end.pk, end.task_id) == "done"
    _due_now(reminder)
    assert execute_event(reminder.pk, reminder.task_id) == "skipped"
    reminder.refresh_from_db()
    assert reminder.state == State.SKIPPED and reminder.reason == "voting had already closed"
    skipped = ActivityEntry.objects.get(action=Action.RUN_SKIPPED, metadata__task_id=reminder.task_id)
    assert skipped.metadata["reason"] == "voting had already closed"


def test_deleting_an_election_cancels_its_runs_and_removes_its_automations(api):
    root = election(api, scheduled_events={"end_voting": {"event_at": iso(in_seconds(3 * 86400))}})
    relative = automation(api, root["id"], when={"before": "end_voting", "offset": "P1D"})
    weekly = automation(api, root["id"])
    assert api.delete(f"/api/elections/{root['id']}/").status_code == 204
    assert not Automation.objects.filter(election_id=root["id"]).exists()
    for created in (relative, weekly):
        (run,) = runs(created["id"])
        assert run.state == State.CANCELLED, run.reason


def test_the_activity_log_reads_in_words(api):
    from activity_log.presentation import describe

    root = election(api)
    created = automation(api, root["id"], name="Weekly digest")
    api.patch(f"/api/elections/{root['id']}/automations/{created['id']}/", {"active": False}, format="json")
    api.delete(f"/api/elections/{root['id']}/automations/{created['id']}/")
    words = [describe(e) for e in ActivityEntry.objects.filter(
        election_id=root["id"], action__startswith="automation_").order_by("id")]
    assert words == ["alice created the automation \u201cWeekly digest\u201d",
                     "alice changed the automation \u201cWeekly digest\u201d: active; it is now off",
                     "alice deleted the automation \u201cWeekly digest\u201d"]
    from activity_log.models import ActivityEntry as Entry

    missed = Entry(action=Action.AUTOMATION_RUNS_MISSED, metadata={
        "name": "Every minute", "count": 59, "first": "2026-11-30T10:01:00Z", "last": "2026-11-30T10:59:00Z",
        "caught_up_by": "2026-11-30T11:00:00Z"})
    assert describe(missed) == (
        "59 runs of \u201cEvery minute\u201d missed while down (30 Nov 2026 10:01 UTC "
        "to 30 Nov 2026 10:59 UTC), not sent; the run of 30 Nov 2026 11:00 UTC ran late for them")


def test_the_admin_lists_automations_read_only(client, make_user):
    client.force_login(make_user("root", superuser=True))
    page = client.get("/admin/automations/automation/")
    assert page.status_code == 200 and "Daily maintenance" in page.content.decode()
    assert client.get("/admin/automations/automation/add/").status_code == 403
