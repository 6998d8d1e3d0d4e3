"""Benchmark 8: the product as users start it (issue 16, item 1).

Starts the product with its own run command, ``python -m config.run`` (what ``make
run`` runs), with none of the benchmark's scheduling knobs: the product's defaults
for the horizon, the planner, the worker, logging and the web server. Only the
database (the benchmark's), the broker queues (this run's own), the data folder and
the port are set. A superuser gets a token from ``/api/auth/token/`` and creates the
elections one request at a time through ``POST /api/elections/``, each with its
``start_voting``, as a user's script would. A poller reads the elections' status
from the database every millisecond from the instant on.

Two ways users schedule:

- **ahead**: 50 elections per instant, created more than the horizon before it
  (the usual case: a start scheduled minutes or days ahead);
- **soon**: 50 elections for an instant a few seconds after they are created,
  within the horizon, so each request publishes its own message on commit.

Lateness is the status committed as seen by the poller minus ``event_at``, and the
engine's own recorded ``lateness``.
"""

import http.client
import json
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings

from config.processes import ROOT, wait_until

from . import environment, processes
from .harness import Context, free_port, now_utc, reset, started_among, stats_ms

PER_INSTANT = 50
#: Seconds between the end of the ``ahead`` creations and the first instant, beyond the horizon.
AHEAD_MARGIN_SECONDS = 8
#: Most seconds allowed per API request when choosing the instants (a loaded host is slow).
CREATE_ALLOWANCE_SECONDS = 0.4
#: Fewest seconds between the start of the ``soon`` creations and their instant.
SOON_SECONDS = 8
GOAL_MS = 50


