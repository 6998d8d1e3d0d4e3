"""Writes: queueing emails in the caller's transaction (the outbox), templates, settings, unsubscribes.

``queue_emails`` is the one way to send: it renders one outbox row per recipient
in the transaction that decided to send, and publishes delivery on commit.
"""

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import make_msgid, parseaddr

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from activity_log.models import Action
from activity_log.services import record
from elections.errors import InvalidInput
from elections.models import Election, ElectionGrant, time_zone_names
from elections.selectors import ancestor_paths
from scheduling.models import Kind, ScheduledEvent, State
from scheduling.runs import GLOBAL

from . import rendering
from .models import EmailTemplate, MessageState, OutboxMessage, Unsubscribe, UserSettings
from .unsubscribe import unsubscribe_url

logger = logging.getLogger(__name__)

KIND_LABELS = {Kind.START_VOTING: "Start of voting", Kind.END_VOTING: "End of voting"}


@dataclass
class QueueResult:
    """What one decision to send did: who gets a message, and who does not and why."""

    queued: int = 0
    already_queued: int = 0
    no_address: list[str] = field(default_factory=list)
    may_not_view: list[str] = field(default_factory=list)
    unsubscribed: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)

    def summary(self, label: str) -> str:
        parts = [f"queued {self.queued} email{'s' if self.queued != 1 else ''}: {label}"]
        for count, words in ((self.already_queued, "already queued"),
                             (len(self.no_address), "without an address"),
                             (len(self.may_not_view), "may not view the election"),
                             (len(self.unsubscribed), "unsubscribed")):
            if count:
                parts.append(f"{count} {words}")
        return "; ".join(parts)


def template_names() -> list[str]:
    return list(EmailTemplate.objects.order_by("name").values_list("name", flat=True))


def get_template(name: str) -> EmailTemplate:
    """The template named ``name``; ``InvalidInput`` naming ``template`` and the known names otherwise."""
    template = EmailTemplate.objects.filter(name=name).first()
    if template is None:
        known = ", ".join(template_names())
        raise InvalidInput({"template": [f"No email template named {name!r}; known: {known}."]})
    return template


def install_default_templates() -> int:
    """Create each default template that is missing (never overwrites an edited one); returns how many."""
    from .defaults import DEFAULT_TEMPLATES

    return sum(EmailTemplate.objects.get_or_create(name=name, defaults=parts)[1]
               for name, parts in DEFAULT_TEMPLATES.items())


def update_template(name: str, *, subject: str, text: str, html: str, actor) -> EmailTemplate:
    """Replace a template's parts; raises ``InvalidInput`` (naming field and line) and stores nothing
    when a part does not compile or render."""
    template = get_template(name)
    rendering.check(subject, text, html)
    template.subject, template.text, template.html, template.updated_by = subject, text, html, actor
    template.save()
    return template


# --- the context of a message -------------------------------------------------------------

def election_context(election: Election, zone: str) -> dict:
    """The election as templates see it: plain values, its pending events in ``zone`` and UTC."""
    events = sorted(ScheduledEvent.objects.filter(election_id=election.pk, state=State.PENDING,
                                                  kind__in=Kind.VOTING),
                    key=lambda e: e.event_at)
    shown = {e.kind: {"kind": e.kind, "label": KIND_LABELS.get(e.kind, e.kind),
                      "at": rendering.time_context(e.event_at, zone), "state": e.state} for e in events}
    return {
        "id": election.pk, "title": election.title, "status": election.status,
        "status_label": election.get_status_display(), "time_zone": zone,
        "link": f"{settings.SITE_URL}/elections/{election.pk}/",
        "events": list(shown.values()),
        "start_voting": shown.get(Kind.START_VOTING), "end_voting": shown.get(Kind.END_VOTING),
    }


def zone_of(user_zone: str, election: Election | None) -> str:
    """The recipient's chosen zone, else the election's (``TIME_ZONE`` without one), else UTC."""
    own = election.time_zone if election is not None else settings.TIME_ZONE
    for zone in (user_zone, own, "UTC"):
        if zone and zone in time_zone_names():
            return zone
    return "UTC"


def preview(template: EmailTemplate, election: Election | None, user) -> rendering.Rendered:
    """The template rendered for ``election`` as ``user`` would get it."""
    return preview_parts(template.subject, template.text, template.html, election, user)


def preview_parts(subject: str, text: str, html: str, election: Election | None, user) -> rendering.Rendered:
    """Parts not saved yet, rendered for ``election`` (None: a message about no election) as ``user``
    would get them; raises ``InvalidInput`` naming the part and line that does not compile or render."""
    chosen = UserSettings.objects.filter(user=user).values_list("time_zone", flat=True).first() or ""
    zone = zone_of(chosen, election)
    context = {**rendering.sample_context(),
               "election": election_context(election, zone) if election is not None else None,
               "recipient": _recipient(user, zone), "occurrence": {"label": "preview", "at": {}},
               "unsubscribe_url": ""}
    return rendering.CompiledTemplate(subject, text, html).render(context)


