"""Benchmark 7: 100,000 recipients to a local aiosmtpd server.

Measures the time to queue them (render + one outbox row each, one transaction),
delivery throughput against a plain ``smtplib`` loop sending the same messages to
the same server in the same run, the email worker's memory from 1,000 to all
messages sent, and the lateness of election events fired during the flood
against the same events fired with no flood.
"""


import smtplib
import threading
import time
from datetime import timedelta

from django.db import connection, transaction

from config.processes import wait_until

from . import processes
from .harness import Context, bulk_elections, now_utc, reset, stats_ms


class CountingHandler:
    """aiosmtpd handler that accepts everything and counts (keeps no content: 100,000 messages)."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
        return "250 OK"


def _server():
    import logging

    from aiosmtpd.controller import Controller

    from tests.smtp_server import free_port

    logging.getLogger("mail.log").setLevel(logging.WARNING)
    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, handler


def _recipients(election_id: int, n: int) -> None:
    with connection.cursor() as cur:
        cur.execute("DELETE FROM auth_user WHERE username LIKE 'benchmail-%%'")
        cur.execute(
            """WITH u AS (
                 INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                                        is_staff, is_active, date_joined)
                 SELECT '!', false, 'benchmail-' || g, 'Voter', g::text, 'voter' || g || '@example.org',
                        false, true, now() FROM generate_series(1, %s) g RETURNING id)
               INSERT INTO elections_electiongrant (user_id, election_id, permission, created_at)
               SELECT id, %s, 'view', now() FROM u""", [n, election_id])


def _sent() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM notifications_outboxmessage WHERE state = 'sent'")
        return cur.fetchone()[0]


def _sending_span() -> float:
    """Seconds from the first message's claim to the last one's "sent" mark (worker start-up excluded)."""
    with connection.cursor() as cur:
        cur.execute("SELECT extract(epoch FROM max(sent_at) - min(last_attempt_at)) "
                    "FROM notifications_outboxmessage WHERE state = 'sent'")
        return float(cur.fetchone()[0])


def _smtplib_loop(port: int, limit: int) -> tuple[int, float]:
    """The baseline: the same stored messages sent by a plain loop over one connection."""
    from notifications.delivery import COLUMNS, build_message

    with connection.cursor() as cur:
        cur.execute(f"SELECT {', '.join(COLUMNS)} FROM notifications_outboxmessage ORDER BY id LIMIT %s",
                    [limit])
        rows = [dict(zip(COLUMNS, row, strict=True)) for row in cur.fetchall()]
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for row in rows:  # building the MIME message is part of sending it, for both
            smtp.send_message(build_message(row), row["from_address"], [row["address"]])
    return len(rows), time.perf_counter() - started


def _fire_events(ctx: Context, ids: list[int], spacing: float) -> list[float]:
    """Schedule one start per election, ``spacing`` s apart; return each recorded lateness (s)."""
    from elections.models import Election
    from scheduling.configuring import configure
    from scheduling.models import ScheduledEvent

    base = now_utc() + timedelta(seconds=3)
    for i, election in enumerate(Election.objects.filter(pk__in=ids).order_by("pk")):
        configure(election, {"start_voting": base + timedelta(seconds=i * spacing)}, actor=None,
                           replace=False)
    wait_until(lambda: ScheduledEvent.objects.filter(election_id__in=ids, state="done").count() == len(ids),
               timeout=len(ids) * spacing + 60, message="every event fired")
    return [e.lateness.total_seconds() for e in ScheduledEvent.objects.filter(election_id__in=ids)]


def email_flood(ctx: Context) -> dict:
    from elections.models import Election
    from notifications import services

    n = ctx.size(5_000, 100_000)
    baseline_n = min(n, ctx.size(5_000, 20_000))
    events_n, spacing = ctx.size(10, 30), 0.5
    reset()
    with connection.cursor() as cur:
        cur.execute("TRUNCATE notifications_outboxmessage RESTART IDENTITY")
    services.install_default_templates()
    [election_id] = bulk_elections(1, prefix="mail")
    _recipients(election_id, n)
    controller, handler = _server()
    env = {**ctx.env, "EMAIL_URL": f"smtp://127.0.0.1:{controller.port}"}
    email_args = ["-Q", ctx.env["EMAIL_QUEUE"], "--concurrency", "1"]
    started = []
    try:
        started.append(processes.celery("worker", ctx.env, ctx.log_dir).start())  # scheduling
        started.append(processes.celery("beat", ctx.env, ctx.log_dir).start())
        quiet_ids = bulk_elections(events_n, prefix="quiet")
        quiet = _fire_events(ctx, quiet_ids, spacing)

        from django.contrib.auth import get_user_model

        election = Election.objects.get(pk=election_id)
        users = get_user_model().objects.filter(username__startswith="benchmail-").order_by("pk").iterator()
        t0 = time.perf_counter()
        with transaction.atomic():
            result = services.queue_emails(template_name="voting-opens-soon", election=election, users=users,
                                           cause="bench:flood", cause_label="benchmark flood")
        queue_s = time.perf_counter() - t0

        # The baseline first, with the same processes running as during the flood.
        base_n, base_s = _smtplib_loop(controller.port, baseline_n)
        assert handler.count == base_n

        worker = processes.celery("worker", env, ctx.log_dir, email_args).start()
        started.append(worker)
        wait_until(lambda: _sent() >= min(1000, n), timeout=600, interval=0.05, message="1,000 sent")
        memory_1k = processes.tree_memory(worker.pid)
        flood_ids = bulk_elections(events_n, prefix="flood")
        during = _fire_events(ctx, flood_ids, spacing)
        flood_running = _sent() < n
        wait_until(lambda: _sent() >= n, timeout=3600, interval=0.5, message="every email sent")
        memory_all = processes.tree_memory(worker.pid)
        deliver_s = _sending_span()
    finally:
        for process in reversed(started):
            process.stop()
        controller.stop()
    engine_rate, loop_rate = n / deliver_s, base_n / base_s
    ratio = engine_rate / loop_rate
    growth = memory_all["pss_mib"] - memory_1k["pss_mib"]
    quiet_ms, during_ms = stats_ms(quiet), stats_ms(during)
    same_p99 = during_ms["p99_ms"] <= max(quiet_ms["p99_ms"] * 1.5, quiet_ms["p99_ms"] + 50)
    met = ratio >= 0.7 and growth < 50 and same_p99 and result.queued == n
    return {
        "recipients": n, "queued": result.queued, "queue_seconds": round(queue_s, 1),
        "delivery_seconds": round(deliver_s, 1), "engine_per_second": round(engine_rate),
        "smtplib_loop_messages": base_n, "smtplib_loop_per_second": round(loop_rate),
        "throughput_ratio": round(ratio, 2), "worker_memory_at_1000": memory_1k,
        "worker_memory_at_end": memory_all, "pss_growth_mib": round(growth, 1),
        "event_lateness_quiet": quiet_ms, "event_lateness_during_flood": during_ms,
        "flood_still_running_after_events": flood_running,
        "target": "ratio >= 0.7, memory growth < 50 MB, event p99 unchanged", "met": met,
        "summary": (f"queued {n:,} in {queue_s:.0f} s; {engine_rate:.0f}/s vs smtplib {loop_rate:.0f}/s "
                    f"(x{ratio:.2f}); PSS {growth:+.1f} MiB; event p99 {quiet_ms['p99_ms']:.0f} -> "
                    f"{during_ms['p99_ms']:.0f} ms"),
    }



