"""Real Celery worker and beat processes for tests: start, wait until ready, kill, restart.

Each process runs ``celery -A config ...`` in its own session (so a kill takes
its children too) with the test database and the test run's own queue.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class CeleryProcess:
    """One ``celery worker`` or ``celery beat`` process with its log in a file."""

    def __init__(self, kind: str, env: dict[str, str], log_dir: Path, extra_args: list[str] | None = None):
        self.kind = kind
        self.env = env
        self.name = f"{kind}-{uuid.uuid4().hex[:8]}"
        self.log_path = log_dir / f"{self.name}.log"
        self.extra_args = extra_args or []
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        base = [sys.executable, "-m", "celery", "-A", "config", self.kind, "-l", "info"]
        if self.kind == "worker":
            return [*base, "-n", f"{self.name}@%h", "--concurrency", "2",
                    "--without-mingle", "--without-gossip", *self.extra_args]
        schedule = Path(self.env["DATA_DIR"]) / f"{self.name}-schedule"
        return [*base, "-s", str(schedule), *self.extra_args]

    def start(self, timeout: float = 40) -> "CeleryProcess":
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command(), cwd=ROOT, env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        marker = "ready." if self.kind == "worker" else "beat: Starting"
        self.wait_for_log(marker, timeout=timeout)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.log()[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"{self.name}: no '{text}' within {timeout}s:\n{self.log()[-3000:]}")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the process and its children: no cleanup, no acks, like a crash."""
        self._signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it does not exit in time."""
        if not self.alive:
            return
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def _signal(self, sig) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)


def wait_until(predicate, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