#: The sample values a test message carries for the keys only some senders fill in.
TEST_CONTEXT_KEYS = ("alert", "subject", "summary")


def send_test(template_name: str, election: Election | None, user) -> OutboxMessage:
    """Queue the saved template to ``user`` through the outbox (delivered by the email worker), rendered
    for ``election`` (the caller checked they may view it) with sample values for the keys an alert or a
    summary would fill in. Each call is a new message. Raises ``InvalidInput`` naming ``email`` when the
    user has no address, ``template`` when there is no such template; nothing is queued then."""
    template = get_template(template_name)
    if not user.email:
        raise InvalidInput({"email": ["Your account has no email address, so a test has nowhere to go; "
                                      "ask an administrator to set one."]})
    sample = rendering.sample_context()
    result = queue_emails(
        template_name=template.name, election=election, users=[user],
        cause=f"test:{template.name}:{uuid.uuid4().hex}",
        cause_label=f"test of {template.name} for {user.get_username()}",
        occurrence={"label": "test", "at": {}}, extra_context={k: sample[k] for k in TEST_CONTEXT_KEYS},
    )
    if not result.ids:  # only when the caller skipped the viewer check
        raise InvalidInput({"election": ["You may not view this election; choose another or none."]})
    return OutboxMessage.objects.get(pk=result.ids[0])


def _recipient(user, zone: str) -> dict:
    return {"name": user.get_full_name() or user.get_username(), "username": user.get_username(),
            "time_zone": zone}


# --- recipients ---------------------------------------------------------------------------------

def viewer_ids(election: Election, user_ids: Iterable[int]) -> set[int]:
    """Which of ``user_ids`` may view the election (a grant on it or an ancestor, or superuser)."""
    user_ids = set(user_ids)
    path = ancestor_paths([election.pk]).get(election.pk, [election.pk])
    granted = set(ElectionGrant.objects.filter(election_id__in=path, user_id__in=user_ids)
                  .values_list("user_id", flat=True))
    supers = set(get_user_model().objects.filter(pk__in=user_ids, is_superuser=True)
                 .values_list("pk", flat=True))
    return granted | supers


def editors_of(election_id: int):
    """Active users with the edit grant on the election or an ancestor, and active superusers."""
    path = ancestor_paths([election_id]).get(election_id, [election_id])
    return get_user_model().objects.filter(
        Q(election_grants__election_id__in=path, election_grants__permission="edit") | Q(is_superuser=True),
        is_active=True,
    ).distinct().order_by("pk")


def edit_grants(election_ids: Iterable[int]) -> list[tuple[int, int]]:
    """(user id, election id) of every edit grant on these elections."""
    return list(ElectionGrant.objects.filter(election_id__in=set(election_ids), permission="edit")
                .values_list("user_id", "election_id"))


def active_users(user_ids: Iterable[int]):
    return get_user_model().objects.filter(pk__in=set(user_ids), is_active=True).order_by("pk")


# --- queueing -------------------------------------------------------------------------------------

