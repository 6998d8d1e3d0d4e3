"""Worker, beat and gunicorn processes the benchmark starts, and stops whatever happens.

Every process runs in its own session, so stopping it takes its children too
(prefork pool, gunicorn workers). ``stop_all`` is called from ``finally``, from
``atexit`` and on SIGTERM/SIGINT, and only ever signals the process groups this
module started.
"""

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_started: list["BenchProcess"] = []


class BenchProcess:
    """One child process with its log in a file; ``ready`` is a log line that says it is up."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_dir: Path, ready: str):
        self.name = f"{name}-{uuid.uuid4().hex[:6]}"
        self.command = command
        self.env = env
        self.ready = ready
        self.log_path = log_dir / f"{self.name}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "BenchProcess":
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        _started.append(self)
        deadline = time.monotonic() + timeout
        while self.ready not in self.log():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no '{self.ready}' within {timeout}s:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the process group, SIGKILL it if it is still there after ``timeout``."""
        if self.process is None:
            return
        if self.alive:
            self._signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        self._signal(signal.SIGKILL)  # leftovers of the group (pool children), if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        if self in _started:
            _started.remove(self)

    def _signal(self, sig) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)


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


def gunicorn(env: dict[str, str], log_dir: Path, port: int, workers: int,
             extra: list[str] | None = None) -> BenchProcess:
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}",
               "-w", str(workers), "--log-level", "info", *(extra or [])]
    return BenchProcess("gunicorn", command, env, log_dir, "Booting worker")


def stop_all() -> None:
    for process in list(reversed(_started)):
        process.stop(timeout=10)


def tree_memory(pid: int) -> dict[str, float]:
    """RSS and PSS (MiB) summed over ``pid`` and all its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo.extend(children.get(current, []))
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
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, str, float]] = {}
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
        stats[int(entry)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / tick)
    if comm is not None:
        return sum(cpu for _, name, cpu in stats.values() if name.startswith(comm))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, (0, "", 0.0))[2]
        todo.extend(p for p, (ppid, _, _) in stats.items() if ppid == current)
    return total


def _on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def install_cleanup() -> None:
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)  # even when started with SIGINT ignored (a `cmd &`)
