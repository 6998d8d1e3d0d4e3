"""``python -m config.run``: migrate, then run web, worker, email worker and beat and keep them running.

This is the README's first command (``make run``). On the embedded default it
needs no servers and no settings. ``PORT`` (default 8000) and ``HOST`` (default
127.0.0.1) set where the web server listens; it serves plain HTTP, so cookies
are not marked secure unless ``SECURE_COOKIES=1``.

A small supervisor: when one of the three dies, the others keep serving and it is
started again after a back-off (``RESTART_BACKOFF_SECONDS``, doubled on each crash
that comes soon after a start, up to 30 s). After ``RESTART_GIVE_UP_AFTER`` such
quick crashes in a row of one child it gives up: everything stops, exit status 1.
Ctrl-C (SIGINT) or SIGTERM stops all three; exit status 0.
"""

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Plain HTTP: a browser drops cookies marked Secure, and no one could log in.
os.environ.setdefault("SECURE_COOKIES", "0")

log = logging.getLogger("config.run")

#: How long a stopping child may take (a worker finishes its running task) before SIGKILL.
STOP_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class RestartPolicy:
    """When to start a dead child again, and when to give up."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    #: A child up at least this long when it died was healthy: its quick-crash count starts over.
    quick_crash_seconds: float = 30.0
    give_up_after: int = 5

    def delay(self, quick_crashes: int) -> float | None:
        """Seconds to wait before the next start after ``quick_crashes`` in a row; ``None``: give up."""
        if quick_crashes >= self.give_up_after:
            return None
        return min(self.first_delay * 2 ** max(quick_crashes - 1, 0), self.max_delay)

    @classmethod
    def from_environment(cls) -> "RestartPolicy":
        return cls(first_delay=float(os.environ.get("RESTART_BACKOFF_SECONDS", 1.0)),
                   give_up_after=int(os.environ.get("RESTART_GIVE_UP_AFTER", 5)))


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Linux: the child gets SIGTERM if the supervisor is killed, so nothing is left holding the port."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
    return f"exit status {returncode}"


class Child:
    """One supervised command, in a process group (session) of its own."""

    def __init__(self, name: str, command: list[str]):
        self.name = name
        self.command = command
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.quick_crashes = 0
        self.start_at: float | None = 0.0  # when to (re)start it; None while it runs

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, start_new_session=True, preexec_fn=_die_with_parent)
        self.started_at, self.start_at = time.monotonic(), None
        log.info("%s started (pid %d)", self.name, self.process.pid)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, sig: int) -> None:
        """Signal the child and whatever it started (a worker's pool processes)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)


class Supervisor:
    """Run every child; restart the one that dies; stop all on SIGINT/SIGTERM or on giving up."""

    def __init__(self, commands: dict[str, list[str]], policy: RestartPolicy):
        self.children = [Child(name, command) for name, command in commands.items()]
        self.policy = policy
        self.stopping = False
        self.exit_code = 0

    def request_stop(self, signum, _frame) -> None:
        if not self.stopping:
            log.info("%s received: stopping %s", signal.Signals(signum).name,
                     ", ".join(c.name for c in self.children))
        self.stopping = True

    def run(self, poll_seconds: float = 0.2) -> int:
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        while not self.stopping:
            for child in self.children:
                if self.stopping:
                    break
                if child.start_at is not None and time.monotonic() >= child.start_at:
                    child.start()
                elif child.start_at is None and not child.running:
                    self._died(child)
            time.sleep(poll_seconds)
        self._stop_all()
        return self.exit_code

    def _died(self, child: Child) -> None:
        uptime = time.monotonic() - child.started_at
        child.signal_group(signal.SIGKILL)  # leftovers of its group, e.g. orphaned pool processes
        child.quick_crashes = child.quick_crashes + 1 if uptime < self.policy.quick_crash_seconds else 1
        delay = self.policy.delay(child.quick_crashes)
        what = f"{child.name} (pid {child.process.pid}) died ({describe_exit(child.process.returncode)}) " \
               f"after {uptime:.1f} s"
        if delay is None:
            log.error("%s; %d quick crashes in a row: giving up, stopping everything", what,
                      child.quick_crashes)
            self.exit_code, self.stopping = 1, True
            return
        log.warning("%s; restarting it in %.1f s (the others keep running)", what, delay)
        child.start_at = time.monotonic() + delay

    def _stop_all(self) -> None:
        running = [c for c in self.children if c.running]
        for child in running:
            # The child only, not its group: a worker stops its own pool. Pool processes that
            # get SIGTERM themselves die mid-shutdown, logged as ERROR, and the worker hangs.
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in running:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s: killing it", child.name, STOP_TIMEOUT_SECONDS)
                child.signal_group(signal.SIGKILL)
                child.process.wait()
            child.signal_group(signal.SIGKILL)  # anything of its group still there
        log.info("stopped %s", ", ".join(c.name for c in running) or "nothing (none was running)")


def web_workers() -> int:
    """``WEB_WORKERS``, else one gunicorn process per CPU (at least 2, at most 8).

    API requests are CPU-bound and PostgreSQL shares the cores: more processes than
    cores gave the same throughput with a longer tail (docs/benchmarks.md, benchmark 5).
    """
    if os.environ.get("WEB_WORKERS"):
        return max(1, int(os.environ["WEB_WORKERS"]))
    return min(max(os.cpu_count() or 2, 2), 8)


def web_command(bind: str) -> list[str]:
    """The web server users run: gunicorn, ``web_workers()`` processes of ``WEB_THREADS`` threads (4).

    Threads let a process take the next request while one waits (on the database, or
    on the health check's refresh), and keep a client's connection open between its
    requests; a long request (a large upload) is not killed at gunicorn's 30 s worker
    timeout, which a ``gthread`` process's own loop, not the request, keeps alive. Not
    Django's ``runserver``: a development server, which logs every request on the terminal.
    """
    return [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", bind,
            "--workers", str(web_workers()), "--threads", os.environ.get("WEB_THREADS", "4"),
            "--worker-class", "gthread", "--keep-alive", "5", "--log-level", "info"]


def _prepare() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("bootstrap", generate_admin=True)


def main() -> int:
    _prepare()
    from django.conf import settings

    host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
    python = sys.executable
    commands = {
        "web": web_command(f"{host}:{port}"),
        "worker": [python, "-m", "celery", "-A", "config", "worker", "-l", "info", "-n", "scheduling@%h",
                   "--concurrency", os.environ.get("WORKER_CONCURRENCY", "2")],
        # Email on its own worker and queue: a slow mail server never holds up a status change.
        "email": [python, "-m", "celery", "-A", "config", "worker", "-l", "info", "-n", "email@%h",
                  "-Q", settings.EMAIL_QUEUE, "--concurrency", "1"],
        "beat": [python, "-m", "celery", "-A", "config", "beat", "-l", "info",
                 "-s", str(settings.CELERY_BEAT_SCHEDULE_FILENAME)],
    }
    supervisor = Supervisor(commands, RestartPolicy.from_environment())
    url = f"http://{host}:{port}/"
    print(f"Election scheduler on {url} (web, worker, email worker and beat); log in at {url}login/. "
          "Ctrl-C stops all.", flush=True)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