def queue_emails(*, template_name: str, election: Election | None, users: Iterable, cause: str,
                 cause_label: str,
                 occurrence: dict | None = None, extra_context: dict | None = None,
                 unsubscribe_scope: str = "", unsubscribe_label: str = "",
                 keep_deactivated: bool = False) -> QueueResult:
    """Write one outbox row per recipient, in the caller's transaction, and deliver them on commit.

    ``cause`` names the decision (unique with the recipient: a person already
    queued for it is counted, not queued again). ``election`` None is a message
    about no election (a global automation, e.g. a welcome): no viewer check, the
    context's ``election`` is None, the log row is the global one. Users without
    an address, who may not view the election, or who unsubscribed from ``unsubscribe_scope``
    get nothing and are counted. A message carries an unsubscribe link and the
    RFC 8058 headers when ``unsubscribe_scope`` is set. Logs one activity row.
    Deactivated accounts get nothing unless ``keep_deactivated`` (an automation whose
    recipients chose them with its flags). Raises ``InvalidInput`` for an unknown
    template or one that does not render, before anything is stored.
    """
    template = get_template(template_name)
    compiled = rendering.CompiledTemplate(template.subject, template.text, template.html)
    users = [u for u in users if u.is_active or keep_deactivated]
    result = QueueResult()
    with transaction.atomic():
        allowed = (viewer_ids(election, [u.pk for u in users]) if election is not None
                   else {u.pk for u in users})
        stopped = set(Unsubscribe.objects.filter(scope=unsubscribe_scope, undone_at__isnull=True,
                                                 user_id__in=[u.pk for u in users])
                      .values_list("user_id", flat=True)) if unsubscribe_scope else set()
        already = set(OutboxMessage.objects.filter(cause=cause).values_list("recipient_id", flat=True))
        zones = dict(UserSettings.objects.filter(user_id__in=[u.pk for u in users])
                     .values_list("user_id", "time_zone"))
        now = timezone.now()
        contexts: dict[str, dict] = {}
        rows = []
        domain = _domain()
        for user in users:
            name = user.get_username()
            if not user.email:
                result.no_address.append(name)
            elif user.pk not in allowed:
                result.may_not_view.append(name)
            elif user.pk in stopped:
                result.unsubscribed.append(name)
            elif user.pk in already:
                result.already_queued += 1
            else:
                zone = zone_of(zones.get(user.pk, ""), election)
                if zone not in contexts:
                    contexts[zone] = election_context(election, zone) if election is not None else None
                link = (unsubscribe_url(user, unsubscribe_scope, unsubscribe_label)
                        if unsubscribe_scope else "")
                rendered = compiled.render({
                    "site_url": settings.SITE_URL, "election": contexts[zone],
                    "recipient": _recipient(user, zone), "occurrence": occurrence or {},
                    "unsubscribe_url": link, **(extra_context or {}),
                })
                headers = {"List-Unsubscribe": f"<{link}>",
                           "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"} if link else {}
                rows.append(OutboxMessage(
                    cause=cause, cause_label=cause_label[:200], template_name=template.name,
                    election_id=election.pk if election is not None else None, recipient=user,
                    address=user.email,
                    from_address=settings.DEFAULT_FROM_EMAIL, subject=rendered.subject, text=rendered.text,
                    html=rendered.html, headers=headers, message_id=make_msgid(domain=domain),
                    # Published on commit; should that publish be lost, the sweep sends it then.
                    next_attempt_at=now + redeliver_after(),
                ))
        # ignore_conflicts: a concurrent decision for the same cause may have queued someone since.
        OutboxMessage.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
        result.ids = list(OutboxMessage.objects.filter(cause=cause, state=MessageState.QUEUED,
                                                       created_at__gte=now)
                          .order_by("pk").values_list("pk", flat=True))
        result.queued = len(result.ids)
        if result.queued or result.no_address or result.may_not_view or result.unsubscribed:
            record(Action.EMAILS_QUEUED, election if election is not None else GLOBAL,
                   summary=result.summary(cause_label), cause=cause,
                   template=template.name, queued=result.queued, already_queued=result.already_queued,
                   no_address=result.no_address[:50], may_not_view=result.may_not_view[:50],
                   unsubscribed=result.unsubscribed[:50])
        ids = result.ids
        if ids:
            transaction.on_commit(lambda: publish(ids))
    return result


def _domain() -> str:
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return address.rpartition("@")[2] or "localhost"


def redeliver_after() -> timedelta:
    return timedelta(seconds=settings.EMAIL_REDELIVER_AFTER_SECONDS)


PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def publish(ids: list[int]) -> int:
    """Send delivery tasks for these rows, ``EMAIL_BATCH_SIZE`` per task; returns how many tasks.

    Never raises (it runs after commit): a row whose task is lost is published again
    by the sweep once its ``next_attempt_at`` comes.
    """
    from .tasks import deliver

    size = max(1, settings.EMAIL_BATCH_SIZE)
    sent = 0
    for start in range(0, len(ids), size):
        try:
            deliver.apply_async((ids[start:start + size],), retry=True, retry_policy=PUBLISH_RETRY_POLICY)
            sent += 1
        except Exception:
            logger.exception("could not publish delivery of %d emails; the sweep will retry",
                             len(ids[start:start + size]))
    return sent


# --- settings and unsubscribes ------------------------------------------------------------------------

def set_time_zone(user, zone: str) -> UserSettings:
    """Set the zone the user's emails show times in ('' for the election's). Raises ``InvalidInput``."""
    if zone and zone not in time_zone_names():
        raise InvalidInput({"time_zone": [f"Unknown time zone {zone[:64]!r}; use an IANA name such as "
                                          "Europe/Paris, or leave it empty for each election's own."]})
    obj, _ = UserSettings.objects.update_or_create(user=user, defaults={"time_zone": zone})
    return obj


def unsubscribe(user, scope: str, label: str = "") -> Unsubscribe:
    """Stop ``scope``'s messages to ``user`` (idempotent); kept as history until undone."""
    with transaction.atomic():
        existing = Unsubscribe.objects.select_for_update().filter(user=user, scope=scope,
                                                                  undone_at__isnull=True).first()
        if existing:
            return existing
        stopped = Unsubscribe.objects.create(user=user, scope=scope, scope_label=label[:200])
        record(Action.EMAILS_STOPPED, GLOBAL, actor=user, scope=scope, label=stopped.scope_label)
        return stopped


def undo_unsubscribe(user, pk: int) -> bool:
    """Undo one of ``user``'s unsubscribes, logged; False when there is none of theirs with this id."""
    with transaction.atomic():
        stopped = Unsubscribe.objects.select_for_update().filter(pk=pk, user=user,
                                                                 undone_at__isnull=True).first()
        if stopped is None:
            return False
        Unsubscribe.objects.filter(pk=stopped.pk).update(undone_at=timezone.now())
        record(Action.EMAILS_RESUMED, GLOBAL, actor=user, scope=stopped.scope, label=stopped.scope_label)
    return True
