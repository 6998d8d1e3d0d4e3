"""Automations and their runs in a person's words, for the pages (the one place for these words).

``automation_sentence`` says what a rule does ("Email voting-closes-soon to observers and
edit-grant holders, 24 hours before voting closes"); ``run_outcome`` says what became of a run
in the words of the automated-chasing seed ("Sent to 12 of 12", "Not sent — turned off by
alice", "Not sent — voting had already closed", "Not sent — error: …"). Plain text: the
templates escape it.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from activity_log.presentation import format_seconds
from elections.models import Permission
from notifications.recipients import FLAGS
from notifications.selectors import EMAIL_OPERATIONS, RunDelivery, delivery_of_runs
from scheduling.configuring import pending_events
from scheduling.models import ScheduledEvent, State

from . import selectors
from .models import Automation
from .planning import when_of
from .validation import INTERNAL_PREFIX, public_names
from .when import ANCHORS, STATUS_EVENTS, USER_TRIGGERS, At, Cron, Relative, describe

#: how long an error from a run or the mail server may be on the page
MAX_ERROR = 200
#: a mail server's reply code (as the outbox keeps a refusal: "550 5.1.1 <…>: Recipient address rejected")
SMTP_REPLY = re.compile(r"^[45]\d\d\b")
#: the grant levels as the recipients' words name their holders
GRANT_WORDS = {"view": "view-grant holders", "schedule-events": "schedule-events-grant holders",
               "edit": "edit-grant holders"}
#: which accounts the recipients' flags add, in words
FLAG_WORDS = (("include_inactive_users", "including inactive accounts"),
              ("include_inactivated_users", "including deactivated accounts"),
              ("only_inactive_users", "only inactive accounts"),
              ("only_inactivated_users", "only deactivated accounts"))
#: how a voting event is named when reminders move with it
ANCHOR_NOUNS = {"start_voting": "the start of voting", "end_voting": "the end of voting"}


def join_words(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def operation_words(name: str, params: dict) -> str:
    """One operation as a verb phrase: ``Email voting-closes-soon``, ``Suspend voting``."""
    if name == "send_email":
        return f"Email {params.get('template', '')}".strip()
    return {"send_summary": "Email a summary", "suspend_voting": "Suspend voting",
            "resume_voting": "Resume voting", "maintenance": "Run the daily maintenance"
            }.get(name, name.replace("_", " ").capitalize())


def recipients_words(recipients: dict) -> str:
    """``alice, observers and edit-grant holders (including inactive accounts)``; '' for nobody."""
    names = [*recipients.get("users", []), *recipients.get("groups", []),
             *(GRANT_WORDS.get(g, f"{g}-grant holders") for g in recipients.get("grants", []))]
    flags = [words for flag, words in FLAG_WORDS if recipients.get(flag)]
    text = join_words(names)
    if text and flags:
        text += f" ({', '.join(flags)})"
    return text


def automation_sentence(automation: Automation, *, zone: str, show_recipients: bool) -> str:
    """What the automation does and when, in one sentence; recipients only when ``show_recipients``.

    ``zone`` is the page's zone, for a one-off time (a cron rule is read in its own zone).
    """
    operations = [(name, params or {}) for name, params in automation.operations.items()
                  if not name.startswith(INTERNAL_PREFIX)]
    phrases = [operation_words(name, params) for name, params in operations]
    to = recipients_words(automation.recipients or {}) if show_recipients else ""
    emails = [i for i, (name, _) in enumerate(operations) if name in EMAIL_OPERATIONS]
    if to and emails:  # "to …" right after the (last) email: "Email x to observers and suspend voting"
        phrases[emails[-1]] += f" to {to}"
    what = join_words([phrases[0], *(p[0].lower() + p[1:] for p in phrases[1:])]) if phrases else "Do nothing"
    when = describe(when_of(automation), zone)
    return f"{what}, {when[0].lower()}{when[1:]}"


def moves_with(automation: Automation) -> str:
    """The voting event (``start_voting``/``end_voting``) whose rescheduling moves the
    automation's runs, or '' (not relative, or turned off)."""
    when = when_of(automation)
    return when.anchor if automation.active and isinstance(when, Relative) else ""


def no_run_words(automation: Automation, scheduled: frozenset[str] = frozenset()) -> str:
    """Why an automation without a pending run has none, or '' when that is its nature (a
    trigger runs when its event happens). ``scheduled``: the election's pending voting events."""
    if not automation.active:
        return "turned off"
    when = when_of(automation)
    if isinstance(when, Relative) and when.anchor not in scheduled:
        return f"no run until {ANCHOR_NOUNS[when.anchor]} is scheduled"
    if isinstance(when, At | Cron | Relative):
        return "no run planned"
    return ""


def sends_email(run: ScheduledEvent) -> bool:
    return bool(EMAIL_OPERATIONS & set((run.payload or {}).get("operations") or {}))


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR - 1] + "…"


