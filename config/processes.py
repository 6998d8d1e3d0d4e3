"""Child processes that tests and benchmarks start: wait until ready, read the log, stop or kill.

Each runs in its own session, so a signal reaches its children too (prefork pool,
gunicorn workers). The log goes to a file, which is how readiness is seen.
"""

import contextlib
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ManagedProcess:
    """One child process; ``ready`` is a log line that says it is up."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_dir: Path, ready: str):
        self.name = f"{name}-{uuid.uuid4().hex[:8]}"
        self.command = command
        self.env = env
        self.ready = ready
        self.log_path = log_dir / f"{self.name}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60):
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_for_log(self.ready, timeout=timeout)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float) -> None:
        """Wait until ``text`` appears in the log; fail if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no '{text}' within {timeout}s:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the process and its children: no cleanup, no acks, like a crash."""
        self._signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the process group, then SIGKILL whatever of it is still there after ``timeout``."""
        if self.process is None:
            return
        if self.alive:
            self._signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        self._signal(signal.SIGKILL)  # leftovers of the group (pool children), if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def _signal(self, sig) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)


def wait_until(predicate, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value, and return it; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
