"""Hardening of scheduling: a tree's windows (H18), stale writes (H20), and events that
fire for a user who has since gone (H13)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from activity_log.models import Action, ActivityEntry
from activity_log.presentation import describe
from elections.models import Permission, Status
from elections.services import create_election, grant
from scheduling import configuring, dispatching, executing
from scheduling.errors import ScheduleChanged
from scheduling.models import ScheduledEvent, State
from tests.conftest import client_for
from tests.helpers import actions_of, in_seconds, iso, status_of

pytestmark = pytest.mark.django_db

DAY = 24 * 3600


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """The rules are checked before anything is sent; delivery is covered by test_integration."""
    monkeypatch.setattr(dispatching, "send", lambda *a, **k: None)
    monkeypatch.setattr(dispatching, "revoke", lambda ids: None)


@pytest.fixture
def tree(alice):
    root = create_election(title="General", created_by=alice)
    north = create_election(title="North", parent=root, created_by=alice)
    ward = create_election(title="Ward 7", parent=north, created_by=alice)
    return root, north, ward


_now = [timezone.now()]


@pytest.fixture(autouse=True)
def fixed_now():
    """``at(days)`` counts from one instant per test, so the same day gives the same time."""
    _now[0] = timezone.now().replace(microsecond=0)


def at(days: float):
    return _now[0] + timedelta(days=days)


def utc(dt) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def pending(election_id):
    return sorted(ScheduledEvent.objects.filter(election_id=election_id, state=State.PENDING)
                  .values_list("kind", "task_id", "event_at"))


def patch(api, election, body, **headers):
    return api.patch(f"/api/elections/{election.pk}/scheduled-events/", body, format="json", headers=headers)


# --- H18: a child's window lies inside its ancestors' ------------------------------------

def test_a_child_cannot_close_before_its_parent_opens(api, tree):
    root, north, _ = tree
    configuring.configure(root, {"start_voting": at(2), "end_voting": at(5)}, actor=None, replace=True)
    before, log_size = pending(north.pk), ActivityEntry.objects.count()
    response = patch(api, north, {"end_voting": {"event_at": iso(at(1))}})
    assert response.status_code == 400
    [message] = response.json()["end_voting"]["event_at"]
    assert message.startswith(f"Must be after the start of voting of \u201cGeneral\u201d (id {root.pk}) "
                              f"at {utc(at(2))}")
    assert pending(north.pk) == before and ActivityEntry.objects.count() == log_size


@pytest.mark.parametrize("child, words", [
    ({"start_voting": 1}, "Must not be before the start of voting of \u201cGeneral\u201d"),
    ({"start_voting": 3}, "Would never run: the start of voting of \u201cGeneral\u201d"),
    ({"end_voting": 6}, "Must be at or before the end of voting of \u201cGeneral\u201d"),
    ({"end_voting": 2}, "Must be after the start of voting of \u201cGeneral\u201d"),
])
def test_a_grandchilds_times_are_checked_against_every_ancestor(api, tree, child, words):
    root, _, ward = tree
    configuring.configure(root, {"start_voting": at(2), "end_voting": at(5)}, actor=None, replace=True)
    [(kind, days)] = child.items()
    response = patch(api, ward, {kind: {"event_at": iso(at(days))}})
    assert response.status_code == 400, response.content
    assert response.json()[kind]["event_at"][0].startswith(words)
    assert pending(ward.pk) == []


def test_a_child_may_not_open_after_its_parent_closed(api, tree):
    root, north, _ = tree
    configuring.configure(root, {"end_voting": at(2)}, actor=None, replace=True)  # started by hand, say
    response = patch(api, north, {"start_voting": {"event_at": iso(at(3))}})
    assert response.status_code == 400
    assert response.json()["start_voting"]["event_at"][0].startswith(
        f"Must be before the end of voting of \u201cGeneral\u201d (id {root.pk}) at {utc(at(2))}")


def test_a_child_inside_its_parents_window_is_accepted(api, tree):
    root, north, ward = tree
    configuring.configure(root, {"start_voting": at(2), "end_voting": at(5)}, actor=None, replace=True)
    assert patch(api, north, {"start_voting": {"event_at": iso(at(2))},
                              "end_voting": {"event_at": iso(at(4))}}).status_code == 200
    assert patch(api, ward, {"end_voting": {"event_at": iso(at(3))}}).status_code == 200


def test_moving_a_parent_is_checked_against_its_descendants(api, tree):
    root, _, ward = tree
    configuring.configure(ward, {"end_voting": at(3)}, actor=None, replace=True)
    before = pending(root.pk)
    response = patch(api, root, {"start_voting": {"event_at": iso(at(4))}})
    assert response.status_code == 400
    assert response.json()["start_voting"]["event_at"][0].startswith(
        f"Must be before the end of voting of the child election \u201cWard 7\u201d (id {ward.pk}) "
        f"at {utc(at(3))}")
    response = patch(api, root, {"end_voting": {"event_at": iso(at(2))}})
    assert response.status_code == 400
    assert "ending this election ends it too" in response.json()["end_voting"]["event_at"][0]
    assert pending(root.pk) == before == []
    assert patch(api, root, {"start_voting": {"event_at": iso(at(1))},
                             "end_voting": {"event_at": iso(at(3))}}).status_code == 200


def test_an_uploaded_tree_gets_the_same_rule(api):
    response = api.post("/api/elections/", {
        "title": "General",
        "scheduled_events": {"start_voting": {"event_at": iso(at(2))}},
        "children": [{"title": "North", "scheduled_events": {"end_voting": {"event_at": iso(at(1))}}}],
    }, format="json")
    assert response.status_code == 400
    message = response.json()["children"]["0"]["scheduled_events"]["end_voting"]["event_at"][0]
    assert message.startswith("Must be after the start of voting of \u201cGeneral\u201d")
    assert not ScheduledEvent.objects.exists()


# --- H20: a stale write is refused, saying who changed what --------------------------------

def test_a_write_from_a_stale_version_is_a_412_that_names_who_changed_what(api, alice, make_user, tree):
    root, _, _ = tree
    bob = make_user("bob", can_create=False)
    grant(bob, root, Permission.SCHEDULE_EVENTS)
    configuring.configure(root, {"start_voting": at(2), "end_voting": at(5)}, actor=alice, replace=True)
    read = api.get(f"/api/elections/{root.pk}/scheduled-events/")
    version = read.headers["ETag"]
    assert version.startswith('"') and version.endswith('"')

    # bob moves the end from the same version: accepted, with a new version
    moved = patch(client_for(bob), root, {"end_voting": {"event_at": iso(at(6))}}, **{"If-Match": version})
    assert moved.status_code == 200 and moved.headers["ETag"] != version

    # alice, still on the old version, moves the start: refused, nothing saved
    before, log_size = pending(root.pk), ActivityEntry.objects.count()
    stale = patch(api, root, {"start_voting": {"event_at": iso(at(1))}}, **{"If-Match": version})
    assert stale.status_code == 412
    body = stale.json()
    assert body["changed_by"] == "bob"
    assert "bob changed them at" in body["detail"]
    assert "bob scheduled the end of voting for" in body["detail"]
    assert body["current"]["end_voting"]["event_at"].startswith(utc(at(6))[:-1])
    assert stale.headers["ETag"] == moved.headers["ETag"]
    assert pending(root.pk) == before and ActivityEntry.objects.count() == log_size

    # with the current version it goes through; without If-Match, as before: unconditional
    assert patch(api, root, {"start_voting": {"event_at": iso(at(1))}},
                 **{"If-Match": moved.headers["ETag"]}).status_code == 200
    assert patch(api, root, {"start_voting": {"event_at": iso(at(1.5))}}).status_code == 200
    assert patch(api, root, {"start_voting": None}, **{"If-Match": "*"}).status_code == 200


def test_the_version_is_checked_under_the_lock_in_configure(alice, tree):
    root, _, _ = tree
    version = configuring.schedule_version(configuring.pending_events(root.pk))
    configuring.configure(root, {"start_voting": at(1)}, actor=alice, replace=False, expected_version=version)
    with pytest.raises(ScheduleChanged) as refused:
        configuring.configure(root, {"end_voting": at(2)}, actor=alice, replace=False,
                              expected_version=version)
    assert "alice changed them" in refused.value.message
    assert [kind for kind, _, _ in pending(root.pk)] == ["start_voting"]


# --- H13: the schedule belongs to the election, not to the person -------------------------

def due_event(election, kind, actor):
    return ScheduledEvent.objects.create(election=election, kind=kind, scheduled_by=actor,
                                         event_at=in_seconds(-0.5), next_dispatch_at=timezone.now())


def test_an_event_still_runs_for_a_user_since_deactivated_or_without_the_grant(alice, make_user, tree):
    root, north, ward = tree
    other = create_election(title="Other", created_by=alice)
    solo = create_election(title="Solo", created_by=alice)
    gone, demoted, kept, admin = (make_user(name, can_create=False)
                                  for name in ("gone", "demoted", "kept", "admin"))
    for user in (gone, demoted):
        grant(user, root, Permission.SCHEDULE_EVENTS)
    grant(kept, root, Permission.EDIT)  # a grant on the root covers the child
    admin.is_superuser = True
    admin.save()
    events = [due_event(root, "start_voting", gone), due_event(other, "start_voting", demoted),
              due_event(north, "end_voting", kept), due_event(solo, "end_voting", admin)]
    gone.is_active = False
    gone.save()
    grant(demoted, root, Permission.VIEW)  # lost schedule-events (and never had it on Other)

    outcomes = executing.execute_events([(e.pk, e.task_id) for e in events])
    assert outcomes == {events[0].pk: "done", events[1].pk: "done", events[2].pk: "done",
                        events[3].pk: "skipped"}  # Solo has not started
    assert status_of(root.pk) == Status.STARTED and status_of(other.pk) == Status.STARTED
    [executed] = actions_of(root.pk, Action.EVENT_EXECUTED)
    assert executed.on_behalf_of_name == "gone" and executed.metadata["scheduled_by_standing"] == "inactive"
    assert "gone, who scheduled it, is no longer active" in describe(executed)
    [executed] = actions_of(other.pk, Action.EVENT_EXECUTED)
    assert executed.metadata["scheduled_by_standing"] == "no_grant"
    assert "demoted, who scheduled it, no longer holds the schedule-events grant" in describe(executed)
    [executed] = actions_of(north.pk, Action.EVENT_EXECUTED)
    assert "scheduled_by_standing" not in executed.metadata
    assert status_of(ward.pk) == Status.STOPPED  # with North
    [skipped] = actions_of(solo.pk, Action.EVENT_SKIPPED)
    assert "scheduled_by_standing" not in skipped.metadata


def test_the_schedulers_standing_costs_one_query_per_delivery(alice, make_user,
                                                             django_assert_max_num_queries):
    users = [make_user(f"u{i}", can_create=False) for i in range(5)]
    elections = [create_election(title=f"E{i}", created_by=alice) for i in range(20)]
    for i, election in enumerate(elections):
        grant(users[i % 5], election, Permission.SCHEDULE_EVENTS)
    events = [due_event(e, "start_voting", users[i % 5]) for i, e in enumerate(elections)]
    events = list(ScheduledEvent.objects.select_related("scheduled_by").filter(pk__in=[e.pk for e in events]))
    with django_assert_max_num_queries(1):
        assert executing._schedulers_standing(events) == {}


def test_a_scheduler_whose_grant_comes_from_a_group_still_holds_it(alice, make_user, tree):
    """The grant a group gives counts as the person's own (H13 with P19's group grants)."""
    from django.contrib.auth.models import Group

    from elections.models import ElectionGroupGrant

    root, north, _ = tree
    member = make_user("member", can_create=False)
    observers = Group.objects.create(name="observers")
    member.groups.add(observers)
    ElectionGroupGrant.objects.create(election=root, group=observers, permission=Permission.SCHEDULE_EVENTS)
    event = due_event(north, "start_voting", member)

    assert executing.execute_events([(event.pk, event.task_id)]) == {event.pk: "done"}
    [executed] = actions_of(north.pk, Action.EVENT_EXECUTED)
    assert "scheduled_by_standing" not in executed.metadata
