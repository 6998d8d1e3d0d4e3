"""Worker, beat and gunicorn processes the benchmark starts, and stops whatever happens.

Every process runs in its own session, so stopping it takes its children too
(prefork pool, gunicorn workers). ``stop_all`` is called from ``finally``, from
``atexit`` and on SIGTERM/SIGINT, and only ever signals the process groups this
module started.
"""

import atexit
import os
import signal
import sys
import uuid
from pathlib import Path

from config.processes import ManagedProcess

_started: list["BenchProcess"] = []


class BenchProcess(ManagedProcess):
    """A managed process that ``stop_all`` stops, whatever happens to the benchmark."""

    def start(self, timeout: float = 60) -> "BenchProcess":
        _started.append(self)
        return super().start(timeout=timeout)

    def stop(self, timeout: float = 15) -> None:
        super().stop(timeout=timeout)
        if self in _started:
            _started.remove(self)


def celery(kind: str, env: dict[str, str], log_dir: Path, extra: list[str] | None = None) -> BenchProcess:
    """A ``celery worker`` or ``celery beat`` with the benchmark's environment."""
    base = [sys.executable, "-m", "celery", "-A", "config", kind, "-l", "info"]
    if kind == "worker":
        command = [*base, "-n", f"bench-{uuid.uuid4().hex[:6]}@%h", "--without-mingle", "--without-gossip"]
        ready = "ready."
    else:
        command = [*base, "-s", str(log_dir / f"beat-{uuid.uuid4().hex[:6]}-schedule")]
        ready = "beat: Starting"
    return BenchProcess(kind, [*command, *(extra or [])], env, log_dir, ready)


def web(env: dict[str, str], log_dir: Path, port: int) -> BenchProcess:
    """The web server as ``python -m config.run`` starts it (``config.run.web_command``), on ``port``.

    ``WEB_WORKERS`` / ``WEB_THREADS`` in ``env`` change it as they change the product's.
    """
    from config.run import web_command

    saved = {k: os.environ.get(k) for k in ("WEB_WORKERS", "WEB_THREADS")}
    try:  # web_command reads the environment it would run in
        for key in saved:
            if env.get(key):
                os.environ[key] = env[key]
        command = web_command(f"127.0.0.1:{port}")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return BenchProcess("gunicorn", command, env, log_dir, "Booting worker")


def stop_all() -> None:
    for process in list(reversed(_started)):
        process.stop(timeout=10)


def _proc_table() -> dict[int, tuple[int, str, float]]:
    """Every process: pid -> (parent pid, command name, CPU seconds user + system), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    table: dict[int, tuple[int, str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / tick)
    return table


def _tree(pid: int, table: dict[int, tuple[int, str, float]]) -> list[int]:
    """``pid`` and all its descendants."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo.extend(p for p, (ppid, _, _) in table.items() if ppid == current)
    return pids


def tree_memory(pid: int) -> dict[str, float]:
    """RSS and PSS (MiB) summed over ``pid`` and all its descendants, read from /proc."""
    pids = _tree(pid, _proc_table())
    rss = pss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return {"processes": len(pids), "rss_mib": rss / 1024, "pss_mib": pss / 1024}


def cpu_seconds(pid: int | None = None, comm: str | None = None) -> float:
    """CPU time (user + system) of ``pid`` and its descendants, or of every process named ``comm``."""
    table = _proc_table()
    if comm is not None:
        return sum(cpu for _, name, cpu in table.values() if name.startswith(comm))
    return sum(table[p][2] for p in _tree(pid, table) if p in table)


def _on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def install_cleanup() -> None:
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)  # even when started with SIGINT ignored (a `cmd &`)
