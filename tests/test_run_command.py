"""``python -m config.run`` (``make run``): a supervisor that keeps web, the workers and beat up.

The real command runs as a subprocess on the test database and this run's queue,
with nothing else set (no DEBUG, no SECRET_KEY): a killed worker is restarted
while the site keeps answering, and the event due while it was down fires once;
Ctrl-C stops them all cleanly; errors show no debug page; assets are served.
"""

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from datetime import timedelta
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from activity_log.models import Action
from config.processes import ManagedProcess, wait_until
from elections.models import Status
from scheduling.models import ScheduledEvent, State
from tests.helpers import actions_of, iso, status_of

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, headers: dict | None = None) -> tuple[int, str]:
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def post_json(url: str, body: dict, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Token {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


class RunCommand(ManagedProcess):
    """``python -m config.run`` on a free port; ``url`` is where its web server answers."""

    def __init__(self, env: dict[str, str], log_dir: Path, **extra_env: str):
        self.port = free_port()
        env = {k: v for k, v in env.items() if k not in ("DEBUG", "SECRET_KEY", "SECURE_COOKIES")}
        env.update({"PORT": str(self.port), **extra_env})
        super().__init__("run", [sys.executable, "-m", "config.run"], env, log_dir, " ready.")
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> "RunCommand":
        super().start(timeout=timeout)
        wait_until(lambda: get(f"{self.url}/login/")[0] == 200, timeout=30, interval=0.3,
                   message="the web server to answer")
        return self

    def pids(self, name: str) -> list[int]:
        """Every pid the supervisor logged for ``name``, oldest first."""
        return [int(pid) for pid in re.findall(rf"INFO config\.run {name} started \(pid (\d+)\)", self.log())]

    def interrupt(self, timeout: float = 40) -> int:
        """Ctrl-C: SIGINT to the supervisor's process group, as a terminal does; its exit status."""
        self._signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)


@pytest.fixture
def run_command(celery_env, celery_run_dir):
    started: list[RunCommand] = []

    def start(**extra_env: str) -> RunCommand:
        command = RunCommand(celery_env, celery_run_dir, **extra_env)
        started.append(command)
        return command.start()

    yield start
    for command in started:
        command.stop(timeout=20)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_killed_worker_is_restarted_while_the_site_serves_and_the_event_due_meanwhile_fires_once(
        run_command, alice):
    token = Token.objects.create(user=alice).key
    # The restart waits 6 s: the event (due 4 s after it is scheduled) falls inside the downtime.
    run = run_command(RESTART_BACKOFF_SECONDS="6")
    [worker_pid] = run.pids("worker")
    event_at = timezone.now() + timedelta(seconds=4)
    code, election = post_json(f"{run.url}/api/elections/", {
        "title": "Kill the worker", "scheduled_events": {"start_voting": {"event_at": iso(event_at)}}}, token)
    assert code == 201, election
    run.wait_for_log("scheduling.tasks.fire_event[", timeout=10)  # published: the worker holds it

    os.kill(worker_pid, signal.SIGKILL)  # kill -9 the worker itself
    run.wait_for_log("worker (pid", timeout=10)
    died = r"WARNING config\.run worker \(pid \d+\) died \(killed by SIGKILL\).*restarting it in 6\.0 s"
    assert re.search(died, run.log())
    wait_until(lambda: timezone.now() > event_at + timedelta(seconds=1), timeout=10,
               message="the event's time")
    assert len(run.pids("worker")) == 1, "restarted too early for this test"
    assert status_of(election["id"]) == Status.NOT_STARTED  # no worker: nothing happened yet
    assert get(f"{run.url}/login/")[0] == 200  # web and beat kept running
    assert get(f"{run.url}/healthz")[0] in (200, 503)
    assert all(alive(pid) for name in ("web", "beat") for pid in run.pids(name))

    wait_until(lambda: len(run.pids("worker")) == 2, timeout=15, message="the worker to be restarted")
    wait_until(lambda: status_of(election["id"]) == Status.STARTED, timeout=40,
               message="the event to fire after the restart")
    executed = actions_of(election["id"], Action.EVENT_EXECUTED)
    done = ScheduledEvent.objects.get(election_id=election["id"], kind="start_voting")
    assert len(executed) == 1 and done.state == State.DONE
    assert done.lateness.total_seconds() >= 3  # it waited for the restart, and that is recorded
    time.sleep(2)  # several planner ticks: still once
    assert len(actions_of(election["id"], Action.EVENT_EXECUTED)) == 1
    assert len(actions_of(election["id"], Action.STATUS_CHANGED)) == 1


def test_ctrl_c_stops_every_child_cleanly(run_command):
    run = run_command()
    children = [pid for name in ("web", "worker", "beat") for pid in run.pids(name)]
    assert len(children) == 3

    assert run.interrupt() == 0
    log = run.log()
    assert "ERROR" not in log, log[-3000:]
    assert "SIGINT received: stopping web, worker, email, beat" in log
    assert "stopped web, worker, email, beat" in log
    assert not any(alive(pid) for pid in children)


def test_repeated_quick_crashes_make_it_give_up_and_a_crash_of_one_leaves_the_others(tmp_path):
    """The supervisor on its own, with stand-in children: one that always crashes, one that serves."""
    script = textwrap.dedent("""
        import logging, sys
        from config.run import RestartPolicy, Supervisor
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
        py = sys.executable
        supervisor = Supervisor({
            "steady": [py, "-c", "import time; print('steady up', flush=True); time.sleep(120)"],
            "crasher": [py, "-c", "import sys; sys.exit(3)"],
        }, RestartPolicy(first_delay=0.2, give_up_after=4))
        sys.exit(supervisor.run())
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    log = result.stdout + result.stderr
    assert result.returncode == 1, log
    restarts = re.findall(r"crasher \(pid \d+\) died \(exit status 3\).*restarting it in ([\d.]+) s", log)
    assert restarts == ["0.2", "0.4", "0.8"], log  # backing off
    assert "4 quick crashes in a row: giving up, stopping everything" in log
    assert log.count("steady started") == 1 and "steady (pid" not in log  # never restarted, never died
    assert "stopped steady" in log


def test_restart_policy_backs_off_and_gives_up():
    from config.run import RestartPolicy

    policy = RestartPolicy(first_delay=1, max_delay=30, give_up_after=5)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, None, None]
    assert RestartPolicy(first_delay=10, max_delay=30, give_up_after=9).delay(4) == 30


def test_with_nothing_set_errors_show_no_debug_page_assets_are_served_and_login_works(
        run_command, alice, celery_run_dir):
    run = run_command()
    assert f"log in at {run.url}/login/" in run.log()
    assert run.log().count("Booting worker with pid") >= 2  # gunicorn, not runserver

    code, body = get(f"{run.url}/no-such-page/")
    assert code == 404
    assert "DEBUG = True" not in body and "Traceback" not in body and "urlpatterns" not in body
    assert get(f"{run.url}/static/css/app.css")[0] == 200  # collected and served without DEBUG

    key_file = Path(celery_run_dir) / "secret_key"  # no SECRET_KEY set: one is made and kept
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    # Plain HTTP: the session cookie must not be marked Secure, or no browser would send it back.
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{run.url}/login/", timeout=10) as response:
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.read().decode()).group(1)
    form = urlencode({"username": "alice", "password": "pw-Secret-123", "csrfmiddlewaretoken": csrf}).encode()
    login = urllib.request.Request(f"{run.url}/login/", data=form, headers={"Referer": f"{run.url}/login/"})
    with opener.open(login, timeout=10) as response:
        assert response.status == 200 and "/login/" not in response.url  # redirected to the list
    session = next(c for c in jar if c.name == "sessionid")
    assert not session.secure


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_web_server_is_gunicorn_with_one_process_per_cpu_and_threads(monkeypatch):
    """Not Django's development server: gunicorn, sized to the machine unless told otherwise."""
    from config import run

    monkeypatch.delenv("WEB_WORKERS", raising=False)
    monkeypatch.delenv("WEB_THREADS", raising=False)
    monkeypatch.setattr(run.os, "cpu_count", lambda: 2)
    command = run.web_command("127.0.0.1:8123")
    assert command[1:3] == ["-m", "gunicorn"] and "runserver" not in command
    assert _option(command, "--bind") == "127.0.0.1:8123"
    assert _option(command, "--workers") == "2"
    assert _option(command, "--worker-class") == "gthread" and _option(command, "--threads") == "4"

    monkeypatch.setattr(run.os, "cpu_count", lambda: 64)  # a big host: capped
    assert _option(run.web_command("h:1"), "--workers") == "8"
    monkeypatch.setattr(run.os, "cpu_count", lambda: None)  # unknown: two
    assert _option(run.web_command("h:1"), "--workers") == "2"
    monkeypatch.setenv("WEB_WORKERS", "3")
    monkeypatch.setenv("WEB_THREADS", "1")
    command = run.web_command("h:1")
    assert _option(command, "--workers") == "3" and _option(command, "--threads") == "1"


def test_with_nothing_set_an_election_a_minute_ahead_is_left_to_the_planner_with_ticks_to_spare():
    """The horizon's default: events scheduled a minute ahead (the README's example) are
    published by a planner tick, together with the others of their instant, not one by one
    on commit; and the planner still has several ticks to publish them in time."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SCHEDULING_HORIZON_SECONDS", "SCHEDULING_PLANNER_INTERVAL_SECONDS")}
    code = ("import django, json; django.setup(); from django.conf import settings as s; "
            "print(json.dumps([s.SCHEDULING_HORIZON_SECONDS, s.SCHEDULING_PLANNER_INTERVAL_SECONDS]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    horizon, interval = json.loads(result.stdout.strip().splitlines()[-1])
    assert horizon < 60
    assert horizon >= 5 * interval
