"""The admin never goes around the services: deletion cancels events, the log stays read-only."""

import pytest

from activity_log.models import Action, ActivityEntry
from elections.models import Election
from elections.services import create_election
from scheduling import configuring, dispatching
from scheduling.models import ScheduledEvent, State
from tests.helpers import in_seconds

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("root", superuser=True))
    return client


def test_deleting_in_the_admin_cancels_pending_events_and_logs(admin_client, alice, monkeypatch):
    monkeypatch.setattr(dispatching, "revoke", lambda ids: None)
    monkeypatch.setattr(dispatching, "send", lambda *a, **k: None)
    election = create_election(title="General", created_by=alice)
    create_election(title="North", parent=election, created_by=alice)
    event = configuring.configure(election, {"start_voting": in_seconds(60)}, actor=alice,
                               replace=True)["start_voting"]
    response = admin_client.post("/admin/elections/election/", {
        "action": "delete_selected", "_selected_action": [election.pk], "post": "yes"})
    assert response.status_code == 302
    assert not Election.objects.exists()
    assert ScheduledEvent.objects.get(pk=event.pk).state == State.CANCELLED
    assert ActivityEntry.objects.filter(action=Action.ELECTION_DELETED).count() == 2


def test_status_is_read_only_in_the_admin(admin_client, alice):
    election = create_election(title="General", created_by=alice)
    page = admin_client.get(f"/admin/elections/election/{election.pk}/change/")
    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode()


def test_activity_log_admin_offers_no_change_or_delete(admin_client, alice):
    election = create_election(title="General", created_by=alice)
    entry = ActivityEntry.objects.get(election_id=election.pk)
    assert admin_client.get(f"/admin/activity_log/activityentry/{entry.pk}/delete/").status_code == 403
    page = admin_client.get(f"/admin/activity_log/activityentry/{entry.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