def run_outcome(run: ScheduledEvent, delivery: RunDelivery | None = None, *,
                show_errors: bool = True) -> str:
    """What became of a run that is no longer pending, in the seed's words.

    ``show_errors``: False for readers who may not see recipients (the view grant): a mail
    server's reply and a failure's text name people and addresses, so they read only
    "error: mail server refused" / "error" (the outbox, for edit-grant holders, has the rest).

    A run that sends email reads "Sent to 11 of 12" (its messages the mail server took, of
    the people it was for), "Not sent — <why>" or "Not sent — error: <the refusal>"; any
    other reads "Done" or "Not run — <why>". ``delivery``: its outbox messages, if any.
    """
    email = sends_email(run)
    missed = "Not sent" if email else "Not run"
    if run.state == State.SKIPPED:
        return f"{missed} — {_short(run.reason) or 'skipped'}"
    if run.state == State.FAILED:
        return f"{missed} — error: {_short(run.reason) or 'unknown'}" if show_errors else f"{missed} — error"
    if run.state == State.CANCELLED:
        return f"{missed} — cancelled: {_short(run.reason) or 'cancelled'}"
    if run.state == State.SUPERSEDED:
        return f"Replaced — {_short(run.reason) or 'a newer run took its place'}"
    if run.state != State.DONE:
        return "Pending"
    if not email:
        return "Done"
    delivery = delivery or RunDelivery()
    total = int((run.result or {}).get("recipients", delivery.sent + delivery.failed + delivery.waiting))
    if total == 0:
        return "Not sent — nobody to send it to"
    refused = SMTP_REPLY.match(delivery.error)
    if not show_errors:
        error = "mail server refused" if refused else "delivery failed"
    else:
        error = _short(f"mail server refused ({delivery.error})" if refused else delivery.error)
    if delivery.failed and not (delivery.sent or delivery.waiting):
        return f"Not sent — error: {error}"
    if delivery.waiting:
        text = f"Sending — {delivery.sent} of {total} sent so far"
    else:
        text = f"Sent to {delivery.sent} of {total}"
    if delivery.failed:
        text += f"; {delivery.failed} not sent — error: {error}"
    return text


@dataclass(frozen=True)
class PanelItem:
    automation: Automation
    sentence: str
    next_run: ScheduledEvent | None   # the next pending run, on or off
    moves_with: str                   # start_voting / end_voting / ''
    no_run: str                       # without a next run: why (see no_run_words)


@dataclass(frozen=True)
class PastRun:
    run: ScheduledEvent
    name: str                         # the automation's name when the run was planned
    outcome: str
    at: datetime
    lateness: str                     # "0.3 s late", or ''


def panel(election, *, zone: str, show_recipients: bool, past_limit: int = 20) -> dict:
    """What the dashboard's "Reminders and automations" panel shows for ``election``:
    ``items`` (each automation in words with its next run), ``past`` (the runs that
    finished, newest first, with their outcome in words) and ``version``."""
    automations = list(selectors.automations_of(election.pk))
    pending = selectors.pending_runs_by_automation([a.pk for a in automations])
    scheduled = frozenset(pending_events(election.pk))
    items = [PanelItem(a, automation_sentence(a, zone=zone, show_recipients=show_recipients),
                       pending.get(a.pk), moves_with(a), no_run_words(a, scheduled)) for a in automations]
    finished = selectors.past_runs_of_election(election.pk, past_limit)
    deliveries = delivery_of_runs([r.task_id for r in finished if r.state == State.DONE and sends_email(r)])
    past = [PastRun(r, ((r.payload or {}).get("automation") or {}).get("name") or "(deleted)",
                    run_outcome(r, deliveries.get(r.task_id), show_errors=show_recipients), r.event_at,
                    f"{format_seconds(r.lateness.total_seconds())} late" if r.lateness is not None else "")
            for r in finished]
    shown = [zone, show_recipients,
             *((i.automation.pk, i.automation.name, i.automation.active, i.sentence, i.no_run,
                i.next_run and (i.next_run.pk, i.next_run.enabled, i.next_run.toggled_by_id,
                                i.next_run.event_at.isoformat())) for i in items),
             *((p.run.pk, p.outcome) for p in past)]
    return {"items": items, "past": past,
            # changes with anything the panel shows: its script replaces the panel only then
            "version": hashlib.sha256(repr(shown).encode()).hexdigest()[:16]}


# --- what the rule editor offers (templates/automations/_editor.html) -------------------------

#: What each operation does, as the editor's checkboxes say it.
OPERATION_LABELS = {
    "send_email": "Send an email with a template",
    "send_summary": "Send a summary of the election",
    "suspend_voting": "Suspend voting",
    "resume_voting": "Resume voting",
    "maintenance": "Run the maintenance (prune old history)",
}
#: The recipients' flags, as the editor's "Advanced" checkboxes say them.
FLAG_LABELS = {
    "include_inactive_users": "Also people who have not logged in for a long time (inactive)",
    "include_inactivated_users": "Also deactivated accounts (inactivated)",
    "only_inactive_users": "Only inactive people",
    "only_inactivated_users": "Only deactivated accounts",
}


def editor_choices() -> dict:
    """What the rule editor offers, each operation with the scopes it is for (``election``,
    ``global``, as the run engine's registry says)."""
    scopes = {scope: set(public_names(scope)) for scope in ("election", "global")}
    offered = scopes["election"] | scopes["global"]
    operations = [{"name": name, "label": label,
                   "scopes": " ".join(s for s in ("election", "global") if name in scopes[s])}
                  for name, label in OPERATION_LABELS.items() if name in offered]
    return {
        "operations": operations,
        "anchors": [{"name": name, "label": words} for name, words in ANCHORS.items()],
        "status_events": [{"name": name, "label": words} for name, words in STATUS_EVENTS.items()],
        "user_triggers": [{"name": name, "label": words} for name, words in USER_TRIGGERS.items()],
        "grants": [{"name": value, "label": GRANT_WORDS[value]} for value in Permission.values],
        "flags": [{"name": flag, "label": FLAG_LABELS[flag]} for flag in FLAGS],
    }
