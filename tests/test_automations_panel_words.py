"""The automations panel's words (automations.presentation) and its fragment: what a rule does,
what became of each run, and who sees which controls."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

import tests.automation_ops  # noqa: F401  (registers record_call)
from automations import presentation, services
from automations.models import Automation
from elections.models import Election, Permission
from elections.services import create_election, grant
from notifications.models import MessageState, OutboxMessage
from notifications.selectors import RunDelivery, delivery_of_runs
from scheduling import configuring
from scheduling.models import Kind, ScheduledEvent, State

REMINDER = {"name": "Closing soon", "when": {"before": "end_voting", "offset": "PT24H"},
            "operations": {"send_email": {"template": "voting-closes-soon"}},
            "recipients": {"groups": ["observers"], "grants": ["edit"]}}


def rule(**fields) -> Automation:
    """An unsaved automation of an election in Madrid (the words need no database)."""
    data = {"name": "r", "when": REMINDER["when"], "operations": REMINDER["operations"],
            "recipients": REMINDER["recipients"], **fields}
    return Automation(election=Election(pk=1, title="E", time_zone="Europe/Madrid"), **data)


def run(state, reason="", *, operations=None, result=None) -> ScheduledEvent:
    return ScheduledEvent(kind=Kind.AUTOMATION, state=state, reason=reason, result=result or {},
                          payload={"operations": operations or {"_relative_guard": {},
                                                                "send_email": {"template": "t"}}})


# --- what a rule does ------------------------------------------------------------------------

def test_a_reminder_in_words_with_and_without_its_recipients():
    assert presentation.automation_sentence(rule(), zone="Europe/Madrid", show_recipients=True) == (
        "Email voting-closes-soon to observers and edit-grant holders, 24 hours before voting closes")
    assert presentation.automation_sentence(rule(), zone="Europe/Madrid", show_recipients=False) == (
        "Email voting-closes-soon, 24 hours before voting closes")


def test_several_operations_people_and_flags_in_words():
    automation = rule(
        when={"after": "start_voting", "delay": "PT1H"},
        operations={"send_email": {"template": "voting-opened"}, "suspend_voting": {}},
        recipients={"users": ["alice", "bob"], "grants": ["view"], "include_inactive_users": True})
    assert presentation.automation_sentence(automation, zone="UTC", show_recipients=True) == (
        "Email voting-opened to alice, bob and view-grant holders (including inactive accounts) "
        "and suspend voting, 1 hour after voting opens")


def test_a_cron_rule_is_read_in_its_own_zone_and_a_suspension_has_no_recipients():
    automation = rule(when={"cron_rule": "0 7 * * MON", "timezone": "Europe/Paris"},
                      operations={"suspend_voting": {}}, recipients={"users": ["alice"]})
    assert presentation.automation_sentence(automation, zone="UTC", show_recipients=True) == (
        "Suspend voting, at 07:00 on Monday, Europe/Paris time")


def test_only_an_active_relative_rule_moves_with_its_voting_event():
    assert presentation.moves_with(rule()) == "end_voting"
    assert presentation.moves_with(rule(active=False)) == ""
    assert presentation.moves_with(rule(when={"on": "election.started"})) == ""


# --- what became of a run -----------------------------------------------------------------------

@pytest.mark.parametrize(("made", "delivery", "words"), [
    (run(State.DONE, result={"recipients": 12}), RunDelivery(sent=12), "Sent to 12 of 12"),
    (run(State.DONE, result={"recipients": 12}), RunDelivery(sent=11), "Sent to 11 of 12"),
    (run(State.DONE, result={"recipients": 12}), RunDelivery(sent=4, waiting=8),
     "Sending — 4 of 12 sent so far"),
    (run(State.SKIPPED, "turned off by alice"), None, "Not sent — turned off by alice"),
    (run(State.SKIPPED, "voting had already closed"), None, "Not sent — voting had already closed"),
    (run(State.DONE, result={"recipients": 2}),
     RunDelivery(failed=2, error="550 5.1.1 <x@example.org>: Recipient address rejected"),
     "Not sent — error: mail server refused (550 5.1.1 <x@example.org>: Recipient address rejected)"),
    (run(State.DONE, result={"recipients": 3}), RunDelivery(sent=2, failed=1, error="552 mailbox full"),
     "Sent to 2 of 3; 1 not sent — error: mail server refused (552 mailbox full)"),
    (run(State.DONE, result={"recipients": 0}), None, "Not sent — nobody to send it to"),
    (run(State.FAILED, "OperationalError: database is locked"), None,
     "Not sent — error: OperationalError: database is locked"),
    (run(State.SUPERSEDED, "the end of voting moved to 2 Dec 2026 09:00 UTC"), None,
     "Replaced — the end of voting moved to 2 Dec 2026 09:00 UTC"),
    (run(State.CANCELLED, "the automation was deleted"), None,
     "Not sent — cancelled: the automation was deleted"),
    (run(State.DONE, operations={"suspend_voting": {}}), None, "Done"),
    (run(State.SKIPPED, "suspend_voting is not allowed", operations={"suspend_voting": {}}), None,
     "Not run — suspend_voting is not allowed"),
])
def test_a_runs_outcome_in_the_seeds_words(made, delivery, words):
    assert presentation.run_outcome(made, delivery) == words


def test_readers_without_the_recipients_see_that_it_failed_not_who_or_why():
    refused = RunDelivery(failed=2, error="550 5.1.1 <x@example.org>: Recipient address rejected")
    emailed = run(State.DONE, result={"recipients": 2})
    assert presentation.run_outcome(emailed, refused, show_errors=False) == \
        "Not sent — error: mail server refused"
    partly = RunDelivery(sent=1, failed=1, error="connection reset by bob@example.org's server")
    assert presentation.run_outcome(emailed, partly, show_errors=False) == \
        "Sent to 1 of 2; 1 not sent — error: delivery failed"
    failed = run(State.FAILED, "SMTPRecipientsRefused: {'x@example.org': (550, b'no')}")
    assert presentation.run_outcome(failed, show_errors=False) == "Not sent — error"


def test_a_long_error_is_cut_short():
    words = presentation.run_outcome(run(State.FAILED, "x" * 5000))
    assert words.endswith("…") and len(words) < 250


@pytest.mark.django_db
def test_the_delivery_of_runs_counts_each_runs_messages_by_state():
    now = timezone.now()
    made = []

    def message(cause, state, error=""):
        made.append(cause)
        OutboxMessage.objects.create(cause=cause, template_name="t", address=f"p{len(made)}@example.org",
                                     from_address="s@example.org", subject="s", text="t",
                                     message_id=f"<{len(made)}@example.org>", state=state, error=error,
                                     next_attempt_at=now)

    message("run:aaa:send_email", MessageState.SENT)
    message("run:aaa:send_summary", MessageState.SENT)
    message("run:aaa:send_email", MessageState.FAILED, "550 no such user")
    message("run:bbb:send_email", MessageState.QUEUED)
    message("run:ccc:send_email", MessageState.SENT)  # not asked for
    message("elsewhere:aaa:", MessageState.SENT)       # not a run's
    assert delivery_of_runs(["aaa", "bbb", "zzz"]) == {
        "aaa": RunDelivery(sent=2, failed=1, error="550 no such user"),
        "bbb": RunDelivery(waiting=1)}
    assert delivery_of_runs([]) == {}


# --- the panel fragment: who sees what --------------------------------------------------------

@pytest.fixture
def no_broker(monkeypatch):
    from scheduling import dispatching

    monkeypatch.setattr(dispatching, "send", lambda *a, **k: None)
    monkeypatch.setattr(dispatching, "revoke", lambda ids: None)


def page_as(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_panel_shows_controls_and_recipients_only_to_who_may_schedule(no_broker, alice, make_user):
    from django.contrib.auth.models import Group

    Group.objects.create(name="observers")
    root = create_election(title="General", created_by=alice)
    configuring.configure(root, {"end_voting": timezone.now() + timedelta(days=3)}, actor=alice,
                          replace=False)
    automation = services.create_automation({**REMINDER, "name": "<img src=x onerror=alert(1)>"},
                                            election=root, actor=alice)
    viewer, stranger = make_user("viewer"), make_user("stranger")
    grant(viewer, root, Permission.VIEW)
    url = f"/elections/{root.pk}/automations/panel/"

    mine = page_as(alice).get(url).content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in mine and "<img src=x" not in mine
    assert "to observers and edit-grant holders, 24 hours before voting closes" in mine
    assert "data-run-switch" in mine and f'data-rule-editor-edit="{automation.pk}"' in mine
    assert "data-rule-editor-new" in mine and "data-delete-automation" in mine
    assert 'data-moves-with="end_voting"' in mine and "— next:" in mine

    seen = page_as(viewer).get(url).content.decode()
    assert "Email voting-closes-soon, 24 hours before voting closes" in seen and "— next:" in seen
    for control in ("data-run-switch", "data-rule-editor-edit", "data-rule-editor-new",
                    "data-delete-automation", "observers"):
        assert control not in seen
    dashboard = page_as(viewer).get(f"/elections/{root.pk}/").content.decode()
    assert "Reminders and automations" in dashboard and "data-run-switch" not in dashboard

    assert page_as(stranger).get(url).status_code == 404
    assert Client().get(url).status_code == 401


@pytest.mark.django_db
def test_past_runs_are_listed_with_their_outcome_lateness_and_full_task_id(no_broker, alice):
    root = create_election(title="General", created_by=alice)
    configuring.configure(root, {"end_voting": timezone.now() + timedelta(days=3)}, actor=alice,
                          replace=False)
    automation = services.create_automation({**REMINDER, "recipients": {}}, election=root, actor=alice)
    (pending,) = ScheduledEvent.objects.filter(automation_id=automation.pk, state=State.PENDING)
    ScheduledEvent.objects.filter(pk=pending.pk).update(
        state=State.SKIPPED, reason="turned off by alice", finished_at=timezone.now(),
        lateness=timedelta(milliseconds=300))
    html = page_as(alice).get(f"/elections/{root.pk}/automations/panel/").content.decode()
    assert "Not sent — turned off by alice" in html and "0.3 s late" in html
    assert f'data-task-id="{pending.task_id}"' in html
    assert "no run planned" in html  # its only run is past


def test_why_an_automation_has_no_next_run():
    assert presentation.no_run_words(rule()) == "no run until the end of voting is scheduled"
    assert presentation.no_run_words(rule(), frozenset({"end_voting"})) == "no run planned"  # it ran
    assert presentation.no_run_words(rule(when={"cron_rule": "0 7 * * MON"})) == "no run planned"
    assert presentation.no_run_words(rule(when={"on": "election.started"})) == ""
    assert presentation.no_run_words(rule(active=False)) == "turned off"


@pytest.mark.django_db
def test_the_panels_version_changes_with_what_it_shows(no_broker, alice):
    root = create_election(title="General", created_by=alice)
    configuring.configure(root, {"end_voting": timezone.now() + timedelta(days=3)}, actor=alice,
                          replace=False)
    automation = services.create_automation({**REMINDER, "recipients": {}}, election=root, actor=alice)

    def version(**kwargs):
        return presentation.panel(root, **{"zone": "UTC", "show_recipients": True, **kwargs})["version"]

    first = version()
    assert version() == first
    assert version(zone="Europe/Madrid") != first and version(show_recipients=False) != first
    (run,) = ScheduledEvent.objects.filter(automation_id=automation.pk, state=State.PENDING)
    services.set_run_enabled(automation, run.pk, False, actor=alice)
    assert version() != first


@pytest.mark.django_db
def test_an_unchanged_panel_is_a_304(no_broker, alice):
    root = create_election(title="General", created_by=alice)
    client = page_as(alice)
    url = f"/elections/{root.pk}/automations/panel/"
    first = client.get(url)
    assert first.status_code == 200 and first["Cache-Control"] == "private, no-cache"
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    services.create_automation({**REMINDER, "recipients": {}, "when": {"on": "election.started"}},
                               election=root, actor=alice)
    changed = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200 and changed["ETag"] != first["ETag"]