class ProductRun(processes.BenchProcess):
    """``python -m config.run`` on a free port, with the product's own defaults."""

    def __init__(self, ctx: Context, port: int, username: str, password: str):
        data_dir = ctx.log_dir / f"run-{uuid.uuid4().hex[:6]}"
        data_dir.mkdir()
        # The benchmark's knobs (short horizon, fast planner, quiet logs, no DEBUG) are not
        # what users run: leave them out, so the product's defaults apply.
        dropped = {*environment.KNOBS, "DEBUG", "LOG_LEVEL", "SECRET_KEY", "SECURE_COOKIES"}
        env = {k: v for k, v in ctx.env.items() if k not in dropped}
        env.update({"PORT": str(port), "HOST": "127.0.0.1", "DATA_DIR": str(data_dir),
                    "DJANGO_SUPERUSER_USERNAME": username, "DJANGO_SUPERUSER_PASSWORD": password})
        super().__init__("run", [sys.executable, "-m", "config.run"], env, ctx.log_dir, " ready.")
        self.port = port

    def settings_seen(self) -> dict:
        """The product's scheduling defaults, as its processes read them (not this process's)."""
        code = ("import django, json; django.setup(); from django.conf import settings as s; "
                "print(json.dumps({k: getattr(s, k) for k in ('SCHEDULING_HORIZON_SECONDS', "
                "'SCHEDULING_PLANNER_INTERVAL_SECONDS', 'DEBUG')}))")
        out = subprocess.run([sys.executable, "-c", code], env=self.env, cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {}


def _call(port: int, method: str, path: str, body: dict | None, token: str | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    started = time.perf_counter()
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    is_json = response.getheader("Content-Type", "").startswith("application/json")
    return response.status, (json.loads(data) if data and is_json else data), elapsed


def _create(port: int, token: str, at: datetime, title: str) -> tuple[int, float]:
    status, body, elapsed = _call(port, "POST", "/api/elections/", {
        "title": title, "scheduled_events": {"start_voting": {"event_at": at.isoformat()}}}, token)
    if status != 201:
        raise RuntimeError(f"POST /api/elections/ answered {status}: {str(body)[:300]}")
    return body["id"], elapsed


def _watch(due: dict[int, datetime], timeout: float) -> dict[int, datetime]:
    """Poll every millisecond from each election's instant on; when was each first seen started."""
    seen: dict[int, datetime] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(due) and time.monotonic() < deadline:
        now = now_utc()
        waiting = [pk for pk, at in due.items() if pk not in seen and at <= now]
        if waiting:
            for pk in started_among(waiting):
                seen[pk] = now_utc()
        time.sleep(0.001)  # as benchmark 1's poller: a busy loop would take a core from the worker
    return seen


def _measure(due: dict[int, datetime], seen: dict[int, datetime]) -> dict:
    from scheduling.models import ScheduledEvent

    events = ScheduledEvent.objects.filter(election_id__in=list(due), kind="start_voting")
    recorded = [e.lateness.total_seconds() for e in events if e.lateness is not None]
    dispatches = sorted({(e.dispatched_at, e.dispatch_count) for e in events}, key=str)
    return {
        "elections": len(due), "opened": len(seen),
        "committed_lateness": stats_ms([(seen[pk] - due[pk]).total_seconds() for pk in seen]),
        "recorded_lateness": stats_ms(recorded),
        # How the events travelled: one publish time per message (the planner's batch shares one).
        "publishes": len({d for d, _ in dispatches}),
    }


def as_users_start(ctx: Context) -> dict:
    instants = ctx.size(1, 3)
    reset()
    from django.contrib.auth import get_user_model

    username, password = "bench-admin", uuid.uuid4().hex
    get_user_model().objects.filter(username=username).delete()
    run = ProductRun(ctx, free_port(), username, password).start(timeout=120)
    try:
        run.wait_for_log("beat: Starting", timeout=60)
        wait_until(lambda: _call(run.port, "GET", "/login/", None)[0] == 200, timeout=60, interval=0.3,
                   message="the web server to answer")
        product = run.settings_seen()
        horizon = float(product.get("SCHEDULING_HORIZON_SECONDS") or settings.SCHEDULING_HORIZON_SECONDS)
        status, body, _ = _call(run.port, "POST", "/api/auth/token/",
                                {"username": username, "password": password})
        if status != 200:
            raise RuntimeError(f"token endpoint answered {status}: {body}")
        token = body["token"]
        warm_up = [_call(run.port, "POST", "/api/elections/", {"title": f"warm-up-{i}"}, token)[2]
                   for i in range(4)]  # the web processes' first requests, and how long one takes
        # Time allowed per request when choosing the instants: twice the slowest warm-up
        # request, within bounds (a quiet host creates one in ~30 ms, a loaded one in 300).
        allowance = min(max(2 * max(warm_up[1:]), 0.05), CREATE_ALLOWANCE_SECONDS)
        soon_seconds = min(horizon - 5, max(SOON_SECONDS, 1.5 * PER_INSTANT * allowance))

        # ahead: every instant's elections are created before the horizon opens for it.
        first = now_utc() + timedelta(seconds=horizon + AHEAD_MARGIN_SECONDS
                                      + instants * PER_INSTANT * allowance)
        ahead: dict[int, datetime] = {}
        create_s: list[float] = []
        for i in range(instants):
            at = first + timedelta(seconds=3 * i)
            for j in range(PER_INSTANT):
                if (at - now_utc()).total_seconds() < horizon + 2:
                    break  # a slow web server: the rest would be inside the horizon, not "ahead"
                pk, elapsed = _create(run.port, token, at, f"ahead-{i}-{j}")
                ahead[pk] = at
                create_s.append(elapsed)
        ahead_made_by = now_utc()
        last = max(ahead.values(), default=now_utc())
        seen_ahead = _watch(ahead, timeout=(last - now_utc()).total_seconds() + 60)

        # soon: created a few seconds before their instant, inside the horizon.
        at = now_utc() + timedelta(seconds=soon_seconds)
        soon: dict[int, datetime] = {}
        for j in range(PER_INSTANT):
            if (at - now_utc()).total_seconds() < 1:
                break  # the web server is too slow to create them all in time: measure those made
            pk, elapsed = _create(run.port, token, at, f"soon-{j}")
            soon[pk] = at
            create_s.append(elapsed)
        seen_soon = _watch(soon, timeout=soon_seconds + 60)
        log_tail = run.log()[-2000:]
    finally:
        run.stop(timeout=30)

    result = {
        "product_settings": product, "per_instant": PER_INSTANT, "instants_ahead": instants,
        "ahead": {**_measure(ahead, seen_ahead),
                  "created_s_before_instant": round((first - ahead_made_by).total_seconds(), 1)},
        "soon": {**_measure(soon, seen_soon), "created_s_before_instant": round(soon_seconds, 1)},
        "api_create": stats_ms(create_s),
        "run_command": "python -m config.run", "log_tail": log_tail,
    }
    a, s = result["ahead"]["committed_lateness"], result["soon"]["committed_lateness"]
    complete = (result["ahead"]["opened"] == len(ahead) == instants * PER_INSTANT
                and result["soon"]["opened"] == len(soon) == PER_INSTANT)
    result.update({
        "target": f"p99 < {GOAL_MS} ms (seen committed), ahead and soon",
        "met": bool(complete and a["p99_ms"] < GOAL_MS and s["p99_ms"] < GOAL_MS),
        "summary": (f"ahead p50 {a['p50_ms']:.0f} / p99 {a['p99_ms']:.0f} ms; "
                    f"soon p50 {s['p50_ms']:.0f} / p99 {s['p99_ms']:.0f} ms "
                    f"({len(seen_ahead) + len(seen_soon)}/{len(ahead) + len(soon)})"),
    })
    return result
