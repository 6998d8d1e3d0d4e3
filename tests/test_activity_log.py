"""The activity log is append-only through every ORM path."""

import pytest

from activity_log.models import Action, ActivityEntry, AppendOnlyError
from activity_log.services import record
from elections.services import create_election

pytestmark = pytest.mark.django_db


def test_rows_cannot_be_changed_or_deleted(alice):
    election = create_election(title="General", created_by=alice)
    row = record(Action.EVENT_SCHEDULED, election, actor=alice, task_id="t-1")
    row.metadata = {"task_id": "forged"}
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        ActivityEntry.objects.filter(pk=row.pk).update(metadata={})
    with pytest.raises(AppendOnlyError):
        ActivityEntry.objects.filter(pk=row.pk).delete()
    assert ActivityEntry.objects.get(pk=row.pk).metadata == {"task_id": "t-1"}


def test_log_survives_the_deletion_of_its_election(alice):
    from scheduling.configuring import delete_election

    election = create_election(title="Gone", created_by=alice)
    delete_election(election, actor=alice)
    actions = list(ActivityEntry.objects.filter(election_id=election.pk).values_list("action", flat=True))
    assert actions == [Action.ELECTION_DELETED, Action.ELECTION_CREATED]
    assert ActivityEntry.objects.filter(election_title="Gone").count() == 2


# --- a deleted child's history stays in its parent's log (H16) ----------------------------

def test_a_deleted_childs_rows_stay_in_the_parents_log(alice, api, client):
    from scheduling.configuring import delete_election

    root = create_election(title="General", created_by=alice)
    child = create_election(title="North <b>", parent=root, created_by=alice)
    grandchild = create_election(title="Ward 9", parent=child, created_by=alice)
    other = create_election(title="Other", created_by=alice)
    record(Action.EVENT_SCHEDULED, grandchild, actor=alice, kind="start_voting", task_id="t-gone")
    delete_election(child, actor=alice)

    rows = api.get(f"/api/elections/{root.pk}/activity/").json()["results"]
    seen = {(r["election"], r["election_title"], r["action"]) for r in rows}
    assert {(child.pk, "North <b>", "election_created"), (child.pk, "North <b>", "election_deleted"),
            (grandchild.pk, "Ward 9", "event_scheduled"), (grandchild.pk, "Ward 9", "election_deleted"),
            (root.pk, "General", "election_created")} <= seen
    assert other.pk not in {r["election"] for r in rows}

    client.force_login(alice)
    page = client.get(f"/elections/{root.pk}/activity/").content.decode()
    assert f"Ward 9 (#{grandchild.pk})" in page and f"North &lt;b&gt; (#{child.pk})" in page
    assert "t-gone" in page


def test_a_subtrees_log_holds_only_that_subtree(alice, api):
    root = create_election(title="General", created_by=alice)
    north = create_election(title="North", parent=root, created_by=alice)
    ward = create_election(title="Ward", parent=north, created_by=alice)
    create_election(title="South", parent=root, created_by=alice)
    rows = api.get(f"/api/elections/{north.pk}/activity/").json()["results"]
    assert sorted(r["election"] for r in rows) == [north.pk, ward.pk]
    only_ward = api.get(f"/api/elections/{root.pk}/activity/?election={ward.pk}").json()["results"]
    assert [r["election"] for r in only_ward] == [ward.pk]


# --- edits in the Django admin are logged (H15) -------------------------------------------

@pytest.fixture
def root_user(make_user):
    return make_user("root", superuser=True)


def admin_form(election, grants=(), **changes) -> dict:
    """The admin change form of ``election`` with its grant inline, as a browser posts it."""
    data = {"title": election.title, "description": election.description,
            "time_zone": election.time_zone, **changes,
            "grants-TOTAL_FORMS": str(len(grants)),
            "grants-INITIAL_FORMS": str(sum(1 for g in grants if g.get("id"))),
            "grants-MIN_NUM_FORMS": "0", "grants-MAX_NUM_FORMS": "1000", "_save": "Save"}
    for n, grant in enumerate(grants):
        data.update({f"grants-{n}-{key}": value for key, value in grant.items()})
        data[f"grants-{n}-election"] = str(election.pk)
    return data


def test_admin_edit_of_title_and_description_is_logged(alice, root_user, client):
    election = create_election(title="General", description="old", created_by=alice)
    grant = election.grants.get()
    client.force_login(root_user)
    keep = [{"id": grant.pk, "user": alice.pk, "permission": grant.permission}]
    response = client.post(f"/admin/elections/election/{election.pk}/change/",
                           admin_form(election, keep, title="General 2026", description="new"))
    assert response.status_code == 302, response.content.decode()[:2000]
    row = ActivityEntry.objects.get(action=Action.ELECTION_EDITED)
    assert (row.election_id, row.actor_name) == (election.pk, "root")
    assert row.metadata == {"changes": {"title": {"from": "General", "to": "General 2026"},
                                        "description": {"from": "old", "to": "new"}}}
    client.post(f"/admin/elections/election/{election.pk}/change/",
                admin_form(election.__class__.objects.get(pk=election.pk), keep))
    assert ActivityEntry.objects.filter(action=Action.ELECTION_EDITED).count() == 1  # no change, no row


def test_admin_grant_add_change_and_delete_are_logged(alice, make_user, root_user, client):
    from elections.models import ElectionGrant

    bob = make_user("bob")
    election = create_election(title="General", created_by=alice)
    own = election.grants.get()
    client.force_login(root_user)
    url = f"/admin/elections/election/{election.pk}/change/"
    own_form = {"id": own.pk, "user": alice.pk, "permission": "edit"}
    assert client.post(url, admin_form(election, [own_form, {"user": bob.pk, "permission": "view"}])
                       ).status_code == 302
    bobs = ElectionGrant.objects.get(user=bob)
    assert client.post(url, admin_form(election, [own_form, {"id": bobs.pk, "user": bob.pk,
                                                             "permission": "edit"}])).status_code == 302
    assert client.post(url, admin_form(election, [own_form, {"id": bobs.pk, "user": bob.pk,
                                                             "permission": "edit", "DELETE": "on"}])
                       ).status_code == 302
    assert not ElectionGrant.objects.filter(user=bob).exists()
    rows = ActivityEntry.objects.filter(action__startswith="grant_").order_by("id")
    said = [(r.action, r.actor_name, r.metadata["user"], r.metadata["from"], r.metadata["to"]) for r in rows]
    assert said == [
        (Action.GRANT_ADDED, "root", "bob", None, "view"),
        (Action.GRANT_CHANGED, "root", "bob", "view", "edit"),
        (Action.GRANT_REMOVED, "root", "bob", "edit", None),
    ]
    # The grants admin page logs the same way.
    response = client.post("/admin/elections/electiongrant/add/",
                           {"user": bob.pk, "election": election.pk, "permission": "view", "_save": "Save"})
    assert response.status_code == 302
    grant = ElectionGrant.objects.get(user=bob)
    client.post(f"/admin/elections/electiongrant/{grant.pk}/delete/", {"post": "yes"})
    grant_rows = ActivityEntry.objects.filter(action__startswith="grant_").order_by("id")
    assert [r.action for r in grant_rows][3:] == [Action.GRANT_ADDED, Action.GRANT_REMOVED]
    from activity_log.presentation import describe

    assert describe(rows[1]) == "root changed the access of bob from view to edit"
