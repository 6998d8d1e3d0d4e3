"""Delivery: claim one outbox row at a time, send it, mark it; safe to run any number of times.

A row is claimed by one conditional UPDATE (``queued`` → ``sending``, or a
``sending`` row whose claim has expired because its worker died), so two
workers never send the same row at once on either database. Marking a row
sent and claiming the next share one commit. A worker killed mid-batch leaves at
most one row ``sending`` that may already be at the server: it is sent again
when its claim expires, with the same Message-ID (at-least-once to SMTP).
"""

import json
import logging
from collections import Counter
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from activity_log.models import Action
from activity_log.services import ElectionRef, record

from . import transports
from .models import MessageState, OutboxMessage
from .services import publish, redeliver_after

logger = logging.getLogger(__name__)

COLUMNS = ("id", "address", "from_address", "subject", "text", "html", "headers", "message_id",
           "created_at", "attempts", "election_id", "cause_label")


def build_message(row: dict) -> EmailMessage:
    """The MIME message of an outbox row: plain text, and HTML as an alternative when there is one."""
    message = EmailMessage(policy=SMTP)
    message["From"] = row["from_address"]
    message["To"] = row["address"]
    message["Subject"] = row["subject"]
    message["Date"] = format_datetime(row["created_at"])
    message["Message-ID"] = row["message_id"]
    message["Auto-Submitted"] = "auto-generated"
    headers = row["headers"] or {}
    for name, value in (json.loads(headers) if isinstance(headers, str) else headers).items():
        message[name] = value
    message.set_content(row["text"])
    if row["html"]:
        message.add_alternative(row["html"], subtype="html")
    return message


def retry_delay(attempts: int) -> timedelta:
    """1 min (``EMAIL_RETRY_FIRST_SECONDS``) after the first failed attempt, doubling after each."""
    return timedelta(seconds=settings.EMAIL_RETRY_FIRST_SECONDS * 2 ** max(0, min(attempts - 1, 20)))


def _claim(pk: int, now: datetime, sent_id: int | None = None) -> dict | None:
    """Claim row ``pk`` for sending and return it; None when it is sent, failed, or held by a live worker.

    ``sent_id``, the row this worker has just sent, is marked ``sent`` in the same
    commit: on PostgreSQL in the same statement (one round trip a message), on
    SQLite in the same transaction.
    """
    table = connection.ops.quote_name(OutboxMessage._meta.db_table)
    claim = (f"UPDATE {table} SET state = %s, next_attempt_at = %s, last_attempt_at = %s, "
             "attempts = attempts + 1 "
             "WHERE id = %s AND (state = %s OR (state = %s AND next_attempt_at <= %s)) "
             f"RETURNING {', '.join(COLUMNS)}")
    claim_params = [MessageState.SENDING.value, now + redeliver_after(), now, pk,
                    MessageState.QUEUED.value, MessageState.SENDING.value, now]
    mark = f"UPDATE {table} SET state = %s, sent_at = %s, error = '' WHERE id = %s AND state = %s"
    mark_params = [MessageState.SENT.value, now, sent_id, MessageState.SENDING.value]
    with connection.cursor() as cursor:
        if sent_id is None:
            cursor.execute(claim, claim_params)
            found = cursor.fetchone()
        elif connection.vendor == "postgresql":
            cursor.execute(f"WITH sent AS ({mark}) {claim}", mark_params + claim_params)
            found = cursor.fetchone()
        else:
            with transaction.atomic():
                cursor.execute(mark, mark_params)
                cursor.execute(claim, claim_params)
                found = cursor.fetchone()
    if found is None:
        return None
    row = dict(zip(COLUMNS, found, strict=True))
    if isinstance(row["created_at"], str):  # SQLite's RETURNING skips Django's converters
        row["created_at"] = datetime.fromisoformat(row["created_at"])
    if timezone.is_naive(row["created_at"]):
        row["created_at"] = timezone.make_aware(row["created_at"], UTC)
    return row


@contextmanager
def _relaxed_commits():
    """On PostgreSQL, do not wait for each commit to reach the disk while delivering.

    Safe here: a database crash could forget the last few "sent" marks, and those
    messages would go again with the same Message-ID, which at-least-once allows;
    no message is ever lost. The setting is the session's, reset afterwards.
    """
    relaxed = connection.vendor == "postgresql"
    if relaxed:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        if relaxed:
            with suppress(Exception), connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")


