"""Benchmark 11: the product side by side with django-celery-beat and with the seed's ETA tasks.

Three ways to open elections at their time, on the same machine, database server
and broker, one after the other, for N future one-off events (days ahead):

- **product**: pending rows, the planner (a Celery beat task) publishes what enters
  the horizon, the guarded task opens each instant's elections in one message;
- **peer**: django-celery-beat as its docs say: one ``ClockedSchedule`` and one
  one-off ``PeriodicTask`` per event, beat running its ``DatabaseScheduler``
  (``bench.peer_scheduler``: the real class, each tick timed), a worker running
  ``bench.peer_tasks.open_election`` (read, check, save, log: one election per task);
- **seed**: the same task published at scheduling time with ``eta=event_at`` (the
  seed's way; its trees were opened child by child, which benchmark 3 measures).

For each N it measures the scheduler's tick (product: ``plan()``; peer: beat's
``tick()``, idle and after a change, which makes the peer read its table again) and
beat's memory, then K elections due at one instant (lateness = ``updated_at`` minus
the instant), then a crash: the beat is killed (SIGKILL) right after the instant and
started again, and the benchmark counts deliveries and effects for the K elections.
The seed has no beat: its N messages sit in the worker, so it measures the worker's
memory while it takes them, how fast it takes them, and the same after the worker is
killed; its instant comes first, with nothing else queued. The seed runs up to
``SEED_MAX`` events: its costs are per message.
"""

import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

from django.db import connection

from config.processes import wait_until

from . import processes
from .harness import (
    Context,
    analyze,
    bulk_due_events,
    bulk_elections,
    bulk_future_events,
    count_started,
    now_utc,
    reset,
    stats_ms,
)

ROOT = Path(__file__).resolve().parent.parent
#: Celery's default prefetch for the seed's worker. A worker takes ETA messages a few at a
#: time (about 2 a second with the product's prefetch of 1, 15-20 with 4, measured here), so
#: the benchmark watches it take them for a while and reports the rate.
SEED_WORKER = ["--prefetch-multiplier", "4"]
SEED_MAX = 10_000
PEER_TABLES = ["django_celery_beat_periodictask", "django_celery_beat_clockedschedule",
               "django_celery_beat_periodictasks", "django_celery_beat_intervalschedule",
               "django_celery_beat_crontabschedule"]


# --- the peer's world ----------------------------------------------------------------------

def _peer_env(ctx: Context) -> dict[str, str]:
    return {**ctx.env, "DJANGO_SETTINGS_MODULE": "bench.peer_settings",
            "CELERY_QUEUE": ctx.env["CELERY_QUEUE"] + "-peer",
            "PEER_TICK_LOG": str(ctx.log_dir / "peer-ticks.log")}


def _migrate_peer(env: dict[str, str]) -> None:
    import subprocess

    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "django_celery_beat", "-v", "0"],
                   cwd=ROOT, env=env, check=True, timeout=300)


def _reset_all() -> None:
    reset()
    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(PEER_TABLES)} RESTART IDENTITY CASCADE")


def _peer_rows(election_ids: list[int], at_sql: str, params: list) -> None:
    """One ClockedSchedule and one one-off PeriodicTask per election, as the peer's docs say,
    written in SQL (setup, not what is measured); ``at_sql`` computes the time from ``i``."""
    from .peer_tasks import TASK_NAME

    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM django_celery_beat_clockedschedule")
        offset = cur.fetchone()[0]
        cur.execute(f"""INSERT INTO django_celery_beat_clockedschedule (id, clocked_time)
                        SELECT %s + i, {at_sql} FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(eid, i)""",
                    [offset, *params, election_ids])
        cur.execute("""INSERT INTO django_celery_beat_periodictask
                         (name, task, args, kwargs, headers, one_off, enabled, total_run_count,
                          date_changed, description, clocked_id)
                       SELECT 'open-' || eid, %s, '[' || eid || ']', '{}', '{}', true, true, 0, now(), '',
                              %s + i
                       FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(eid, i)""",
                    [TASK_NAME, offset, election_ids])
        # What PeriodicTask.save() does through its signal: tell beat the schedule changed.
        cur.execute("""INSERT INTO django_celery_beat_periodictasks (ident, last_update) VALUES (1, now())
                       ON CONFLICT (ident) DO UPDATE SET last_update = now()""")


