"""Recipients of an automation: who a spec names, and the exact table of the inactive flags."""

import itertools
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from elections.errors import InvalidInput
from elections.models import Permission
from elections.services import create_election, grant
from notifications.recipients import FLAGS, kept_classes, resolve, validate

pytestmark = pytest.mark.django_db

NOW = timezone.now()

#: The table in docs/automations.md: (include_inactive, include_inactivated, only_inactive,
#: only_inactivated) -> the classes of account kept.
TABLE = {
    (False, False, False, False): {"active"},
    (True, False, False, False): {"active", "inactive"},
    (False, True, False, False): {"active", "inactivated"},
    (True, True, False, False): {"active", "inactive", "inactivated"},
    (False, False, True, False): {"inactive"},
    (True, False, True, False): {"inactive"},
    (False, True, True, False): {"inactive", "inactivated"},
    (True, True, True, False): {"inactive", "inactivated"},
    (False, False, False, True): {"inactivated"},
    (True, False, False, True): {"inactive", "inactivated"},
    (False, True, False, True): {"inactivated"},
    (True, True, False, True): {"inactive", "inactivated"},
    (False, False, True, True): {"inactive", "inactivated"},
    (True, False, True, True): {"inactive", "inactivated"},
    (False, True, True, True): {"inactive", "inactivated"},
    (True, True, True, True): {"inactive", "inactivated"},
}


def test_the_table_covers_every_combination_of_flags():
    assert set(TABLE) == set(itertools.product((False, True), repeat=4))


@pytest.fixture
def people(django_user_model, settings):
    settings.INACTIVE_USER_DAYS = 90
    active = django_user_model.objects.create_user("ann", email="ann@example.org",
                                                   last_login=NOW - timedelta(days=89))
    inactive = django_user_model.objects.create_user("ivan", email="ivan@example.org",
                                                     last_login=NOW - timedelta(days=91))
    inactivated = django_user_model.objects.create_user("deb", email="deb@example.org", is_active=False,
                                                        last_login=NOW - timedelta(days=1))
    group = Group.objects.create(name="observers")
    for user in (active, inactive, inactivated):
        user.groups.add(group)
    return {"active": active, "inactive": inactive, "inactivated": inactivated}


@pytest.mark.parametrize("flags", sorted(TABLE))
def test_each_row_of_the_flags_table(people, flags):
    spec = validate({"groups": ["observers"], **dict(zip(FLAGS, flags, strict=True))}, scope="election")
    assert kept_classes(spec) == TABLE[flags]
    resolution = resolve(spec, None, NOW)
    expected = {people[cls].username for cls in TABLE[flags]}
    assert set(resolution.usernames) == expected
    left_out = {name: cls for cls, names in resolution.left_out.items() for name in names}
    left = {"active", "inactive", "inactivated"} - TABLE[flags]
    assert left_out == {people[cls].username: cls for cls in left}


def test_never_logged_in_counts_from_the_day_the_account_was_made(django_user_model, settings):
    settings.INACTIVE_USER_DAYS = 90
    django_user_model.objects.create_user("new")
    old = django_user_model.objects.create_user("old")
    old.date_joined = NOW - timedelta(days=100)
    old.save()
    resolution = resolve({"users": ["new", "old"]}, None, NOW)
    assert resolution.usernames == ["new"]
    assert resolution.left_out == {"inactive": ["old"]}


def test_the_inactive_days_come_from_the_setting(people, settings):
    settings.INACTIVE_USER_DAYS = 200
    assert resolve({"users": ["ivan"]}, None, NOW).usernames == ["ivan"]


def test_users_by_name_or_address_groups_and_grants_each_once(django_user_model):
    owner = django_user_model.objects.create_user("owner", last_login=NOW)
    root = create_election(title="Root", created_by=owner)  # owner: edit on root
    child = create_election(title="Child", parent=root, created_by=owner)
    viewer = django_user_model.objects.create_user("viewer", last_login=NOW)
    scheduler = django_user_model.objects.create_user("sched", email="Sched@Example.org", last_login=NOW)
    django_user_model.objects.create_user("outsider", last_login=NOW)
    grant(viewer, child, Permission.VIEW)
    grant(scheduler, root, Permission.SCHEDULE_EVENTS)
    Group.objects.create(name="g").user_set.add(scheduler)

    assert resolve({"grants": ["edit"]}, child, NOW).usernames == ["owner"]
    assert resolve({"grants": ["schedule-events"]}, child, NOW).usernames == ["owner", "sched"]
    assert resolve({"grants": ["view"]}, child, NOW).usernames == ["owner", "sched", "viewer"]
    assert resolve({"grants": ["view"]}, root, NOW).usernames == ["owner", "sched"]  # grant below: no
    both = resolve({"users": ["sched@example.org", "outsider"], "groups": ["g"], "grants": ["edit"]},
                   child, NOW)
    assert both.usernames == ["outsider", "owner", "sched"]
    assert resolve({"grants": ["edit"]}, None, NOW).usernames == []  # no election: no grant holders


def test_a_user_deleted_since_is_reported_not_an_error(django_user_model):
    django_user_model.objects.create_user("gone").delete()
    assert resolve({"users": ["gone"]}, None, NOW).left_out == {"unknown": ["gone"]}


@pytest.mark.parametrize(("data", "field", "words"), [
    ({"users": ["nobody"]}, "users", "No account with the username or e-mail address 'nobody'"),
    ({"groups": ["nogroup"]}, "groups", "No group named 'nogroup'"),
    ({"grants": ["own"]}, "grants", "Unknown grant 'own'"),
    ({"users": "alice"}, "users", "Must be a list of strings"),
    ({"only_inactive_users": "yes"}, "only_inactive_users", "Must be true or false"),
    ({"colour": []}, "colour", "Unknown field"),
])
def test_bad_recipients_name_the_field(data, field, words):
    with pytest.raises(InvalidInput) as caught:
        validate(data, scope="election")
    assert words in caught.value.detail[f"recipients.{field}"][0]


def test_grants_on_a_global_automation_without_an_election_are_refused():
    with pytest.raises(InvalidInput) as caught:
        validate({"grants": ["edit"]}, scope="global", election_needed_for_grants=True)
    assert "no election to read grants from" in caught.value.detail["recipients.grants"][0]
    assert validate({"grants": ["edit"]}, scope="global")["grants"] == ["edit"]