def _settle(row: dict, error: transports.TransportError, now: datetime) -> str:
    """Record a failed attempt on the row (only if this worker still holds it); returns the state."""
    mine = OutboxMessage.objects.filter(pk=row["id"], state=MessageState.SENDING)
    give_up = now - row["created_at"] >= timedelta(seconds=settings.EMAIL_GIVE_UP_AFTER_SECONDS)
    if error.permanent or give_up:
        reason = (error.reply if error.permanent
                  else f"gave up after {row['attempts']} attempts: {error.reply}")
        if mine.update(state=MessageState.FAILED, error=reason[:2000]) and row["election_id"]:
            title = f"{row['cause_label']}" or "email"
            record(Action.EMAIL_FAILED, ElectionRef(row["election_id"], title[:200]),
                   summary=f"email to {row['address']} failed: {reason[:300]}", address=row["address"],
                   message_id=row["message_id"], reason=reason[:2000], outbox_id=row["id"])
        return MessageState.FAILED
    mine.update(state=MessageState.QUEUED, error=error.reply[:2000],
                next_attempt_at=now + retry_delay(row["attempts"]))
    return MessageState.QUEUED


def deliver(ids: list[int]) -> Counter:
    """Send the rows ``ids`` that still need it, over one connection; returns a count per outcome.

    Each row is marked before the next is sent, in the commit that claims the next.
    When the server cannot be reached, the rest of the batch waits with the same
    backoff instead of each trying (and timing out) in turn.
    """
    outcomes: Counter = Counter()
    sent_id: int | None = None  # sent, not yet marked
    with transports.from_settings() as transport, _relaxed_commits():
        for index, pk in enumerate(ids):
            now = timezone.now()
            row = _claim(pk, now, sent_id)
            if sent_id is not None:
                outcomes[MessageState.SENT] += 1
                sent_id = None
            if row is None:
                outcomes["skipped"] += 1
                continue
            try:
                transport.send(build_message(row), row["from_address"], row["address"])
            except transports.TransportError as exc:
                logger.warning("email %s to %s: %s", row["id"], row["address"], exc.reply)
                outcomes[_settle(row, exc, now)] += 1
                if exc.connection and not exc.permanent:
                    rest = OutboxMessage.objects.filter(pk__in=ids[index + 1:], state=MessageState.QUEUED)
                    postponed = rest.update(next_attempt_at=now + retry_delay(row["attempts"]),
                                            error=exc.reply[:2000])
                    if postponed:
                        outcomes["postponed"] += postponed
                    break
                continue
            sent_id = row["id"]
        if sent_id is not None:
            _claim(-1, timezone.now(), sent_id)  # marks it; claims nothing
            outcomes[MessageState.SENT] += 1
    return outcomes


SWEEP_LIMIT = 20_000


#: Longest wait before a row whose delivery task has not run is published once more.
MAX_REDELIVER_AFTER = timedelta(minutes=30)


def sweep(now: datetime | None = None) -> int:
    """Publish again the rows whose ``next_attempt_at`` has come; returns how many.

    That is retries whose backoff ended, queued rows whose delivery task was lost,
    and rows left ``sending`` by a worker that died (their claim expired). Each is
    claimed first (SKIP LOCKED on PostgreSQL), so sweeps running at once do not
    publish a row twice in one round; the next look waits
    ``EMAIL_REDELIVER_AFTER_SECONDS``, doubled for each publish already made (up
    to 30 min), so a long backlog that is merely slow is not published over and over.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = OutboxMessage.objects.filter(state__in=[MessageState.QUEUED, MessageState.SENDING],
                                           next_attempt_at__lte=now)
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        rows = list(due.order_by("next_attempt_at").values_list("pk", "publishes")[:SWEEP_LIMIT])
        by_publishes: dict[int, list[int]] = {}
        for pk, publishes in rows:
            by_publishes.setdefault(publishes, []).append(pk)
        for publishes, pks in by_publishes.items():
            wait = min(redeliver_after() * 2 ** min(publishes, 10), MAX_REDELIVER_AFTER)
            # A 'sending' row whose claim expired goes back to 'queued': its worker is gone.
            OutboxMessage.objects.filter(pk__in=pks).update(
                state=MessageState.QUEUED, next_attempt_at=now + wait, publishes=F("publishes") + 1)
    if rows:
        publish(sorted(pk for pk, _ in rows))
    return len(rows)
