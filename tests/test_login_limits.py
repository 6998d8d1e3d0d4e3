"""The login limiter on every door: the page, /admin/login/ and the token endpoint.

At most LOGIN_RATE_LIMIT (10/min) failed password checks per client address and per
username, counted atomically: 50 parallel attempts (each its own thread and database
connection) get exactly 10 checked and 40 refused, and then even the right password waits
until the window ends. Successful checks do not count; who the caller is does not matter.
"""

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

PASSWORD = "pw-Secret-123"
LIMIT = 10
PARALLEL = 50


class Door:
    def __init__(self, url, client_class, failed, succeeded):
        self.url, self.client_class, self.failed, self.succeeded = url, client_class, failed, succeeded

    def __repr__(self):
        return self.url

    def attempt(self, username, password, address="127.0.0.1", **extra):
        """One log-in attempt from a fresh client at ``address``."""
        client = self.client_class(REMOTE_ADDR=address)
        return client.post(self.url, {"username": username, "password": password}, **extra)


DOORS = [
    Door("/login/", Client, failed=200, succeeded=302),
    Door("/admin/login/", Client, failed=200, succeeded=302),
    Door("/api/auth/token/", APIClient, failed=400, succeeded=200),
]


@pytest.fixture(autouse=True)
def fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.LOGIN_RATE_LIMIT = f"{LIMIT}/min"


@pytest.fixture
def root(make_user):
    """A superuser, so the right password opens the admin's door too."""
    return make_user("root", superuser=True)


def assert_refused(door, response):
    """429 with Retry-After and a message a person (or client) can read."""
    assert response.status_code == 429, (response.status_code, response.content[:300])
    assert 0 < int(response["Retry-After"]) <= 60
    if door.client_class is APIClient:
        assert "Too many failed log-in attempts" in response.json()["detail"]
    else:
        assert "Too many failed log-in attempts" in response.content.decode()


def in_parallel(count, attempt):
    """Run ``attempt(i)`` for i in range(count) in as many threads, released together."""
    barrier = threading.Barrier(count)

    def run(i):
        try:
            barrier.wait(timeout=30)
            return attempt(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


# Who the 50 wrong attempts come from: (address of attempt i, username of attempt i).
SPREADS = {
    "one address, one username": (lambda i: "198.51.100.7", lambda i: "root"),
    "one username from 50 addresses": (lambda i: f"198.51.100.{i + 10}", lambda i: "root"),
    "one address, 50 usernames": (lambda i: "198.51.100.7", lambda i: f"guess{i}"),
}


@pytest.mark.parametrize("spread", SPREADS)
@pytest.mark.parametrize("door", DOORS, ids=repr)
def test_fifty_parallel_wrong_passwords_get_exactly_the_limit_checked(transactional_db, door, spread, root,
                                                                     monkeypatch):
    address_of, username_of = SPREADS[spread]
    responses = in_parallel(PARALLEL, lambda i: door.attempt(username_of(i), "wrong", address_of(i)))

    codes = Counter(r.status_code for r in responses)
    assert codes == {door.failed: LIMIT, 429: PARALLEL - LIMIT}, codes
    for response in responses:
        if response.status_code == 429:
            assert_refused(door, response)

    # Now even the right password waits: from the same address, or for the same username.
    assert_refused(door, door.attempt("root", PASSWORD, "198.51.100.7"))
    if spread == "one address, 50 usernames":  # only the address is limited
        assert door.attempt("root", PASSWORD, "192.0.2.1").status_code == door.succeeded
    else:  # the username is limited, from anywhere
        assert_refused(door, door.attempt("root", PASSWORD, "192.0.2.1"))

    # After the window, the right password gets in.
    later = time.time() + 61
    monkeypatch.setattr("accounts.ratelimit.clock", lambda: later)
    assert door.attempt("root", PASSWORD, "198.51.100.7").status_code == door.succeeded


@pytest.mark.django_db
@pytest.mark.parametrize("door", DOORS, ids=repr)
def test_successful_log_ins_use_up_nothing(door, root):
    for _ in range(LIMIT + 2):
        assert door.attempt("root", PASSWORD).status_code == door.succeeded
    codes = [door.attempt("root", "wrong").status_code for _ in range(LIMIT + 1)]
    assert codes == [door.failed] * LIMIT + [429], codes


@pytest.mark.django_db
def test_the_token_endpoint_limit_does_not_depend_on_who_asks(root, make_user):
    """Guessing root's password while sending other users' tokens: one limit, not one per caller."""
    callers = [Token.objects.create(user=make_user(name)).key for name in ("bob", "carol", "dave")]
    codes = [APIClient(HTTP_AUTHORIZATION=f"Token {callers[i % 3]}")
             .post("/api/auth/token/", {"username": "root", "password": "wrong"}).status_code
             for i in range(LIMIT + 2)]
    assert codes == [400] * LIMIT + [429, 429], codes


@pytest.mark.django_db
def test_the_admin_door_names_the_wait_on_its_own_page(root):
    door = DOORS[1]
    for _ in range(LIMIT):
        assert door.attempt("root", "wrong").status_code == 200
    response = door.attempt("root", PASSWORD)
    assert_refused(door, response)
    assert 'id="login-form"' in response.content.decode()  # the admin's own log-in page
