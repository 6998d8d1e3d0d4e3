"""Benchmark 10: creating a tree of 100,000 children from an uploaded configuration (issue 16).

Two measures of ``scheduling.election_config.import_election_config``, the function the
upload API and page call, with a configuration of one election with a start of voting
and ``n`` children:

- on PostgreSQL (the bench's database), the time to create it, and the CPU it took in
  this process and in PostgreSQL;
- on SQLite (a fresh file under the run's folder, in a child process), the longest any
  other writer waited for the write lock while the same configuration was created. The
  other writer is a separate process that, every 20 ms, upserts the planner's heartbeat
  row in its own ``BEGIN IMMEDIATE`` transaction (as the planner does every tick), and
  records how long each took from ``BEGIN`` to ``COMMIT``.
"""

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from . import processes
from .harness import Context, now_utc, reset


def configuration(n: int) -> dict:
    at = (now_utc() + timedelta(days=2)).isoformat()
    return {"title": "Big tree", "scheduled_events": {"start_voting": {"event_at": at}},
            "children": [{"title": f"Polling station {i}"} for i in range(n)]}


def _create(n: int) -> dict:
    """Create the tree in this process (the bench's database); wall and CPU seconds."""
    from django.contrib.auth import get_user_model

    from elections.models import Election
    from scheduling.election_config import import_election_config

    user, _ = get_user_model().objects.get_or_create(username="bench-tree", defaults={"is_superuser": True})
    config = configuration(n)
    cpu = (time.process_time(), processes.cpu_seconds(comm="postgres"))
    started = time.perf_counter()
    top = import_election_config(config, actor=user)
    wall = time.perf_counter() - started
    created = Election.objects.filter(parent=top).count()
    return {"children": n, "created": created, "seconds": round(wall, 2),
            "cpu_seconds_this_process": round(time.process_time() - cpu[0], 2),
            "cpu_seconds_postgres": round(processes.cpu_seconds(comm="postgres") - cpu[1], 2)}


def big_trees(ctx: Context) -> dict:
    n = ctx.size(10_000, 100_000)
    reset()
    postgresql = _create(n)
    sqlite = _on_sqlite(ctx, n)
    waited = sqlite.get("longest_wait_s")
    met = (postgresql["created"] == n and postgresql["seconds"] < 10 and sqlite.get("created") == n
           and waited is not None and waited < 1.0 and not sqlite.get("writer_errors"))
    return {
        "children": n, "postgresql": postgresql, "sqlite": sqlite,
        "target": "PostgreSQL < 10 s; SQLite: no other writer waits > 1 s", "met": met,
        "summary": (f"{n:,} children: PostgreSQL {postgresql['seconds']:.1f} s; SQLite "
                    f"{sqlite.get('seconds', float('nan')):.1f} s, other writer waited at most "
                    f"{waited if waited is not None else float('nan'):.2f} s "
                    f"({sqlite.get('writer_errors', '?')} errors)"),
    }


def _on_sqlite(ctx: Context, n: int) -> dict:
    folder = Path(ctx.log_dir) / "big-trees-sqlite"
    folder.mkdir(parents=True, exist_ok=True)
    env = {**ctx.env, "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}", "DATA_DIR": str(folder)}
    done = subprocess.run([sys.executable, "-m", "bench.big_trees", "sqlite", str(n), str(folder)],
                          env=env, capture_output=True, text=True, timeout=1800,
                          cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        raise RuntimeError(f"the SQLite run failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- in the child process, on SQLite --------------------------------------------------------

def _sqlite_run(n: int, folder: Path) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    stop, out = folder / "stop", folder / "writer.json"
    stop.unlink(missing_ok=True)
    writer = subprocess.Popen([sys.executable, "-m", "bench.big_trees", "writer",
                               str(folder / "db.sqlite3"), str(stop), str(out)])
    try:
        time.sleep(1.0)
        started = time.perf_counter()
        import_started = time.time()
        result = _create_here(n)
        import_ended = time.time()
        seconds = time.perf_counter() - started
        time.sleep(1.0)
    finally:
        stop.touch()
        writer.wait(timeout=30)
    writes = json.loads(out.read_text())
    during = [w for w in writes["writes"] if w[0] + w[1] >= import_started and w[0] <= import_ended]
    return {"created": result, "seconds": round(seconds, 2), "writes_during": len(during),
            "copy_under_lock_s": round(sum(c[0] for c in _COPIES), 3),
            "copy_under_lock_cpu_s": round(sum(c[1] for c in _COPIES), 3),
            "longest_wait_s": round(max((w[1] for w in during), default=0.0), 3),
            "writer_errors": writes["errors"]}


def _create_here(n: int) -> int:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from elections.models import Election
    from scheduling.election_config import import_election_config

    user = get_user_model().objects.create(username="bench-tree", is_superuser=True)
    copies: list[tuple[float, float]] = []

    def time_copies(execute, sql, params, many, context):
        """Wall and CPU seconds of the ``INSERT … SELECT`` statements run under the write lock."""
        if not sql.startswith("INSERT INTO main."):
            return execute(sql, params, many, context)
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return execute(sql, params, many, context)
        finally:
            copies.append((time.perf_counter() - wall, time.process_time() - cpu))

    with connection.execute_wrapper(time_copies):
        top = import_election_config(configuration(n), actor=user)
    _COPIES[:] = copies
    return Election.objects.filter(parent=top).count()


#: The child's measure of its own copies under the lock (wall, CPU), for the report.
_COPIES: list[tuple[float, float]] = []


def _writer(db: str, stop: Path, out: Path) -> None:
    """Another writer: the planner's heartbeat upsert every 20 ms; records (start, seconds)."""
    import sqlite3

    conn = sqlite3.connect(db, timeout=20, isolation_level=None)
    writes, errors = [], 0
    while not stop.exists():
        started, t0 = time.time(), time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR REPLACE INTO scheduling_plannerheartbeat (id, last_tick_at, published) "
                         "VALUES (1, ?, 0)", [now_utc().strftime("%Y-%m-%d %H:%M:%S.%f")])
            conn.execute("COMMIT")
            writes.append((started, time.perf_counter() - t0))
        except sqlite3.OperationalError:
            errors += 1
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        time.sleep(0.02)
    out.write_text(json.dumps({"writes": writes, "errors": errors}))


if __name__ == "__main__":
    if sys.argv[1] == "sqlite":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        print(json.dumps(_sqlite_run(int(sys.argv[2]), Path(sys.argv[3]))))
    elif sys.argv[1] == "writer":
        _writer(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
