"""The benchmark's own world: database, broker queue, data folder and scheduling knobs.

Everything is set in ``os.environ`` before Django starts, so this process and the
worker, beat and gunicorn processes it starts share the same settings.
"""

import os
import platform
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"

#: Scheduling knobs for every process of the run: a short horizon and a fast planner,
#: so the benchmark does not wait minutes (the production defaults are 120 s and 5 s).
KNOBS = {
    "SCHEDULING_HORIZON_SECONDS": "5",
    "SCHEDULING_PLANNER_INTERVAL_SECONDS": "0.5",
    "SCHEDULING_REDISPATCH_AFTER_SECONDS": "15",
}


def database_url(db_name: str) -> str:
    """The benchmark database on the server of ``BENCH_DATABASE_URL`` or ``DATABASE_URL``."""
    base = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_SERVER
    if not base.startswith(("postgres://", "postgresql://")):
        base = DEFAULT_SERVER
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db_name}", parts.query, ""))


def prepare(db_name: str) -> dict[str, str]:
    """Set this run's environment and return it (for the processes the run starts)."""
    run_id = uuid.uuid4().hex[:8]
    data_dir = Path(f"/tmp/bench-{run_id}")
    data_dir.mkdir(parents=True, exist_ok=True)
    broker = os.environ.get("BENCH_BROKER_URL") or os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER
    if broker.startswith("filesystem://"):
        broker = DEFAULT_BROKER
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(db_name),
        "CELERY_BROKER_URL": broker,
        "CELERY_QUEUE": f"bench-{run_id}",
        "EMAIL_QUEUE": f"bench-{run_id}-email",
        # No fault in the benchmark: a slow flood is not published again while it drains.
        "EMAIL_REDELIVER_AFTER_SECONDS": "3600",
        "DATA_DIR": str(data_dir),
        "DEBUG": "0",
        "SECRET_KEY": f"bench-only-{uuid.uuid4().hex}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **KNOBS,
    })
    return dict(os.environ)


def recreate_database(db_name: str) -> None:
    """Drop and create the benchmark database (connecting to the server's ``postgres`` db)."""
    import psycopg2

    if not db_name.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name {db_name!r}")
    admin = urlunsplit(urlsplit(database_url(db_name))._replace(path="/postgres"))
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{db_name}"')
    conn.close()


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent.parent, timeout=5).stdout.strip()
    except Exception:
        commit = ""
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem_kib / 1024 / 1024, 1),
            "python": platform.python_version(), "platform": platform.platform(), "git_commit": commit}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
