"""``python -m bench [--quick] [--only N[,N]] [--db-name NAME]``: run the benchmarks, print a table.

Creates (drops and recreates) its own PostgreSQL database, uses its own RabbitMQ
queue and data folder under /tmp, starts its own worker, beat and gunicorn
processes and stops them whatever happens. Writes ``bench/results/<time>.json``
and ``bench/results/latest.json``. Exits 0 whether or not targets are met; 1 only
when a benchmark crashed.
"""

import argparse
import json
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from . import environment, processes

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI (a few minutes)")
    parser.add_argument("--only", default="", help="comma-separated benchmark numbers, e.g. 3 or 1,2")
    parser.add_argument("--db-name", default="es_bench", help="the database to drop and create (es_bench)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON results")
    args = parser.parse_args(argv)
    args.only = [int(x) for x in args.only.split(",") if x.strip()] if args.only else []
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    env = environment.prepare(args.db_name)
    processes.install_cleanup()
    started_at = datetime.now(UTC)
    wall = time.monotonic()
    report = {
        "started_at": started_at.isoformat(timespec="seconds"), "quick": args.quick,
        "machine": environment.machine(), "load_average_before": environment.load_average(),
        "database": args.db_name, "queue": env["CELERY_QUEUE"], "data_dir": env["DATA_DIR"],
        "knobs": environment.KNOBS, "results": {},
    }
    crashed = False
    try:
        environment.recreate_database(args.db_name)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("createcachetable", verbosity=0)
        from . import benchmarks

        ctx = benchmarks.Context(env=env, log_dir=Path(env["DATA_DIR"]), quick=args.quick)
        for number, (title, run) in benchmarks.BENCHMARKS.items():
            if args.only and number not in args.only:
                continue
            print(f"[{number}] {title} ...", flush=True)
            t0 = time.monotonic()
            try:
                result = run(ctx)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                crashed = True
                traceback.print_exc()
                result = {"error": f"{type(exc).__name__}: {exc}", "met": False, "summary": "CRASHED"}
            result["title"] = title
            result["seconds"] = round(time.monotonic() - t0, 1)
            report["results"][str(number)] = result
            print(f"    {result['summary']}  ({result['seconds']} s)", flush=True)
    except KeyboardInterrupt:
        print("interrupted; stopping the processes the benchmark started", file=sys.stderr)
        crashed = True
    except Exception:
        traceback.print_exc()
        crashed = True
    finally:
        processes.stop_all()
        _delete_queue(env)
    report["load_average_after"] = environment.load_average()
    report["total_seconds"] = round(time.monotonic() - wall, 1)
    _print_table(report)
    _write(report, args.out, started_at)
    return 1 if crashed else 0


def _delete_queue(env) -> None:
    """Remove this run's queue from RabbitMQ (hygiene; it is unique to the run)."""
    try:
        from config.celery import app

        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(env["CELERY_QUEUE"])
    except Exception:
        pass


def _print_table(report: dict) -> None:
    rows = [("#", "benchmark", "result", "target", "met")]
    for number, r in report["results"].items():
        rows.append((number, r.get("title", ""), r.get("summary", ""), r.get("target", ""),
                     "yes" if r.get("met") else "NO"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    print()
    for i, row in enumerate(rows):
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    m = report["machine"]
    print(f"\n{m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB; load average "
          f"{report['load_average_before']} -> {report['load_average_after']}; "
          f"{'quick' if report['quick'] else 'full'} run in {report['total_seconds']} s")


def _write(report: dict, out: Path, started_at: datetime) -> None:
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, default=str)
    path = out / f"{started_at:%Y%m%dT%H%M%SZ}.json"
    path.write_text(text)
    (out / "latest.json").write_text(text)
    print(f"results: {path}")


if __name__ == "__main__":
    sys.exit(main())
