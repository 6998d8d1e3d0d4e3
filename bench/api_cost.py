"""``python -m bench.api_cost [--requests N]``: CPU instructions per scheduled-events API request.

Benchmark 5 measures seconds, which on a shared VM vary by half from one run to the
next. This counts instructions instead, with valgrind's callgrind, which gives the
same count whatever else the machine is doing, so two versions of the code can be
compared on a noisy host. It runs the same process twice under callgrind, once with
no measured requests and once with N, and divides the difference by N. Each run
makes GET and PATCH requests in process through Django's test client, with the
same data as benchmark 5 (a token user with ``edit`` on a root, its child
elections with both events scheduled days ahead). Counted: the Django process
only, not PostgreSQL. Needs valgrind (Debian package) and PostgreSQL; uses the
database ``es_api_cost``, which it drops and recreates. Prints a table; writes
nothing else.
"""

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
from datetime import timedelta

DB_NAME = "es_api_cost"
CHILDREN = 16


def _setup_data() -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from elections import services as election_services
    from elections.models import Permission
    from scheduling import configuring

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user(username="bench")
    Token.objects.create(user=user)
    root = election_services.create_election(title="api-root", created_by=user)
    election_services.grant(user, root, Permission.EDIT)
    soon = timezone.now() + timedelta(days=3)
    for i in range(CHILDREN):
        child = election_services.create_election(title=f"api-{i}", created_by=user, parent=root)
        configuring.configure(child, {"start_voting": soon, "end_voting": soon + timedelta(days=1)},
                           actor=user, replace=True)


def _requests(kind: str, count: int) -> None:
    """Warm up, then make ``count`` requests of ``kind`` (this is what callgrind counts)."""
    from django.test import Client
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from elections.models import Election

    rng = random.Random(1)
    ids = list(Election.objects.filter(parent__isnull=False).values_list("pk", flat=True))
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.get().key}", HTTP_ACCEPT="application/json")

    def request() -> None:
        url = f"/api/elections/{rng.choice(ids)}/scheduled-events/"
        if kind == "get":
            response = client.get(url)
        else:
            at = timezone.now() + timedelta(days=3, minutes=rng.randint(1, 10_000))
            response = client.patch(url, content_type="application/json", data={
                "start_voting": {"event_at": at.isoformat()},
                "end_voting": {"event_at": (at + timedelta(days=1)).isoformat()},
            })
        if response.status_code != 200:
            raise SystemExit(f"{kind} answered {response.status_code}: {response.content[:200]!r}")

    for _ in range(20):
        request()
    for _ in range(count):
        request()


def _child(kind: str, count: int) -> None:
    from . import environment

    environment.prepare(DB_NAME)
    os.environ["ALLOWED_HOSTS"] = "testserver"
    import django

    django.setup()
    _requests(kind, count)


def _instructions(kind: str, count: int) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
               sys.executable, "-m", "bench.api_cost", "--child", kind, str(count)]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    match = re.search(r"Collected : (\d+)", run.stderr)
    if run.returncode != 0 or not match:
        raise SystemExit(f"callgrind run failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    return int(match.group(1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="measured requests per kind (100)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    from . import environment

    environment.prepare(DB_NAME)
    environment.recreate_database(DB_NAME)
    import django

    django.setup()
    _setup_data()
    print(f"{'request':8} {'instructions per request':>26}")
    for kind in ("get", "patch"):
        per_request = (_instructions(kind, args.requests) - _instructions(kind, 0)) / args.requests
        print(f"{kind.upper():8} {per_request / 1e6:>24.2f} M")
    return 0


if __name__ == "__main__":
    sys.exit(main())