def _ticks(path: Path, since: float) -> list[tuple[float, float, int]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        at, ms, entries = line.split()
        if float(at) >= since:
            rows.append((float(at), float(ms), int(entries)))
    return rows


def _peer_counts(ids: list[int]) -> tuple[int, int]:
    """(deliveries, effects) of the peer task for these elections."""
    with connection.cursor() as cur:
        cur.execute("""SELECT count(*), count(*) FILTER (WHERE action = 'status_changed')
                       FROM activity_log_activityentry
                       WHERE election_id = ANY(%s) AND metadata->>'source' = 'peer'""", [ids])
        return cur.fetchone()


def _product_counts(ids: list[int]) -> tuple[int, int]:
    """(deliveries, effects) of the product for these elections: executions and discards, status changes."""
    with connection.cursor() as cur:
        cur.execute("""SELECT count(*) FILTER (WHERE action IN ('event_executed', 'task_discarded')),
                              count(*) FILTER (WHERE action = 'status_changed')
                       FROM activity_log_activityentry WHERE election_id = ANY(%s)""", [ids])
        return cur.fetchone()


def _lateness(ids: list[int], at) -> dict:
    with connection.cursor() as cur:
        cur.execute("SELECT updated_at FROM elections_election WHERE id = ANY(%s) AND status = 'started'",
                    [ids])
        late = [(row[0] - at).total_seconds() for row in cur.fetchall()]
    return {**stats_ms(late), "opened": len(late)}


def _wait_opened(ids: list[int], timeout: float) -> bool:
    try:
        wait_until(lambda: count_started(ids) == len(ids), timeout=timeout, interval=0.02,
                   message="every election to open")
        return True
    except TimeoutError:
        return False


def _queue(env: dict[str, str], action: str) -> int:
    """Purge, delete or count (ready messages) the peer's queue, on a fresh connection."""
    from config.celery import app

    queue = env["CELERY_QUEUE"]
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        if action == "delete":
            channel.queue_delete(queue)
            return 0
        declared = channel.queue_declare(queue, durable=True, auto_delete=False)
        if action == "purge":
            return channel.queue_purge(queue) or 0
        return declared.message_count


def _memory(pid: int) -> dict:
    samples = []
    for _ in range(3):
        samples.append(processes.tree_memory(pid))
        time.sleep(0.2)
    return {key: round(statistics.median(s[key] for s in samples), 1) for key in ("rss_mib", "pss_mib")}


def _instant(ctx: Context, k: int, lead: float):
    """K new elections and the instant they are due at."""
    return bulk_elections(k, prefix="instant"), now_utc() + timedelta(seconds=lead)


# --- the three ways ------------------------------------------------------------------------------

def run_peer(ctx: Context, env: dict[str, str], n: int, k: int) -> dict:
    _reset_all()
    _queue(env, "purge")
    tick_log = Path(env["PEER_TICK_LOG"])
    tick_log.unlink(missing_ok=True)
    future = bulk_elections(n, prefix="peer-future")
    _peer_rows(future, "now() + interval '3 days' + (i %% 86400) * interval '1 second'", [])
    analyze()
    started = []
    try:
        started.append(processes.celery("worker", env, ctx.log_dir).start())
        t0 = time.time()
        beat = processes.celery("beat", env, ctx.log_dir).start()
        started.append(beat)
        wait_until(lambda: _ticks(tick_log, t0), timeout=120, message="the peer beat's first tick")
        first_tick_s = _ticks(tick_log, t0)[0][0] - t0
        time.sleep(ctx.size(6, 11))  # idle ticks (DatabaseScheduler wakes at least every 5 s)
        idle = [ms for _, ms, _ in _ticks(tick_log, t0)[1:]]
        memory = _memory(beat.pid)
        ids, at = _instant(ctx, k, lead=ctx.size(8, 12))
        changed_at = time.time()
        _peer_rows(ids, "%s::timestamptz", [at])
        wait_until(lambda: any(e >= k for _, _, e in _ticks(tick_log, changed_at)), timeout=60,
                   message="the peer beat to load the new rows")
        reload_ms = max(ms for _, ms, _ in _ticks(tick_log, changed_at))
        opened = _wait_opened(ids, timeout=k * 0.05 + 120)
        send_ticks = [ms for ts, ms, _ in _ticks(tick_log, at.timestamp() - 0.05)]
        late = _lateness(ids, at)
        before_crash = _peer_counts(ids)
        beat.kill()
        beat.stop()
        started.remove(beat)
        t1 = time.time()
        beat = processes.celery("beat", env, ctx.log_dir).start()
        started.append(beat)
        wait_until(lambda: _ticks(tick_log, t1), timeout=120, message="the restarted peer beat's first tick")
        restart_s = _ticks(tick_log, t1)[0][0] - t1
        time.sleep(ctx.size(3, 8))
        wait_until(lambda: _settled(lambda: _peer_counts(ids)), timeout=120, interval=0.5,
                   message="the restarted peer beat to stop sending")
        after_crash = _peer_counts(ids)
    finally:
        for process in reversed(started):
            process.stop()
    return {
        "events": n, "beat_first_tick_s": round(first_tick_s, 3),
        "idle_tick": stats_ms([x / 1000 for x in idle]), "reload_tick_ms": round(reload_ms, 1),
        "beat_memory": memory, "send_tick": stats_ms([x / 1000 for x in send_ticks]),
        "instant": {"elections": k, "all_opened": opened, **late},
        "deliveries_before_crash": before_crash[0], "effects_before_crash": before_crash[1],
        "deliveries_after_restart": after_crash[0], "effects_after_restart": after_crash[1],
        "duplicate_deliveries": after_crash[0] - k, "restart_first_tick_s": round(restart_s, 3),
    }


def _settled(read, quiet: float = 2.0):
    """True once ``read()`` has not changed for ``quiet`` seconds (checked here, in one call)."""
    first = read()
    time.sleep(quiet)
    return read() == first


def run_product(ctx: Context, n: int, k: int) -> dict:
    from scheduling import planning
    from scheduling.models import PlannerHeartbeat

    _reset_all()
    made = 0
    while made < n:
        made += bulk_future_events(min(n - made, 200_000) // 2)
    analyze()
    started = []
    try:
        started.append(processes.celery("worker", ctx.env, ctx.log_dir).start())
        beat = processes.celery("beat", ctx.env, ctx.log_dir).start()
        started.append(beat)
        for _ in range(3):
            planning.plan()
        ticks = []
        for _ in range(ctx.size(20, 50)):
            t = time.perf_counter()
            planning.plan()
            ticks.append(time.perf_counter() - t)
        memory = _memory(beat.pid)
        horizon = float(ctx.env["SCHEDULING_HORIZON_SECONDS"])
        ids, at = _instant(ctx, k, lead=horizon + 1.5)
        bulk_due_events(ids, at, at - timedelta(seconds=horizon))
        opened = _wait_opened(ids, timeout=120)
        late = _lateness(ids, at)
        before_crash = _product_counts(ids)
        beat.kill()
        beat.stop()
        started.remove(beat)
        t1 = now_utc()
        beat = processes.celery("beat", ctx.env, ctx.log_dir).start()
        started.append(beat)
        wait_until(lambda: PlannerHeartbeat.objects.filter(last_tick_at__gt=t1).exists(), timeout=60,
                   message="the restarted beat's first planner tick")
        restart_s = (PlannerHeartbeat.objects.get().last_tick_at - t1).total_seconds()
        time.sleep(ctx.size(3, 8))
        after_crash = _product_counts(ids)
    finally:
        for process in reversed(started):
            process.stop()
    return {
        "events": made, "planner_tick": stats_ms(ticks), "beat_memory": memory,
        "instant": {"elections": k, "all_opened": opened, **late},
        "deliveries_before_crash": before_crash[0], "effects_before_crash": before_crash[1],
        "deliveries_after_restart": after_crash[0], "effects_after_restart": after_crash[1],
        "duplicate_deliveries": after_crash[0] - k, "restart_first_tick_s": round(restart_s, 3),
    }


def _take_rate(env: dict[str, str], total: int, window: float) -> dict:
    """Watch the worker take ETA messages from the queue for at most ``window`` s (or until none is left)."""
    t0, left0 = time.perf_counter(), _queue(env, "count")
    deadline = t0 + window
    left = left0
    while left and time.perf_counter() < deadline:
        time.sleep(0.5)
        left = _queue(env, "count")
    elapsed = time.perf_counter() - t0
    rate = (left0 - left) / elapsed if elapsed else None
    return {"messages": total, "taken_in_window": left0 - left, "window_s": round(elapsed, 1),
            "per_s": round(rate, 1) if rate else None, "left_in_queue": left,
            "all_taken_s": round(elapsed, 1) if not left else
            (round(elapsed + left / rate) if rate else None)}


def run_seed(ctx: Context, env: dict[str, str], n: int, k: int) -> dict:
    from config.celery import app

    from .peer_tasks import TASK_NAME

    _reset_all()
    _queue(env, "purge")
    queue = env["CELERY_QUEUE"]
    window = ctx.size(8, 30)
    started = []
    try:
        worker = processes.celery("worker", env, ctx.log_dir, SEED_WORKER).start()
        started.append(worker)
        idle = _memory(worker.pid)
        # The instant first, with nothing else in the queue.
        ids, at = _instant(ctx, k, lead=ctx.size(4, 6))
        with app.producer_or_acquire() as producer:
            for pk in ids:
                app.send_task(TASK_NAME, args=[pk], eta=at, queue=queue, producer=producer)
        opened = _wait_opened(ids, timeout=k * 0.05 + 120)
        late = _lateness(ids, at)
        # Then N events days ahead: each an ETA message that the worker takes and holds.
        future = bulk_elections(n, prefix="seed-future")
        base = now_utc() + timedelta(days=3)
        t = time.perf_counter()
        with app.producer_or_acquire() as producer:
            for i, pk in enumerate(future):
                app.send_task(TASK_NAME, args=[pk], eta=base + timedelta(seconds=i % 86400), queue=queue,
                              producer=producer)
        publish_s = time.perf_counter() - t
        take = _take_rate(env, n, window)
        held = _memory(worker.pid)
        worker.kill()  # a crash: every message it held goes back to the queue
        worker.stop()
        started.remove(worker)
        worker = processes.celery("worker", env, ctx.log_dir, SEED_WORKER).start()
        started.append(worker)
        retake = _take_rate(env, n, window)
        after_crash = _peer_counts(ids)
    finally:
        for process in reversed(started):
            process.stop()
        _queue(env, "purge")
    growth = held["pss_mib"] - idle["pss_mib"]
    return {
        "events": n, "publish_s": round(publish_s, 2), "take": take, "retake_after_crash": retake,
        "worker_memory_idle": idle, "worker_memory_holding": held, "worker_growth_mib": round(growth, 1),
        "worker_kib_per_message_held": round(growth * 1024 / take["taken_in_window"], 2)
        if take["taken_in_window"] else None,
        "instant": {"elections": k, "all_opened": opened, **late},
        "deliveries_after_restart": after_crash[0], "effects_after_restart": after_crash[1],
        "duplicate_deliveries": after_crash[0] - k,
    }


# --- the benchmark -------------------------------------------------------------------------------

def peer(ctx: Context) -> dict:
    import importlib.util

    if importlib.util.find_spec("django_celery_beat") is None:
        raise RuntimeError('needs django-celery-beat: pip install -e ".[bench]" (make bench does)')
    sizes = ([int(x) for x in ctx.env["BENCH_PEER_SIZES"].split(",")] if ctx.env.get("BENCH_PEER_SIZES")
             else ctx.size([1_000], [1_000, 10_000, 100_000]))
    k = int(ctx.env.get("BENCH_PEER_INSTANT") or ctx.size(100, 1_000))
    env = _peer_env(ctx)
    _migrate_peer(env)
    rows = []
    try:
        for n in sizes:
            row = {"events": n}
            for name, run, args in (("product", run_product, (ctx, n, k)),
                                    ("peer", run_peer, (ctx, env, n, k)),
                                    ("seed", run_seed, (ctx, env, n, k))):
                if name == "seed" and n > SEED_MAX:
                    continue  # its figures are per message; publishing 100,000 alone takes minutes here
                print(f"    {n:,} events: {name} ...", flush=True)
                row[name] = run(*args)
            rows.append(row)
    finally:
        _queue(env, "delete")
        _reset_all()
    return _summarise(rows, k)


def _ratio(a, b):
    return round(a / b, 1) if a and b else None


def _summarise(rows: list[dict], k: int) -> dict:
    last = rows[-1]
    product, peer_ = last["product"], last["peer"]
    seed = next(r["seed"] for r in reversed(rows) if "seed" in r)
    seconds = {name: r["instant"]["max_ms"] / 1000 for name, r in
               (("product", product), ("peer", peer_), ("seed", seed))}
    ratios = {
        "peer_over_product_last_opened": _ratio(peer_["instant"]["max_ms"], product["instant"]["max_ms"]),
        "peer_over_product_p50": _ratio(peer_["instant"]["p50_ms"], product["instant"]["p50_ms"]),
        "seed_over_product_last_opened": _ratio(seed["instant"]["max_ms"], product["instant"]["max_ms"]),
        "peer_reload_over_product_tick": _ratio(peer_["reload_tick_ms"], product["planner_tick"]["p50_ms"]),
    }
    met = all(r["product"]["duplicate_deliveries"] == 0 and r["product"]["effects_after_restart"] == k
              for r in rows)
    return {
        "sizes": rows, "ratios": ratios, "instant_elections": k,
        "target": "report ratios; the product: one effect per event across a beat crash", "met": met,
        "summary": (f"{last['events']:,} events, {k} due at once: last opened product "
                    f"{seconds['product']:.2f} s, peer {seconds['peer']:.2f} s "
                    f"(x{ratios['peer_over_product_last_opened']}), seed {seconds['seed']:.2f} s; "
                    f"beat crash: peer {peer_['duplicate_deliveries']} duplicates, product "
                    f"{product['duplicate_deliveries']}"),
    }

