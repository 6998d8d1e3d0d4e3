"""Alerts: one ``event-alert`` email per incident to the election's editors, never a storm.

Scheduling sends ``events_went_wrong`` inside its execution transaction; this
receiver writes the outbox rows in that same transaction (delivery is published
on commit). Incidents are grouped by tree; the email is about the lowest
election above all of them, and goes to its editors (someone whose edit grant is
lower down gets one about their election). An incident is keyed by the
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
            paths = ancestor_paths({i.election_id for i in incidents})
            for root, group in _by_tree(incidents, paths).items():
                _alert_tree(root, group, paths)
    except Exception:
        logger.exception("could not queue alerts for %d incidents", len(incidents))


def _by_tree(incidents: list[Incident], paths: dict[int, list[int]]) -> dict[int, list[Incident]]:
    groups: dict[int, list[Incident]] = {}
    for incident in incidents:
        groups.setdefault(_path(incident, paths)[-1], []).append(incident)
    return groups


def _path(incident: Incident, paths: dict[int, list[int]]) -> list[int]:
    """The incident's election followed by its ancestors up to the root."""
    return paths.get(incident.election_id, [incident.election_id])


def _alert_tree(root: int, group: list[Incident], paths: dict[int, list[int]]) -> None:
    """Alert every editor of an election of ``group`` once, about what they may see.

    Editors of the lowest election above all the incidents (and superusers) get
    them all in one email about it. Someone whose edit grant is only lower down
    gets one email about their granted election, with the incidents under it.
    The cause is the tree and the minute the events were planned for, so the
    same incident reported by several deliveries alerts each person once.
    """
    chains = [_path(i, paths) for i in group]
    common = set(chains[0]).intersection(*chains[1:])
    about = next(pk for pk in chains[0] if pk in common)
    cause = f"alert:{root}:{min(i.event_at for i in group):%Y%m%dT%H%M}"
    main = list(services.editors_of(about))
    _queue(about, group, main, cause)
    covered = {user.pk for user in main}
    below: dict[int, set[int]] = {}  # granted election -> users whose edit grant is only down there
    for user_id, election_id in services.edit_grants(set().union(*chains)):
        if user_id not in covered:
            below.setdefault(election_id, set()).add(user_id)
    for election_id, user_ids in sorted(below.items()):
        under = [i for i, chain in zip(group, chains, strict=True) if election_id in chain]
        users = [u for u in services.active_users(user_ids) if u.pk not in covered]
        covered.update(u.pk for u in users)
        if under and users:
            _queue(election_id, under, users, cause)


def _queue(about: int, group: list[Incident], users: list, cause: str) -> None:
    election = Election.objects.filter(pk=about).first()
    if election is None:
        return
    titles = dict(Election.objects.filter(pk__in={i.election_id for i in group}).values_list("pk", "title"))
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
    services.queue_emails(template_name="event-alert", election=election, users=users, cause=cause,
                          cause_label=f"alert: {headline}", extra_context=context)


def _what_happened(incident: Incident) -> str:
    if incident.outcome == "late":
        return f"it ran {incident.lateness_seconds:.0f} s late"
    if incident.outcome == "skipped":
        return f"it was skipped: {incident.reason}"
    return f"it failed: {incident.reason}"
