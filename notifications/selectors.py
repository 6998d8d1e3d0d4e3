"""Reads of the outbox, the templates and a user's unsubscribes."""

from dataclasses import dataclass

from django.db.models import F, QuerySet
from django.http import Http404

from elections.errors import InvalidInput
from elections.models import PERMISSION_RANK, Election, Permission
from elections.selectors import granted_rank, viewable_elections

from . import usage
from .models import EmailTemplate, MessageState, OutboxMessage, Unsubscribe
from .unsubscribe import hide_tokens

CHANGE_TEMPLATES = "notifications.change_emailtemplate"

#: The most elections the template preview offers to render for.
MAX_PREVIEW_ELECTIONS = 200


def messages(*, election_ids: list[int] | None = None, state: str | None = None) -> QuerySet[OutboxMessage]:
    """Outbox rows, newest first; of these elections only when given; of one state when given."""
    if state is not None and state not in MessageState.values:
        raise InvalidInput({"state": [f"Unknown state {state[:20]!r}; use one of "
                                      f"{', '.join(MessageState.values)}."]})
    rows = OutboxMessage.objects.select_related("recipient").order_by("-created_at", "-id")
    if election_ids is not None:
        rows = rows.filter(election_id__in=election_ids)
    if state:
        rows = rows.filter(state=state)
    return rows


@dataclass(frozen=True)
class RunDelivery:
    """What became of the messages one run queued: how many were sent, failed, still waiting,
    and the mail server's last refusal (``error``, '' when none failed)."""

    sent: int = 0
    failed: int = 0
    waiting: int = 0
    error: str = ""


#: The automation operations that queue email, each run's messages with the cause
#: ``run:<task id>:<operation>`` (notifications.operations registers them).
EMAIL_OPERATIONS = frozenset({"send_email", "send_summary"})


def delivery_of_runs(task_ids: list[str]) -> dict[str, RunDelivery]:
    """Each run's messages by state (outbox rows whose cause is ``run:<task id>:<operation>``);
    a run that queued nothing is absent. One query."""
    if not task_ids:
        return {}
    counts: dict[str, dict] = {}
    causes = [f"run:{task_id}:{operation}" for task_id in task_ids for operation in EMAIL_OPERATIONS]
    rows = (OutboxMessage.objects.filter(cause__in=causes)  # the (cause, recipient) index
        .order_by("id").values_list("cause", "state", "error"))
    for cause, state, error in rows:
        found = counts.setdefault(cause.split(":")[1], {"sent": 0, "failed": 0, "waiting": 0, "error": ""})
        if state == MessageState.SENT:
            found["sent"] += 1
        elif state == MessageState.FAILED:
            found["failed"] += 1
            found["error"] = error or found["error"]
        else:
            found["waiting"] += 1
    return {task_id: RunDelivery(**found) for task_id, found in counts.items()}


def message_for(user, pk: int) -> OutboxMessage:
    """One outbox message ``user`` may read: a superuser any, the recipient their own, an editor those
    about an election they hold the edit grant on (or above). ``Http404`` otherwise, saying nothing of
    whether it exists."""
    message = OutboxMessage.objects.select_related("recipient").filter(pk=pk).first()
    if message is None or not user.is_authenticated or not (
            user.is_superuser or message.recipient_id == user.pk
            or (message.election_id is not None
                and granted_rank(user, message.election_id) >= PERMISSION_RANK[Permission.EDIT])):
        raise Http404("No email with this id that you may read.")
    return message


def readable_message(user, pk: int) -> OutboxMessage:
    """``message_for``, as ``user`` may read it: an election's editor sees what was sent but not
    the recipient's one-click unsubscribe token (it acts for them without a session); the
    recipient and superusers see it all. The instance is for display only: never save it."""
    message = message_for(user, pk)
    if user.pk != message.recipient_id and not user.is_superuser:
        message.headers = {name: hide_tokens(str(value)) for name, value in (message.headers or {}).items()}
        message.text, message.html = hide_tokens(message.text), hide_tokens(message.html)
    return message


def may_edit_templates(user) -> bool:
    return user.is_authenticated and user.has_perm(CHANGE_TEMPLATES)


@dataclass(frozen=True)
class TemplateRow:
    template: EmailTemplate
    uses: list[str]


def templates_with_uses(user) -> list[TemplateRow]:
    """Every template by name, each with what sends it, in words ``user`` may see."""
    uses = usage.uses_of_templates(user)
    return [TemplateRow(template, uses.get(template.name, []))
            for template in EmailTemplate.objects.select_related("updated_by").order_by("name")]


def preview_elections(user) -> list[Election]:
    """The elections ``user`` may render a preview for (they may view them), by title; at most
    ``MAX_PREVIEW_ELECTIONS``."""
    return list(viewable_elections(user).order_by("title", "pk").only("pk", "title")[:MAX_PREVIEW_ELECTIONS])


def unsubscribes_of(user) -> QuerySet[Unsubscribe]:
    """The automations ``user`` stopped, those still stopped first, then the ones resumed; newest first."""
    return Unsubscribe.objects.filter(user=user).order_by(F("undone_at").asc(nulls_first=True),
                                                            "-created_at", "-id")
