"""Benchmark 9: automations at scale (issue 16, item 4). Three measures, one result:

* **tick**: the planner's tick with 1,000 to 1,000,000 pending runs, a tenth of them the
  next runs of cron automations (100,000 at the largest size), and what a worker start
  pays to find rules without a run (``plan_missing_runs``);
* **move**: rescheduling an election's end of voting that 50 reminders hang on, in
  process, through ``configure`` (the commit included), with its query count;
* **cron minute**: 10,000 cron automations (``* * * * *``, each suspending voting in its
  own election) due at one minute, run by a real worker and beat; when the last one is
  done, and whether each ran exactly once, logged, with its next run planned.

Setup rows are written in SQL or through the product's bulk paths (that is not what is
measured); runs are always planned by the product (``plan_missing_runs``).
"""

import json
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from . import processes
from .harness import (
    Context,
    analyze,
    bulk_elections,
    celery_processes,
    idle_ticks,
    now_utc,
    plan_nodes,
    reset,
    stats_ms,
)

CRON_WHEN = {"cron_rule": "* * * * *", "timezone": "UTC", "catch_up": "PT1H"}


def automations_at_scale(ctx: Context) -> dict:
    # While the cron minute is awaited (up to a minute), the move runs in process, and in
    # --quick the tick too (its rows are future runs the minute's burst does not touch).
    waiting = {"move": move_end_of_voting}
    if ctx.quick:
        waiting["tick"] = lambda c: planner_tick_with_runs(c, fresh=False)
    burst = cron_minute(ctx, while_waiting=waiting)
    done = burst.pop("while_waiting")
    move = done.get("move") or move_end_of_voting(ctx)
    tick = done.get("tick") or planner_tick_with_runs(ctx)  # fresh: the minute's next runs are near
    met = bool(tick["met"] and move["met"] and burst["met"])
    return {
        "tick": tick, "move": move, "cron_minute": burst,
        "target": "tick < 50 ms flat to 1M runs; move < 50 ms; cron minute all run within 5 s",
        "met": met,
        "summary": f"tick {tick['summary']}; move {move['summary']}; {burst['summary']}",
    }


# --- setup helpers ------------------------------------------------------------------------------

def bulk_automations(*, election_ids: list[int] | None = None, n_global: int = 0,
                     when_sql: str, operations: dict, prefix: str) -> list[int]:
    """Insert automations in one statement (one per election, or ``n_global`` global ones);
    ``when_sql`` is a SQL expression of the row number ``g`` giving the canonical ``when``."""
    with connection.cursor() as cur:
        if election_ids is not None:
            source, params = "unnest(%s::bigint[]) WITH ORDINALITY AS s(election_id, g)", [election_ids]
        else:
            source = "(SELECT NULL::bigint AS election_id, g FROM generate_series(1, %s) g) s"
            params = [n_global]
        cur.execute(
            f"""INSERT INTO automations_automation
                  (uid, election_id, name, active, "when", operations, recipients, revision,
                   created_at, updated_at)
                SELECT gen_random_uuid(), s.election_id, %s || '-' || s.g, true, {when_sql},
                       %s::jsonb, '{{}}'::jsonb, 1, now(), now()
                FROM {source} RETURNING id""",
            [prefix, json.dumps(operations), *params])
        return sorted(row[0] for row in cur.fetchall())


def bulk_future_runs(n: int, automation_id: int, days_ahead: float = 3.0) -> int:
    """``n`` pending one-off runs days ahead (``at`` rules already planned), in plain SQL."""
    with connection.cursor() as cur:
        cur.execute(
            """INSERT INTO scheduling_scheduledevent
                 (election_id, kind, event_at, task_id, state, created_at, next_dispatch_at,
                  dispatch_count, reason, automation_id, enabled, payload, result)
               SELECT NULL, 'automation', t.at, gen_random_uuid()::text, 'pending', now(),
                      t.at - make_interval(secs => %s), 0, '', %s, true,
                      jsonb_build_object('automation', jsonb_build_object('id', %s, 'name', 'bench-at'),
                                         'operations', jsonb_build_object('maintenance', '{}'::jsonb),
                                         'recipients', '{}'::jsonb, 'catch_up_seconds', NULL,
                                         'occurrence', jsonb_build_object('type', 'at')), '{}'::jsonb
               FROM generate_series(1, %s) g
               CROSS JOIN LATERAL (SELECT now() + make_interval(secs => %s * 86400 + g %% 86400) AS at) t""",
            [settings.SCHEDULING_HORIZON_SECONDS, automation_id, automation_id, n, days_ahead])
        return cur.rowcount


