"""Creating a big uploaded tree (issue 16, item 3): built before the transaction that writes it,
written all at once or not at all, and on SQLite without holding the write lock meanwhile."""

import copy
import sqlite3
import threading

import pytest
from django.db import connection

from activity_log.models import Action, ActivityEntry
from activity_log.services import tree_paths
from config import sql
from elections.errors import InvalidInput
from elections.models import Election, ElectionGrant, Permission
from scheduling import election_config
from scheduling.election_config import import_election_config
from scheduling.models import ScheduledEvent
from tests.helpers import in_seconds, iso

CONFIG = {
    "title": "General", "time_zone": "Europe/Paris",
    "scheduled_events": {"start_voting": {"event_at": None}},
    "children": [
        {"title": "North",
         "children": [{"title": "North-1"}, {"title": "North-2", "time_zone": "Asia/Tokyo"}]},
        {"title": "South", "children": [{"title": "South-1", "children": [{"title": "South-1-a"}]}]},
        {"title": "East"},
    ],
}


def config() -> dict:
    at = iso(in_seconds(86400))
    body = copy.deepcopy(CONFIG)
    body["scheduled_events"] = {"start_voting": {"event_at": at}}
    body["children"][0] = {**body["children"][0], "scheduled_events": {"start_voting": {"event_at": at}}}
    return body


def counts() -> tuple[int, int, int, int]:
    return (Election.objects.count(), ActivityEntry.objects.count(), ScheduledEvent.objects.count(),
            ElectionGrant.objects.count())


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    from scheduling import dispatching

    monkeypatch.setattr(dispatching, "send", lambda *a, **k: None)


@pytest.mark.django_db
def test_the_tree_has_its_parents_zones_events_grant_and_one_log_row_per_election(alice):
    top = import_election_config(config(), actor=alice)

    by_title = {e.title: e for e in Election.objects.all()}
    assert len(by_title) == 8
    parent_of = {title: (e.parent.title if e.parent else None) for title, e in by_title.items()}
    assert parent_of == {"General": None, "North": "General", "North-1": "North", "North-2": "North",
                         "South": "General", "South-1": "South", "South-1-a": "South-1", "East": "General"}
    zones = {title: e.time_zone for title, e in by_title.items()}
    assert zones["North-1"] == zones["South-1-a"] == "Europe/Paris" and zones["North-2"] == "Asia/Tokyo"
    assert ElectionGrant.objects.get(election=top).user == alice
    assert ElectionGrant.objects.get(election=top).permission == Permission.EDIT
    assert sorted(ScheduledEvent.objects.values_list("election__title", flat=True)) == ["General", "North"]

    created = ActivityEntry.objects.filter(action=Action.ELECTION_CREATED)
    assert sorted(created.values_list("election_title", flat=True)) == sorted(by_title)
    # the paths written with the rows are the ones the log computes from the stored tree
    stored = tree_paths(by_title[t].pk for t in by_title)
    assert {e.election_id: e.tree_path for e in created} == stored
    assert {e.root_id for e in created} == {top.pk}
    assert {e.metadata["parent"] for e in created if e.election_id == by_title["South-1-a"].pk} == {
        by_title["South-1"].pk}
    assert ActivityEntry.objects.filter(action=Action.EVENT_SCHEDULED).count() == 2
    assert {e.actor_name for e in ActivityEntry.objects.all()} == {"alice"}


@pytest.mark.django_db
def test_a_tree_under_a_parent_gets_paths_below_it(alice):
    parent = import_election_config({"title": "Country", "children": [{"title": "Region"}]}, actor=alice)
    region = Election.objects.get(title="Region")
    top = import_election_config({"title": "District", "parent": region.pk,
                                  "children": [{"title": "Station"}]}, actor=alice)
    station = Election.objects.get(title="Station")
    assert station.parent == top and top.parent == region
    row = ActivityEntry.objects.get(action=Action.ELECTION_CREATED, election_id=station.pk)
    assert row.tree_path == f"/{parent.pk}/{region.pk}/{top.pk}/{station.pk}/" and row.root_id == parent.pk
    assert not ElectionGrant.objects.filter(election=top).exists()  # the grant above covers it


@pytest.mark.django_db(transaction=True)
def test_a_failure_while_writing_the_tree_leaves_nothing_and_no_staged_rows(alice, monkeypatch):
    before = counts()

    def fail_after_the_elections_are_written(events, now):
        assert Election.objects.filter(title="South-1-a").exists()  # written, in the transaction
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(election_config, "save_new_events", fail_after_the_elections_are_written)
    with pytest.raises(RuntimeError, match="disk is full"):
        import_election_config(config(), actor=alice)

    assert counts() == before
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM sqlite_temp_master WHERE type = 'table'")
            assert cursor.fetchall() == []
    monkeypatch.undo()
    import_election_config(config(), actor=alice)  # the same upload then goes through, whole
    assert Election.objects.count() == before[0] + 8


@pytest.mark.django_db(transaction=True)
def test_on_sqlite_another_writer_commits_while_the_tree_is_being_prepared(alice, monkeypatch):
    """The rows are staged with no lock on the database file: a writer that asks for the
    write lock then gets it at once (a zero busy timeout fails on any wait), and commits
    before the tree does."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL writers lock rows, not the database")
    outcome = {}

    def other_writer():
        other = sqlite3.connect(connection.settings_dict["NAME"], timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO elections_election (title, description, status, created_at, "
                          "updated_at) VALUES ('written meanwhile', '', 'notstarted', '2026-01-01', "
                          "'2026-01-01')")
            other.execute("COMMIT")
            outcome["ok"] = True
        except sqlite3.OperationalError as exc:
            outcome["error"] = str(exc)
        finally:
            other.close()

    stage = sql.StagedRows.stage

    def stage_then_let_another_writer_in(self):
        stage(self)
        if "ok" not in outcome and "error" not in outcome:
            thread = threading.Thread(target=other_writer)
            thread.start()
            thread.join(timeout=30)

    monkeypatch.setattr(sql.StagedRows, "stage", stage_then_let_another_writer_in)
    top = import_election_config(config(), actor=alice)

    assert outcome == {"ok": True}
    assert Election.objects.filter(title="written meanwhile").exists()
    assert Election.objects.filter(parent=top).count() == 3
    assert ActivityEntry.objects.filter(root_id=top.pk, action=Action.ELECTION_CREATED).count() == 8


@pytest.mark.django_db
def test_an_invalid_child_anywhere_creates_nothing(alice):
    before = counts()
    body = config()
    body["children"][1]["children"][0]["children"][0]["title"] = ""
    with pytest.raises(InvalidInput) as error:
        import_election_config(body, actor=alice)
    assert error.value.detail["children"]["1"]["children"]["0"]["children"]["0"]["title"]
    assert counts() == before


@pytest.mark.django_db
def test_more_elections_than_the_limit_are_refused_naming_it_and_nothing_is_created(alice, monkeypatch):
    monkeypatch.setattr(election_config, "MAX_ELECTIONS", 8)
    before = counts()
    body = config()
    body["children"].append({"title": "West"})
    with pytest.raises(InvalidInput) as error:
        import_election_config(body, actor=alice)
    assert "at most 8: a top election and 7 under it" in str(error.value.detail["children"])
    assert counts() == before
    import_election_config(config(), actor=alice)  # 8 is allowed
