"""The task the peer's rows (and the seed's ETA messages) run: open one election, the plain way.

What a developer using django-celery-beat writes, and what the seed did for each
election of a tree: read the election, check the transition, save it, log it. It
logs every run, so that the benchmark counts deliveries (every row whose
``source`` is ``peer``) apart from effects (the ``status_changed`` rows).
"""

from celery import shared_task
from django.db import transaction

from activity_log.models import Action
from activity_log.services import record
from elections.models import Election, Status

TASK_NAME = "bench.peer.open_election"


@shared_task(name=TASK_NAME, ignore_result=True)
def open_election(election_id: int) -> None:
    """Start the election if it has not started; log the change, or that there was none."""
    with transaction.atomic():
        election = Election.objects.select_for_update().get(pk=election_id)
        if election.status != Status.NOT_STARTED:
            record(Action.EVENT_SKIPPED, election, source="peer", reason=f"already {election.status}")
            return
        old, election.status = election.status, Status.STARTED
        election.save()
        record(Action.STATUS_CHANGED, election, source="peer",
               **{"from": old, "to": election.status, "transition": "start"})