def count_pending() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM scheduling_scheduledevent WHERE state = 'pending'")
        return cur.fetchone()[0]


def _check_canonical(when_json: dict, scope: str) -> None:
    """The ``when`` written in SQL must be what the product would store for it."""
    from automations.when import parse_when

    parsed = parse_when(when_json, scope=scope, default_zone="UTC", now=now_utc()).to_json()
    assert parsed == when_json, f"not canonical: {when_json} vs {parsed}"


# --- tick: the planner with up to 1,000,000 pending runs ------------------------------------------

def planner_tick_with_runs(ctx: Context, *, fresh: bool = True) -> dict:
    """Idle planner ticks (nothing due) as pending runs grow, 10 % of them cron rules' next runs
    (--quick: 100, 500 and 1,000, beside the cron minute's rules); ``fresh`` empties the tables first."""
    from automations.services import plan_missing_runs
    from scheduling import planning

    sizes = ctx.size([1_000, 10_000, 100_000], [1_000, 100_000, 1_000_000])
    ticks = ctx.size(30, 50)
    _check_canonical({"cron_rule": "7 3 * * *", "timezone": "UTC", "catch_up": "PT1H"}, "global")
    if fresh:
        reset()
    [one_off_owner] = bulk_automations(n_global=1, when_sql="""'{"at": "2099-01-01T00:00:00Z"}'::jsonb""",
                                       operations={"maintenance": {}}, prefix="bench-at")
    rows, cron_total = [], 0
    for size in sizes:
        t0 = time.perf_counter()
        cron = ctx.size(min(size // 10, 1000), size // 10) - cron_total
        # Global cron rules spread over the day (minute and hour from the row number), each
        # given its next run by the product, as a worker start does.
        bulk_automations(
            n_global=cron, operations={"maintenance": {}}, prefix="bench-cron",
            when_sql="""jsonb_build_object(
                'cron_rule', ((g * 7) %% 60) || ' ' || ((g / 60) %% 24) || ' * * *',
                'timezone', 'UTC', 'catch_up', 'PT1H')""")
        planned_at = time.perf_counter()
        planned = plan_missing_runs()
        plan_s = time.perf_counter() - planned_at
        cron_total += cron
        # (A worker starting meanwhile may plan some of them itself: the same task ids, one run each.)
        bulk_future_runs(size - count_pending(), one_off_owner)
        analyze()
        setup_s = time.perf_counter() - t0
        durations = idle_ticks(planning, ticks)
        with CaptureQueriesContext(connection) as queries:
            planning.plan()
        repair_started = time.perf_counter()
        assert plan_missing_runs() == 0
        repair_s = time.perf_counter() - repair_started
        rows.append({
            "pending": count_pending(), "cron_automations": cron_total, "tick": stats_ms(durations),
            "queries_per_tick": len(queries), "due_query": _explain_due(planning),
            "plan_missing_runs_new_s": round(plan_s, 2), "planned_here": planned,
            "worker_start_repair_scan_s": round(repair_s, 3),
            "setup_s": round(setup_s, 1)})
    largest = rows[-1]["tick"]
    return {
        "sizes": rows, "target": "< 50 ms and flat from 1,000 to 1,000,000 pending runs (--quick: 100,000)",
        "met": largest["p50_ms"] < 50,
        "summary": " / ".join(f"{r['pending']:,}: {r['tick']['p50_ms']:.1f} ms" for r in rows),
    }


def _explain_due(planning) -> dict:
    """EXPLAIN ANALYZE of the tick's own query (``planning.due_events``), as Django sends it."""
    with transaction.atomic():
        sql, params = planning.due_events(now_utc()).query.get_compiler(using="default").as_sql()
        with connection.cursor() as cur:
            cur.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
            plan = cur.fetchone()[0]
    plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
    return {"ms": round(plan["Execution Time"], 3), "plan": plan_nodes(plan["Plan"])}


# --- move: the end of voting with 50 reminders hanging on it --------------------------------------

def move_end_of_voting(ctx: Context, reminders: int = 50) -> dict:
    """Reschedule an election's end of voting with ``reminders`` relative runs on it, in process."""
    from automations.services import create_automation
    from elections.services import create_election
    from notifications.services import install_default_templates
    from scheduling import configuring
    from scheduling.models import Kind, ScheduledEvent, State

    moves = ctx.size(20, 50)
    install_default_templates()
    election = create_election(title="bench-move", created_by=None)
    start, end = now_utc() + timedelta(days=10), now_utc() + timedelta(days=20)
    configuring.configure(election, {"start_voting": start, "end_voting": end}, actor=None, replace=True)
    for i in range(reminders):
        create_automation({"name": f"reminder {i + 1}",
                           "when": {"before": "end_voting", "offset": f"PT{i + 1}H"},
                           "operations": {"send_email": {"template": "voting-closes-soon"}},
                           "recipients": {"grants": ["view"]}}, election=election, actor=None)
    durations, cpu = [], []
    for _ in range(moves):
        end += timedelta(minutes=1)
        started, cpu_started = time.perf_counter(), time.process_time()
        configuring.configure(election, {"end_voting": end}, actor=None, replace=False)
        durations.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    end += timedelta(minutes=1)
    with CaptureQueriesContext(connection) as queries:
        configuring.configure(election, {"end_voting": end}, actor=None, replace=False)
    runs = ScheduledEvent.objects.filter(election_id=election.pk, kind=Kind.AUTOMATION)
    pending = list(runs.filter(state=State.PENDING).values_list("event_at", flat=True))
    expected = sorted(end - timedelta(hours=i + 1) for i in range(reminders))
    correct = sorted(pending) == expected
    superseded = runs.filter(state=State.SUPERSEDED).count()
    took = stats_ms(durations)
    return {
        "reminders": reminders, "moves": moves + 1, "commit": took, "queries_per_move": len(queries),
        "cpu_of_this_process": stats_ms(cpu),
        "statements": _statement_kinds(queries), "pending_runs_correct": correct,
        "superseded_runs": superseded, "target": "< 50 ms per move, commit included",
        "met": bool(correct and superseded == reminders * (moves + 1) and took["p50_ms"] < 50),
        "summary": (f"p50 {took['p50_ms']:.0f} / p99 {took['p99_ms']:.0f} ms "
                    f"(CPU p50 {stats_ms(cpu)['p50_ms']:.0f} ms), {len(queries)} queries"),
    }


def _statement_kinds(queries) -> dict:
    kinds: dict[str, int] = {}
    for query in queries.captured_queries:
        word = query["sql"].split(None, 1)[0].upper()
        kinds[word] = kinds.get(word, 0) + 1
    return kinds


# --- cron minute: 10,000 cron automations due at one minute ----------------------------------------

def cron_minute(ctx: Context, while_waiting: dict | None = None) -> dict:
    """``n`` election automations ``* * * * *`` (suspend voting), all due at the same minute.

    ``while_waiting`` (name -> function of ctx) run in process while the minute is awaited,
    each only if the minute is far enough ahead; the results of those that ran come back
    under ``while_waiting`` (the caller runs the others after)."""
    from automations.services import plan_missing_runs

    n = ctx.size(1_000, 10_000)
    horizon = settings.SCHEDULING_HORIZON_SECONDS
    _check_canonical(CRON_WHEN, "election")
    reset()
    ids = bulk_elections(n, prefix="cron")
    with connection.cursor() as cur:
        cur.execute("UPDATE elections_election SET status = 'started' WHERE id = ANY(%s)", [ids])
    automation_ids = bulk_automations(election_ids=ids, when_sql=f"'{json.dumps(CRON_WHEN)}'::jsonb",
                                      operations={"suspend_voting": {}}, prefix="bench-cron")
    # The minute: far enough ahead for planning its runs (~4 ms each on the shared VM) and
    # starting the processes before the planner should publish them (``horizon`` before it).
    margin = ctx.size(15, 75) + horizon
    minute = (now_utc() + timedelta(seconds=margin + 60)).replace(second=0, microsecond=0)
    planned_started = time.perf_counter()
    planned = plan_missing_runs(now=minute - timedelta(seconds=1))
    plan_s = time.perf_counter() - planned_started
    assert planned == n, f"{planned} runs planned for {n} automations"
    analyze()
    waiting, done_waiting = dict(while_waiting or {}), {}
    with celery_processes(ctx) as (worker, _beat):
        for name, run in list(waiting.items()):
            if (minute - now_utc()).total_seconds() > ctx.size(45, 30) + horizon:
                done_waiting[name] = run(ctx)
                del waiting[name]
        time.sleep(max(0.0, (minute - now_utc()).total_seconds() - 0.2))
        cpu_before = (processes.cpu_seconds(worker.pid), processes.cpu_seconds(comm="postgres"))
        last_seen, done = None, 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = _finished_at(minute)
            if done >= n:
                last_seen = now_utc()
                break
            time.sleep(0.02)
        cpu_after = (processes.cpu_seconds(worker.pid), processes.cpu_seconds(comm="postgres"))
    checks = _exactly_once(minute, automation_ids, ids)
    result = {"automations": n, "minute": minute.isoformat(), "plan_missing_runs_s": round(plan_s, 2),
              "finished": done, **checks,
              "operation": "suspend_voting (each run suspends its own started election)",
              "cpu_ms_per_run": {name: round((after - before) * 1000 / n, 2) for name, before, after in zip(
                  ("worker", "postgres"), cpu_before, cpu_after, strict=True)}}
    if last_seen is not None:
        result["last_done_s"] = round((last_seen - minute).total_seconds(), 3)
    last = result.get("last_done_s")
    result.update({
        "while_waiting": done_waiting, "target": "all run within 5 s of the minute, each once",
        "met": bool(last is not None and last < 5.0 and checks["exactly_once"]),
        "summary": (f"{n:,} cron runs at one minute: last done {last:.2f} s after"
                    if last is not None else f"only {done}/{n} cron runs finished"),
    })
    return result


def _finished_at(minute: datetime) -> int:
    with connection.cursor() as cur:
        cur.execute("""SELECT count(*) FROM scheduling_scheduledevent
                       WHERE kind = 'automation' AND event_at = %s AND state <> 'pending'""", [minute])
        return cur.fetchone()[0]


def _exactly_once(minute: datetime, automation_ids: list[int], election_ids: list[int]) -> dict:
    """Each rule ran once at the minute (done, one ``run_executed`` row), suspended its election
    once, and has exactly one pending next run, a minute later."""
    with connection.cursor() as cur:
        cur.execute("""SELECT max(dispatched_at) FROM scheduling_scheduledevent
                       WHERE kind = 'automation' AND event_at = %s""", [minute])
        published = cur.fetchone()[0]
        cur.execute("""SELECT state, count(*), min(executed_at), max(executed_at),
                              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM lateness))
                       FROM scheduling_scheduledevent WHERE kind = 'automation' AND event_at = %s
                       GROUP BY state""", [minute])
        states = {row[0]: row for row in cur.fetchall()}
        cur.execute("""SELECT count(*), count(DISTINCT metadata->>'task_id') FROM activity_log_activityentry
                       WHERE action = 'run_executed'""")
        executed_rows, executed_ids = cur.fetchone()
        cur.execute("""SELECT count(*) FROM activity_log_activityentry
                       WHERE action = 'status_changed' AND election_id = ANY(%s)""", [election_ids])
        status_rows = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM elections_election WHERE id = ANY(%s) AND status = 'suspended'",
                    [election_ids])
        suspended = cur.fetchone()[0]
        cur.execute("""SELECT count(*), count(DISTINCT automation_id) FROM scheduling_scheduledevent
                       WHERE kind = 'automation' AND automation_id = ANY(%s)
                         AND event_at = %s + interval '1 minute'""", [automation_ids, minute])
        next_rows, next_rules = cur.fetchone()
    n = len(automation_ids)
    done = states.get("done")
    result = {
        "states": {state: row[1] for state, row in states.items()},
        "run_executed_rows": executed_rows, "status_changed_rows": status_rows,
        "elections_suspended": suspended, "next_runs": next_rows,
        "exactly_once": bool(done and done[1] == n and executed_rows == executed_ids == n
                             and status_rows == n and suspended == n and next_rows == next_rules == n),
    }
    if published:  # negative: before the minute, as it should be
        result["last_published_s"] = round((published - minute).total_seconds(), 3)
    if done:
        result.update({"first_executed_s": round((done[2] - minute).total_seconds(), 3),
                       "execution_span_s": round((done[3] - done[2]).total_seconds(), 3),
                       "last_executed_s": round((done[3] - minute).total_seconds(), 3),
                       "recorded_lateness_p50_s": round(float(done[4]), 3)})
    return result


__all__ = ["automations_at_scale", "cron_minute", "move_end_of_voting", "planner_tick_with_runs"]
