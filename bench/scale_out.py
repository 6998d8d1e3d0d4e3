"""Benchmark 12: more workers and more beats against one PostgreSQL and one RabbitMQ.

A backlog of K start events, each on a root with four children, all overdue (as
after an outage), opened by: one worker and one beat; two workers and one beat; two
workers and two beats. Each worker has one pool process, so "a worker" is one
core's worth and two can be told apart on this two-core machine. For each it
reports the throughput (elections opened per second, first to last execution), how
the work split between the workers (CPU seconds each), and counts the effects:
every election opened once, one ``status_changed`` row each and one
``event_executed`` row per event, every event ``done``, and the deliveries the guard
discarded. (Benchmark 2 is the instant that is not overdue.)
"""

import time
from datetime import timedelta

from django.db import connection

from config.processes import wait_until

from . import processes
from .harness import Context, bulk_due_events, bulk_elections, count_started, now_utc, reset

SETUPS = (("1 worker, 1 beat", 1, 1), ("2 workers, 1 beat", 2, 1), ("2 workers, 2 beats", 2, 2))


CHILDREN = 4


def _trees(k: int) -> tuple[list[int], list[int]]:
    """K roots with CHILDREN children each: (root ids, every id)."""
    roots = bulk_elections(k, prefix="scale")
    with connection.cursor() as cur:
        cur.execute("""INSERT INTO elections_election
                         (title, description, status, parent_id, created_at, updated_at)
                       SELECT 'scale-child-' || r || '-' || g, '', 'notstarted', r, now(), now()
                       FROM unnest(%s::bigint[]) AS r, generate_series(1, %s) AS g RETURNING id""",
                    [roots, CHILDREN])
        children = [row[0] for row in cur.fetchall()]
    return roots, roots + children


def _effects(roots: list[int], ids: list[int]) -> dict:
    """Per-election counts of what happened, reduced to what must be exactly one."""
    with connection.cursor() as cur:
        cur.execute(
            """SELECT count(*) FILTER (WHERE n_changed <> 1),
                      count(*) FILTER (WHERE n_executed <> 1 AND id = ANY(%s)),
                      coalesce(sum(n_discarded), 0), coalesce(sum(n_rows), 0)
               FROM (SELECT e.id,
                            count(a.id) FILTER (WHERE a.action = 'status_changed') AS n_changed,
                            count(a.id) FILTER (WHERE a.action = 'event_executed') AS n_executed,
                            count(a.id) FILTER (WHERE a.action = 'task_discarded') AS n_discarded,
                            count(a.id) AS n_rows
                     FROM unnest(%s::bigint[]) AS e(id)
                     LEFT JOIN activity_log_activityentry a ON a.election_id = e.id
                     GROUP BY e.id) per_election""", [roots, ids])
        not_once_changed, not_once_executed, discarded, rows = cur.fetchone()
        cur.execute("""SELECT count(*) FILTER (WHERE state = 'done'), count(*),
                              min(executed_at), max(executed_at)
                       FROM scheduling_scheduledevent WHERE election_id = ANY(%s)""", [roots])
        done, events, first, last = cur.fetchone()
    return {"elections_not_changed_exactly_once": not_once_changed,
            "elections_not_executed_exactly_once": not_once_executed,
            "discarded_deliveries": int(discarded), "log_rows": int(rows),
            "events_done": done, "events": events, "first_executed": first, "last_executed": last}


def _one_setup(ctx: Context, k: int, workers: int, beats: int) -> dict:
    reset()
    roots, ids = _trees(k)
    started = []
    try:
        pool = [processes.celery("worker", ctx.env, ctx.log_dir, ["--concurrency", "1"]).start()
                for _ in range(workers)]
        started += pool
        started += [processes.celery("beat", ctx.env, ctx.log_dir).start() for _ in range(beats)]
        cpu_before = [processes.cpu_seconds(w.pid) for w in pool]
        inserted = now_utc()
        due = inserted - timedelta(seconds=1)
        bulk_due_events(roots, due, due)  # overdue: the planners publish them at their next tick
        wait_until(lambda: count_started(ids) == len(ids), timeout=300, interval=0.02,
                   message="every election open")
        seen = now_utc()
        cpu_after = [processes.cpu_seconds(w.pid) for w in pool]
        time.sleep(2)  # more planner ticks: nothing more may happen
    finally:
        for process in reversed(started):
            process.stop()
    effects = _effects(roots, ids)
    first, last = effects.pop("first_executed"), effects.pop("last_executed")
    # From the insert (the planners' next tick is at most 0.5 s away) to the last execution.
    span = (last - inserted).total_seconds() if last else None
    return {
        "workers": workers, "beats": beats, "events": k, "elections": len(ids),
        "all_seen_open_after_s": round((seen - inserted).total_seconds(), 3),
        "first_executed_after_s": round((first - inserted).total_seconds(), 3) if first else None,
        "last_executed_after_s": round(span, 3) if span is not None else None,
        "elections_per_s": round(len(ids) / max(span, 1e-3)) if span is not None else None,
        "worker_cpu_s": [round(a - b, 2) for a, b in zip(cpu_after, cpu_before, strict=True)],
        **effects,
        "exactly_once": (effects["elections_not_changed_exactly_once"] == 0
                         and effects["elections_not_executed_exactly_once"] == 0
                         and effects["events_done"] == k),
    }


def scale_out(ctx: Context) -> dict:
    k = int(ctx.env.get("BENCH_SCALE_OUT_EVENTS") or ctx.size(500, 2_000))
    rows = []
    for label, workers, beats in SETUPS:
        print(f"    {label} ...", flush=True)
        rows.append({"setup": label, **_one_setup(ctx, k, workers, beats)})
    one, two = rows[0]["elections_per_s"], rows[1]["elections_per_s"]
    ratio = round(two / one, 2) if one and two else None
    met = all(r["exactly_once"] for r in rows)
    return {
        "setups": rows, "two_workers_over_one": ratio,
        "target": "exactly one effect per election with 2 workers and 2 beats; throughput reported",
        "met": met,
        "summary": (f"{k:,} overdue trees of {CHILDREN + 1}: "
                    + ", ".join(f"{r['setup']} {r['elections_per_s']}/s" for r in rows)
                    + f" (2 workers x{ratio}); exactly once: {'all' if met else 'NO'}"),
    }
