"""What every benchmark uses: its context, emptying the tables, bulk setup rows in SQL,
percentiles, the worker and beat it runs against, and a few readings of the database.

Setup rows are written straight in SQL (that is not what is measured); what is
measured goes through the engine.
"""

import socket
import statistics
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from . import processes

TABLES = ["activity_log_activityentry", "activity_log_activityseal", "activity_log_sealhead",
          "scheduling_scheduledevent", "scheduling_plannerheartbeat", "elections_electiongrant",
          "elections_election", "django_celery_results_taskresult", "authtoken_token"]


@dataclass
class Context:
    env: dict[str, str]
    log_dir: Path
    quick: bool
    extra: dict = field(default_factory=dict)

    def size(self, quick, full):
        return quick if self.quick else full


def reset() -> None:
    """Empty the engine's tables (with the activity log's purge guard: its triggers refuse
    TRUNCATE otherwise), then checkpoint, so that PostgreSQL does not flush the previous
    benchmark's writes during this one.
    """
    from activity_log.purge import with_purge_allowed

    with transaction.atomic(), connection.cursor() as cur:
        for sql in with_purge_allowed(connection.vendor,
                                      [f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"]):
            cur.execute(sql)
    with connection.cursor() as cur, suppress(DatabaseError):
        cur.execute("CHECKPOINT")  # needs a superuser or pg_checkpoint; else skipped


def analyze() -> None:
    with connection.cursor() as cur:
        for table in ("elections_election", "scheduling_scheduledevent", "activity_log_activityentry"):
            cur.execute(f"ANALYZE {table}")


def bulk_elections(n: int, *, parent_id: int | None = None, prefix: str = "bench") -> list[int]:
    """Insert ``n`` elections (not started) in one statement and return their ids."""
    with connection.cursor() as cur:
        cur.execute(
            """INSERT INTO elections_election (title, description, status, parent_id, created_at, updated_at)
               SELECT %s || '-' || g, '', 'notstarted', %s, now(), now() FROM generate_series(1, %s) g
               RETURNING id""", [prefix, parent_id, n])
        return sorted(row[0] for row in cur.fetchall())


def bulk_future_events(n_elections: int, days_ahead: float = 3.0) -> int:
    """Elections with both kinds pending days ahead, in plain SQL; returns how many events."""
    with connection.cursor() as cur:
        cur.execute(
            """WITH e AS (
                 INSERT INTO elections_election (title, description, status, created_at, updated_at)
                 SELECT 'future-' || g, '', 'notstarted', now(), now() FROM generate_series(1, %s) g
                 RETURNING id)
               INSERT INTO scheduling_scheduledevent
                 (election_id, kind, event_at, task_id, state, created_at, next_dispatch_at,
                  dispatch_count, reason)
               SELECT e.id, k.kind, t.at, gen_random_uuid()::text, 'pending', now(),
                      t.at - make_interval(secs => %s), 0, ''
               FROM e CROSS JOIN (VALUES ('start_voting', 0), ('end_voting', 1)) AS k(kind, o)
               CROSS JOIN LATERAL (
                 SELECT now() + make_interval(secs => %s * 86400 + e.id %% 86400 + k.o * 3600) AS at) t""",
            [n_elections, settings.SCHEDULING_HORIZON_SECONDS, days_ahead])
        return cur.rowcount


def bulk_due_events(election_ids: list[int], event_at: datetime, dispatch_at: datetime) -> None:
    """A pending ``start_voting`` per election at ``event_at``, for the planner to publish."""
    with connection.cursor() as cur:
        cur.execute(
            """INSERT INTO scheduling_scheduledevent
                 (election_id, kind, event_at, task_id, state, created_at, next_dispatch_at,
                  dispatch_count, reason)
               SELECT id, 'start_voting', %s, gen_random_uuid()::text, 'pending', now(), %s, 0, ''
               FROM unnest(%s::bigint[]) AS id""", [event_at, dispatch_at, election_ids])


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation, as numpy does by default."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def stats_ms(values_s: list[float]) -> dict:
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 2), "p99_ms": round(pct(ms, 99), 2),
            "max_ms": round(max(ms), 2) if ms else None,
            "mean_ms": round(statistics.fmean(ms), 2) if ms else None}


def now_utc() -> datetime:
    return datetime.now(UTC)


@contextmanager
def celery_processes(ctx: Context, *, beat: bool = True, worker_args: list[str] | None = None):
    """A fresh worker (and beat) for one benchmark, stopped afterwards whatever happens."""
    started = []
    try:
        extra = [*ctx.env.get("BENCH_WORKER_ARGS", "").split(), *(worker_args or [])]
        started.append(processes.celery("worker", ctx.env, ctx.log_dir, extra).start())
        if beat:
            started.append(processes.celery("beat", ctx.env, ctx.log_dir).start())
        yield started
    finally:
        for process in reversed(started):
            process.stop()


def started_among(ids: list[int]) -> set[int]:
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM elections_election WHERE id = ANY(%s) AND status = 'started'", [ids])
        return {row[0] for row in cur.fetchall()}


def count_started(ids: list[int]) -> int:
    """How many of the elections ``ids`` are started.

    The benchmarks poll this every few milliseconds while the engine works, so it must
    cost PostgreSQL little: a contiguous run of ids (what ``bulk_elections`` returns) is
    counted by range. Sending 100,000 ids in an array 200 times a second took CPU from
    the very work being measured.
    """
    lo, hi = min(ids), max(ids)
    with connection.cursor() as cur:
        if hi - lo + 1 == len(set(ids)):
            cur.execute("SELECT count(*) FROM elections_election WHERE id BETWEEN %s AND %s "
                        "AND status = 'started'", [lo, hi])
        else:
            cur.execute("SELECT count(*) FROM elections_election WHERE id = ANY(%s) AND status = 'started'",
                        [ids])
        return cur.fetchone()[0]


def idle_ticks(planning, ticks: int) -> list[float]:
    """Seconds of each of ``ticks`` planner ticks with nothing due, after three to warm up."""
    for _ in range(3):
        planning.plan()
    durations = []
    for _ in range(ticks):
        started = time.perf_counter()
        published = planning.plan()
        durations.append(time.perf_counter() - started)
        assert published == 0, "nothing should be due"
    return durations

def plan_nodes(node: dict) -> str:
    name = node["Node Type"] + (f" on {node['Index Name']}" if "Index Name" in node else "")
    kids = [plan_nodes(child) for child in node.get("Plans", [])]
    return name + (f" <- {', '.join(kids)}" if kids else "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

