"""The pages through Django's test client (no browser): access, escaping, rate limit, sentences."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from activity_log.models import Action, ActivityEntry
from activity_log.presentation import describe, format_seconds, format_utc
from config.zones import format_in_zone
from elections.models import Permission
from elections.services import create_election, grant
from scheduling import configuring as scheduling

pytestmark = pytest.mark.django_db

XSS = '<script>window.__xss = 1</script><b>bold</b>'


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def tree(alice):
    root = create_election(title=XSS, created_by=alice)
    child = create_election(title=f"child {XSS}", parent=root, created_by=alice)
    scheduling.configure(root, {"start_voting": timezone.now() + timedelta(days=1)}, actor=alice,
                         replace=False)
    scheduling.configure(root, {"start_voting": timezone.now() + timedelta(days=2)}, actor=alice,
                         replace=False)
    return root, child


def page_urls(pk: int) -> list[str]:
    return ["/", f"/elections/{pk}/", f"/elections/{pk}/events/", f"/elections/{pk}/activity/"]


def test_every_page_escapes_titles(alice, tree):
    client = logged_in(alice)
    root, _ = tree
    for url in page_urls(root.pk):
        body = client.get(url).content.decode()
        assert "<script>window.__xss" not in body, url
        assert "<b>bold</b>" not in body, url
        assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in body, url


def test_pages_need_login_then_view_grant(alice, make_user, tree):
    root, child = tree
    for url in page_urls(root.pk)[1:]:
        assert Client().get(url).status_code == 302
    stranger = logged_in(make_user("stranger"))
    for url in page_urls(root.pk)[1:]:
        assert stranger.get(url).status_code == 404, url
    viewer_user = make_user("viewer", can_create=False)
    grant(viewer_user, root, Permission.VIEW)
    viewer = logged_in(viewer_user)
    for url in page_urls(child.pk):
        assert viewer.get(url).status_code == 200, url
    dashboard = viewer.get(f"/elections/{root.pk}/").content.decode()
    assert "Configure scheduled events" not in dashboard
    assert "data-status-action" not in dashboard
    owner = alice and logged_in(alice).get(f"/elections/{root.pk}/").content.decode()
    assert "Configure scheduled events" in owner and 'data-status-action="start"' in owner


def test_activity_log_filters_and_sentences(alice, tree):
    root, child = tree
    client = logged_in(alice)
    body = client.get(f"/elections/{root.pk}/activity/?action=event_revoked").content.decode()
    assert "revoked: rescheduled" in body
    assert "scheduled the start of voting" not in body
    body = client.get(f"/elections/{root.pk}/activity/?election={child.pk}").content.decode()
    assert "created the election" in body and "scheduled the start" not in body
    # unknown filters are ignored, not errors
    assert client.get(f"/elections/{root.pk}/activity/?action=nope&election=x").status_code == 200


def test_login_is_rate_limited_per_address_and_per_username(alice, make_user):
    make_user("bob")
    client = Client()
    for _ in range(10):
        response = client.post("/login/", {"username": "alice", "password": "wrong"})
        assert response.status_code == 200
    response = client.post("/login/", {"username": "alice", "password": "pw-Secret-123"})
    assert response.status_code == 429
    assert "Too many failed log-in attempts" in response.content.decode()
    assert int(response["Retry-After"]) > 0
    # Another address: alice's account is limited too (per username), bob's is not.
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert other.post("/login/", {"username": "alice", "password": "pw-Secret-123"}).status_code == 429
    assert other.post("/login/", {"username": "bob", "password": "pw-Secret-123"}).status_code == 302


def entry(what, actor="", on_behalf_of="", **metadata):
    return ActivityEntry(action=what, actor_name=actor, on_behalf_of_name=on_behalf_of,
                         election_id=1, election_title="E", metadata=metadata)


def test_sentences_a_person_reads():
    task = "3f2a1b2c-0000-4000-8000-000000000000"
    assert describe(entry(Action.EVENT_SCHEDULED, "alice", kind="start_voting",
                          event_at="2026-09-12T09:26:00Z", task_id=task)) == \
        "alice scheduled the start of voting for 12 Sep 2026 09:26 UTC"
    assert describe(entry(Action.EVENT_EXECUTED, on_behalf_of="alice", kind="start_voting",
                          lateness_seconds=0.2, task_id=task)) == "the start of voting ran 0.2 s late"
    assert describe(entry(Action.EVENT_REVOKED, "alice", kind="end_voting", task_id=task,
                          event_at="2026-09-13T09:26:05.120Z", reason="rescheduled")) == \
        "task 3f2a1b2c… revoked: rescheduled (the end of voting for 13 Sep 2026 09:26:05 UTC)"
    assert describe(entry(Action.STATUS_CHANGED, "bob", **{"from": "notstarted", "to": "started",
                                                           "action": "start"})) == \
        "bob started the election (not started → started)"
    assert format_seconds(125) == "2 min 5 s" and format_utc(None) == ""


def test_list_shows_the_next_event_and_pages_mark_a_pending_event_past_its_time_as_overdue(alice):
    from scheduling.models import ScheduledEvent

    soon = create_election(title="Soon", created_by=alice)
    start = (timezone.now() + timedelta(days=1)).replace(microsecond=500000)
    scheduling.configure(soon, {"start_voting": start, "end_voting": start + timedelta(days=1)},
                         actor=alice, replace=True)
    late = create_election(title="Late", created_by=alice)
    # its time has passed and it has not run (configure refuses the past, so the row is made here)
    ScheduledEvent.objects.create(election=late, kind="end_voting", scheduled_by=alice,
                                  event_at=timezone.now() - timedelta(minutes=5),
                                  next_dispatch_at=timezone.now())
    client = logged_in(alice)

    listing = client.get("/").content.decode()
    # newest first: Late, then Soon
    soon_row = listing[listing.index(">Soon<"):]
    assert (f'Voting opens <time datetime="{start:%Y-%m-%dT%H:%M:%S.%f}Z" title="{format_utc(start)}" '
            f'data-zone="UTC">{format_in_zone(start, "UTC")}</time>') in soon_row  # the election's zone
    assert "Overdue" not in soon_row
    assert "Overdue" in listing[listing.index(">Late<"):listing.index(">Soon<")]

    assert "Overdue: not run yet" in client.get(f"/elections/{late.pk}/").content.decode()
    assert "Overdue" not in client.get(f"/elections/{soon.pk}/").content.decode()
