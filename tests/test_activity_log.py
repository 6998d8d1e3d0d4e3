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
