"""Benchmark 5: the scheduled-events API under 64 clients that never pause, with 10 anonymous
``/healthz`` pollers, against the web server ``make run`` starts."""

import http.client
import json
import random
import threading
import time
import uuid
from datetime import timedelta

from config.processes import wait_until

from . import processes
from .harness import Context, bulk_elections, celery_processes, free_port, now_utc, reset, stats_ms


def api_load(ctx: Context) -> dict:
    """64 API clients with no pause between requests, and 10 anonymous ``/healthz`` pollers meanwhile.

    The web server is the one ``python -m config.run`` starts (``config.run.web_command``),
    with a worker and beat running, so the health check has something to report on.
    """
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from config.run import web_workers
    from elections import services as election_services
    from elections.models import Permission
    from scheduling import configuring

    clients, pollers, poll_every = 64, 10, 0.5
    per_client = int(ctx.env.get("BENCH_API_REQUESTS_PER_CLIENT") or ctx.size(20, 60))
    env = dict(ctx.env)
    if ctx.env.get("BENCH_GUNICORN_WORKERS"):
        env["WEB_WORKERS"] = ctx.env["BENCH_GUNICORN_WORKERS"]
    reset()
    get_user_model().objects.filter(username="bench").delete()
    user = get_user_model().objects.create_user(username="bench", password=uuid.uuid4().hex)
    token = Token.objects.create(user=user).key
    root = election_services.create_election(title="api-root", created_by=user)
    election_services.grant(user, root, Permission.EDIT)
    ids = bulk_elections(64, parent_id=root.pk, prefix="api")
    from elections.models import Election
    soon = now_utc() + timedelta(days=3)
    for election in Election.objects.filter(pk__in=ids):
        configuring.configure(election, {"start_voting": soon, "end_voting": soon + timedelta(days=1)},
                           actor=user, replace=True)
    port = free_port()
    with celery_processes(ctx):
        server = processes.web(env, ctx.log_dir, port).start()
        workers = int(env.get("WEB_WORKERS") or web_workers())
        try:
            _request(port, token, "GET", ids[0], None)  # warm up
            wait_until(lambda: server.log().count("Booting worker") >= workers, timeout=30,
                       message="gunicorn workers")
            # Warm every worker, not just the one the kernel keeps handing sequential requests:
            # a worker's first request (imports, URL conf, DB connection) takes ~0.3 s, and in a
            # short run that one-off, plus the requests queued behind it, decided the p99.
            warm_up = [threading.Thread(target=lambda: [_request(port, token, "GET", pk, None)
                                                        for pk in random.sample(ids, 4)])
                       for _ in range(clients)]
            for thread in warm_up:
                thread.start()
            for thread in warm_up:
                thread.join()
            results: list[tuple[str, float, int]] = []
            health: list[tuple[float, int]] = []
            lock = threading.Lock()
            barrier = threading.Barrier(clients + pollers + 1)
            done = threading.Event()

            def client(seed: int):
                rng = random.Random(seed)
                mine = []
                barrier.wait()
                for _ in range(per_client):
                    pk = rng.choice(ids)
                    if rng.random() < 0.2:
                        at = soon + timedelta(minutes=rng.randint(1, 10_000))
                        body = {"start_voting": {"event_at": at.isoformat()},
                                "end_voting": {"event_at": (at + timedelta(days=1)).isoformat()}}
                        mine.append(("PATCH", *_request(port, token, "PATCH", pk, body)))
                    else:
                        mine.append(("GET", *_request(port, token, "GET", pk, None)))
                with lock:
                    results.extend(mine)

            def poller():
                mine = []
                barrier.wait()
                while not done.is_set():
                    mine.append(_get(port, "/healthz"))
                    done.wait(poll_every)
                with lock:
                    health.extend(mine)

            threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
            polling = [threading.Thread(target=poller) for _ in range(pollers)]
            for t in [*threads, *polling]:
                t.start()
            barrier.wait()
            started = time.perf_counter()
            cpu_before = (processes.cpu_seconds(server.pid), processes.cpu_seconds(comm="postgres"),
                          time.process_time())
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
            cpu_after = (processes.cpu_seconds(server.pid), processes.cpu_seconds(comm="postgres"),
                         time.process_time())
            done.set()
            for t in polling:
                t.join()
        finally:
            server.stop()
    errors = [r for r in results if r[2] >= 400]
    everything = stats_ms([r[1] for r in results])
    health_ok = sum(1 for _, code in health if code == 200)
    throughput = len(results) / elapsed
    result = {
        "clients": clients, "requests": len(results), "errors": len(errors),
        "web": {"workers": workers, "threads": int(env.get("WEB_THREADS") or 4), "class": "gthread"},
        "mix": "80% GET, 20% PATCH (reschedule both events days ahead), no pause between requests",
        "req_per_s": round(throughput, 1), "all": everything,
        "get": stats_ms([r[1] for r in results if r[0] == "GET"]),
        "patch": stats_ms([r[1] for r in results if r[0] == "PATCH"]),
        # Little's law: with every client always waiting, the mean is clients / throughput.
        "littles_law_mean_ms": round(clients / throughput * 1000, 1),
        "healthz": {"pollers": pollers, "every_s": poll_every, "requests": len(health), "ok": health_ok,
                    **stats_ms([h[0] for h in health])},
        # CPU per request: the gunicorn workers, postgres (shared with whatever else runs), the clients.
        "cpu_ms_per_request": {name: round((after - before) * 1000 / max(len(results), 1), 2)
                               for name, before, after in zip(("gunicorn", "postgres", "clients"),
                                                              cpu_before, cpu_after, strict=True)},
        "target": "p99 < 100 ms, /healthz 200 throughout",
        "met": not errors and everything["p99_ms"] < 100 and health_ok == len(health),
    }
    result["summary"] = (f"{result['req_per_s']:.0f} req/s, p50 {everything['p50_ms']:.0f} / "
                         f"p99 {everything['p99_ms']:.0f} ms, {len(errors)} errors; "
                         f"healthz {health_ok}/{len(health)} ok, p99 {result['healthz']['p99_ms']:.0f} ms")
    return result


def _get(port: int, path: str) -> tuple[float, int]:
    """An anonymous GET: (seconds, status)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, response.status


def _request(port: int, token: str, method: str, pk: int, body) -> tuple[float, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    payload = None
    if body is not None:
        payload = json.dumps(body)
        headers["Content-Type"] = "application/json"
    started = time.perf_counter()
    conn.request(method, f"/api/elections/{pk}/scheduled-events/", body=payload, headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, response.status
