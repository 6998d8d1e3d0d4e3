"""Fixtures for the real-browser tests: the app served by a real process, and headless Chromium.

The server is ``manage.py runserver`` started with the environment of the
``celery_env`` fixture, so it uses the test database and this run's queue, like
the worker and beat the tests start with ``start_celery``. Playwright drives
Debian's chromium (Playwright's own browser download does not work here).
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests
# make between browser steps are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "pw-Secret-123"  # the make_user fixture's default


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"no chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a skip there would hide a broken install
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    playwright.stop()


class LiveServer:
    """A real ``runserver`` process on the test database; ``stop()`` and ``start()`` keep the port
    (so a page that is open loses its server and gets it back at the same address)."""

    def __init__(self, env: dict, log_dir: Path):
        self.env, self.port = env, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"web-{self.port}.log"
        self.process = None

    def start(self):
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/login/", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"runserver did not come up:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture
def live_server_process(celery_env, celery_run_dir):
    """The app's server process (``LiveServer``), for tests that stop and restart it."""
    from django.core.cache import cache

    cache.clear()  # the login rate limit must not carry over from another test
    live = LiveServer({**celery_env, "DEBUG": "1"}, celery_run_dir)
    live.start()
    yield live
    if live.process.poll() is None:
        live.stop()


@pytest.fixture
def server(live_server_process):
    """Base URL of the app served by a real ``runserver`` process on the test database."""
    return live_server_process.url


@pytest.fixture
def open_page(browser, server):
    """Factory: ``open_page(user, timezone_id=...)`` is a page in a fresh context, logged in as ``user``."""
    contexts = []

    def open_(user=None, *, timezone_id: str = "UTC", password: str = PASSWORD):
        context = browser.new_context(base_url=server, timezone_id=timezone_id, locale="en-US",
                                      viewport={"width": 1280, "height": 860})
        context.set_default_timeout(8000)
        contexts.append(context)
        page = context.new_page()
        if user is not None:
            log_in(page, user.username, password)
            page.wait_for_url(f"{server}/")
        return page

    yield open_
    for context in contexts:
        context.close()


def log_in(page, username: str, password: str):
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_response(lambda r: r.url.endswith("/login/") and r.request.method == "POST") as info:
        page.get_by_role("button", name="Log in").click()
    return info.value
