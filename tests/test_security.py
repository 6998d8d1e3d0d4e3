"""Security checks: CSRF, rate limits, the secret key, escaping, and the append-only activity log."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.admin.sites import site
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.test import Client
from rest_framework.test import APIClient

from activity_log.models import Action, ActivityEntry, AppendOnlyError
from elections.services import create_election

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "pw-Secret-123"


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


# --- CSRF ------------------------------------------------------------------------------

def test_session_writes_to_the_api_need_the_csrf_token(alice):
    client = APIClient(enforce_csrf_checks=True)
    client.get("/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    assert client.login(username="alice", password=PASSWORD)
    response = client.post("/api/elections/", {"title": "No token"}, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]

    response = client.post("/api/elections/", {"title": "With token"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201, response.content


def test_token_authenticated_writes_need_no_csrf_token(alice):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=alice)
    client = APIClient(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Token {token}")
    assert client.post("/api/elections/", {"title": "Token"}, format="json").status_code == 201


def test_the_login_form_needs_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 403


# --- rate limits ---------------------------------------------------------------------

def test_token_endpoint_is_rate_limited(alice):
    client = APIClient()
    codes = [client.post("/api/auth/token/", {"username": "alice", "password": "wrong"}).status_code
             for _ in range(12)]
    assert codes[0] == 400 and codes[-1] == 429, codes
    # Once limited, even the right password waits.
    assert client.post("/api/auth/token/", {"username": "alice", "password": PASSWORD}).status_code == 429


def test_login_page_is_rate_limited(alice):
    client = Client()
    codes = [client.post("/login/", {"username": "alice", "password": "wrong"}).status_code
             for _ in range(12)]
    assert codes[0] == 200 and codes[-1] == 429, codes
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 429


@pytest.mark.parametrize("url, client_class", [("/api/auth/token/", APIClient), ("/login/", Client)])
def test_a_forged_x_forwarded_for_does_not_escape_the_rate_limit(alice, url, client_class):
    client = client_class()
    codes = [client.post(url, {"username": "alice", "password": "wrong"},
                         HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}").status_code
             for attempt in range(12)]
    assert codes[-1] == 429, codes


# --- secrets -------------------------------------------------------------------------

def _setup_django(tmp_path, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    environment.update({"DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings", **env})
    script = ("import django; django.setup(); from django.conf import settings; "
              "print(settings.DEBUG, settings.SECRET_KEY)")
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=60)


def test_debug_is_off_by_default_and_the_secret_key_is_random_kept_and_private(tmp_path):
    first = _setup_django(tmp_path)
    assert first.returncode == 0, first.stderr
    debug, key = first.stdout.split()
    key_file = tmp_path / "secret_key"
    assert debug == "False" and len(key) >= 40 and key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert _setup_django(tmp_path).stdout.split()[1] == key  # the same key at the next start
    assert _setup_django(tmp_path / "other").stdout.split()[1] != key  # another install, another key
    given = _setup_django(tmp_path, SECRET_KEY="a-long-random-value-from-the-environment-0123")
    assert given.stdout.split()[1] == "a-long-random-value-from-the-environment-0123"
    assert _setup_django(tmp_path, DEBUG="1").stdout.split()[0] == "True"
    key_file.chmod(0o644)
    refused = _setup_django(tmp_path)
    assert refused.returncode != 0 and "chmod 600" in refused.stderr


# --- escaping ------------------------------------------------------------------------

MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_markup_in_titles_and_descriptions_is_escaped_on_every_page(alice, client):
    root = create_election(title=MARKUP, description=MARKUP, created_by=alice)
    child = create_election(title=MARKUP, description=MARKUP, parent=root, created_by=alice)
    client.force_login(alice)
    for path in ("/", f"/elections/{root.pk}/", f"/elections/{child.pk}/", f"/elections/{root.pk}/events/",
                 f"/elections/{root.pk}/activity/", "/elections/new/"):
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.content.decode()
        assert "<script>alert" not in body and "<img src=x" not in body, path


# --- append-only activity log ------------------------------------------------------------

@pytest.fixture
def entry(alice) -> ActivityEntry:
    election = create_election(title="Logged", created_by=alice)
    return ActivityEntry.objects.filter(election_id=election.pk).get()


def test_orm_cannot_update_or_delete_an_entry(entry):
    entry.action = Action.STATUS_CHANGED
    attempts = {
        "save": entry.save,
        "delete": entry.delete,
        "queryset update": lambda: ActivityEntry.objects.filter(pk=entry.pk).update(action="x"),
        "queryset delete": lambda: ActivityEntry.objects.filter(pk=entry.pk).delete(),
        "delete all": lambda: ActivityEntry.objects.all().delete(),
        "bulk_update": lambda: ActivityEntry.objects.bulk_update([entry], ["action"]),
        "update_or_create": lambda: ActivityEntry.objects.update_or_create(pk=entry.pk,
                                                                           defaults={"action": "x"}),
    }
    for name, attempt in attempts.items():
        with pytest.raises(AppendOnlyError), transaction.atomic():
            attempt()
            pytest.fail(f"{name} was allowed")
    assert ActivityEntry.objects.get(pk=entry.pk).action == Action.ELECTION_CREATED


def test_deleting_the_election_or_the_user_keeps_the_entry(entry, alice):
    from elections.models import Election

    Election.objects.filter(pk=entry.election_id).delete()
    alice.delete()
    kept = ActivityEntry.objects.get(pk=entry.pk)
    assert (kept.election_title, kept.actor_name) == ("Logged", "alice")


def test_admin_offers_no_add_change_or_delete(entry, make_user, client):
    admin = site._registry[ActivityEntry]
    superuser = make_user("root", superuser=True)
    client.force_login(superuser)
    request = type("Request", (), {"user": superuser})()
    assert not admin.has_add_permission(request)
    assert not admin.has_change_permission(request, entry)
    assert not admin.has_delete_permission(request, entry)
    change = f"/admin/activity_log/activityentry/{entry.pk}/change/"
    assert client.post(change, {"action": Action.STATUS_CHANGED}).status_code == 403
    delete = f"/admin/activity_log/activityentry/{entry.pk}/delete/"
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get("/admin/activity_log/activityentry/add/").status_code == 403
    changelist = client.post("/admin/activity_log/activityentry/",
                             {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})
    assert changelist.status_code in (200, 302, 403)
    assert ActivityEntry.objects.get(pk=entry.pk).action == Action.ELECTION_CREATED


def test_api_offers_no_write_to_the_log(entry, alice):
    client = APIClient()
    client.force_authenticate(alice)
    path = f"/api/elections/{entry.election_id}/activity/"
    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)(path, {}, format="json").status_code == 405, method
    assert ActivityEntry.objects.filter(pk=entry.pk).exists()


def test_postgres_trigger_refuses_raw_sql_update_and_delete(entry):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL only (DATABASE_URL=postgres://...)")
    for sql in ("UPDATE activity_log_activityentry SET action = 'status_changed' WHERE id = %s",
                "DELETE FROM activity_log_activityentry WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            connection.cursor().execute(sql, [entry.pk])
    assert ActivityEntry.objects.get(pk=entry.pk).action == Action.ELECTION_CREATED
