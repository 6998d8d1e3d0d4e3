"""Real Celery worker and beat processes for tests, with the test database and the run's queue."""

import sys
from pathlib import Path

from config.processes import ManagedProcess, wait_until

__all__ = ["CeleryProcess", "wait_until"]


class CeleryProcess(ManagedProcess):
    """One ``celery worker`` or ``celery beat`` process with its log in a file."""

    def __init__(self, kind: str, env: dict[str, str], log_dir: Path, extra_args: list[str] | None = None):
        base = [sys.executable, "-m", "celery", "-A", "config", kind, "-l", "info"]
        super().__init__(kind, base, env, log_dir, "ready." if kind == "worker" else "beat: Starting")
        if kind == "worker":
            self.command += ["-n", f"{self.name}@%h", "--concurrency", "2",
                             "--without-mingle", "--without-gossip"]
        else:
            self.command += ["-s", str(Path(env["DATA_DIR"]) / f"{self.name}-schedule")]
        self.command += extra_args or []
        self.kind = kind

    def start(self, timeout: float = 40) -> "CeleryProcess":
        return super().start(timeout=timeout)
