"""``python -m config.run``: migrate, then run web, worker and beat together; Ctrl-C stops all three.

This is the README's first command (``make run``). On the embedded default it
needs no servers. ``PORT`` (default 8000) and ``HOST`` (default 127.0.0.1) set
where the web server listens.
"""

import os
import signal
import subprocess
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


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
        "web": [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
        "worker": [python, "-m", "celery", "-A", "config", "worker", "-l", "info",
                   "--concurrency", os.environ.get("WORKER_CONCURRENCY", "2")],
        "beat": [python, "-m", "celery", "-A", "config", "beat", "-l", "info",
                 "-s", str(settings.CELERY_BEAT_SCHEDULE_FILENAME)],
    }
    processes = {name: subprocess.Popen(cmd, start_new_session=True) for name, cmd in commands.items()}
    print(f"Election scheduler on http://{host}:{port}/ (web, worker and beat); Ctrl-C stops all.",
          flush=True)

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"{name} exited with {process.returncode}; stopping the others.", file=sys.stderr)
                exit_code, stopping = process.returncode or 1, True
        time.sleep(0.3)
    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
