"""Alerts: one ``event-alert`` email per incident to the election's editors, never a storm.

Scheduling sends ``events_went_wrong`` inside its execution transaction; this
receiver writes the outbox rows in that same transaction (delivery is published
on commit). Incidents are grouped by tree; the email is about the lowest
election above all of them, and goes to its editors. An incident is keyed by the
tree and the minute its events were planned for: a tree of 10,000 elections whose
start ran late is one incident, one email per editor, even when its events
arrived in many deliveries."""

import logging

from django.db import transaction

from elections.models import Election
from elections.selectors import ancestor_paths
from scheduling.signals import Incident

from . import rendering, services

logger = logging.getLogger(__name__)

OUTCOME_WORDS = {"skipped": "was skipped", "failed": "failed", "late": "ran late"}
ADVICE = {
    "skipped": "A skipped event changed nothing: check the election's status and schedule it again, "
               "or change the status by hand, if it still should happen.",
    "failed": "A failed event changed nothing: read the error in the election's history, check the "
              "worker's logs, then change the status by hand or schedule the event again.",
    "late": "The status changed, but late: check that the Celery worker and beat are running and the "
            "broker is reachable (/healthz shows each).",
}


def on_events_went_wrong(sender, incidents: list[Incident], **kwargs) -> None:
    """Queue the alerts for these incidents in the current transaction (a savepoint: a failure here
    is logged and never undoes the execution)."""
    try:
        with transaction.atomic():
            for root, (about, group) in _group(incidents).items():
                _alert(root, about, group)
    except Exception:
        logger.exception("could not queue alerts for %d incidents", len(incidents))


def _group(incidents: list[Incident]) -> dict[int, tuple[int, list[Incident]]]:
    """Incidents by tree (its root), each with the lowest election above all of the tree's incidents."""
    paths = ancestor_paths({i.election_id for i in incidents})
    groups: dict[int, list[Incident]] = {}
    for incident in incidents:
        path = paths.get(incident.election_id, [incident.election_id])
        groups.setdefault(path[-1], []).append(incident)
    result = {}
    for root, group in groups.items():
        chains = [paths.get(i.election_id, [i.election_id]) for i in group]
        common = set(chains[0]).intersection(*chains[1:])
        result[root] = (next(pk for pk in chains[0] if pk in common), group)
    return result


def _alert(root: int, about: int, group: list[Incident]) -> None:
    """One ``event-alert`` per editor of election ``about`` (the lowest above every incident).

    The cause is the tree and the minute the events were planned for, so the same
    incident reported by several deliveries alerts each person once.
    """
    election = Election.objects.filter(pk=about).first()
    if election is None:
        return
    titles = dict(Election.objects.filter(pk__in={i.election_id for i in group}).values_list("pk", "title"))
    first = min(i.event_at for i in group)
    outcomes = sorted({i.outcome for i in group})
    headline = (f"{len(group)} scheduled event{'s' if len(group) != 1 else ''} "
                f"{' or '.join(OUTCOME_WORDS[o] for o in outcomes)}")
    zone = election.time_zone
    shown = sorted(group, key=lambda i: (i.event_at, i.election_id))[:20]
    context = {"alert": {
        "headline": headline,
        "incidents": [{
            "label": services.KIND_LABELS.get(i.kind, i.kind),
            "election_title": titles.get(i.election_id, ""),
            "planned": rendering.time_context(i.event_at, zone), "outcome": i.outcome,
            "what_happened": _what_happened(i),
        } for i in shown],
        "more": len(group) - len(shown),
        "advice": [ADVICE[o] for o in outcomes],
    }}
    cause = f"alert:{root}:{first:%Y%m%dT%H%M}"
    services.queue_emails(
        template_name="event-alert", election=election, users=services.editors(election), cause=cause,
        cause_label=f"alert: {headline}", extra_context=context,
    )


def _what_happened(incident: Incident) -> str:
    if incident.outcome == "late":
        return f"it ran {incident.lateness_seconds:.0f} s late"
    if incident.outcome == "skipped":
        return f"it was skipped: {incident.reason}"
    return f"it failed: {incident.reason}"
