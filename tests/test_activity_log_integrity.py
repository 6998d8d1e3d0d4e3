"""The activity log cannot be rewritten at the database level on either backend (H14),
and its hash chain shows where it was rewritten when someone went around that (H17)."""

import importlib
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, close_old_connections, connection, transaction

from activity_log.models import Action, ActivityEntry, ChainHead
from activity_log.services import BULK_FROM, ElectionRef, Entry, record, record_bulk, verify_chain
from elections.services import create_election

pytestmark = pytest.mark.django_db
TABLE = "activity_log_activityentry"


@pytest.fixture
def row(alice):
    election = create_election(title="General", created_by=alice)
    return record(Action.EVENT_SCHEDULED, election, actor=alice, task_id="t-1")


def refused(write) -> None:
    """``write`` fails in the database, and the transaction around it is undone."""
    with pytest.raises(DatabaseError, match=r"append-only|refused"), transaction.atomic():
        write()


def raw(sql, params=()):
    return lambda: connection.cursor().execute(sql, params)


def test_every_orm_and_sql_path_that_would_rewrite_a_row_is_refused(row):
    forged = dict(created_at=row.created_at, election_id=row.election_id, election_title="forged",
                  action=row.action, metadata={"task_id": "forged"})
    paths = {
        "save with an existing pk": lambda: ActivityEntry(pk=row.pk, **forged).save(),
        "bulk_create update_conflicts": lambda: ActivityEntry.objects.bulk_create(
            [ActivityEntry(pk=row.pk, **forged)], update_conflicts=True, unique_fields=["id"],
            update_fields=["metadata", "election_title"]),
        "_base_manager update": lambda: ActivityEntry._base_manager.filter(pk=row.pk).update(metadata={}),
        "_base_manager delete": lambda: ActivityEntry._base_manager.filter(pk=row.pk).delete(),
        "raw UPDATE": raw(f"UPDATE {TABLE} SET election_title = 'forged' WHERE id = %s", [row.pk]),
        "raw DELETE": raw(f"DELETE FROM {TABLE} WHERE id = %s", [row.pk]),
        "raw DELETE of every row": raw(f"DELETE FROM {TABLE}"),
    }
    if connection.vendor == "postgresql":
        paths["TRUNCATE"] = raw(f"TRUNCATE {TABLE}")
        paths["TRUNCATE of the chain head"] = raw("TRUNCATE activity_log_chainhead")
    paths["DELETE of the chain head"] = raw("DELETE FROM activity_log_chainhead")
    for name, write in paths.items():
        try:
            refused(write)
        except pytest.fail.Exception:
            pytest.fail(f"{name} was not refused")
    kept = ActivityEntry.objects.get(pk=row.pk)
    assert (kept.election_title, kept.metadata) == ("General", {"task_id": "t-1"})
    assert ChainHead.objects.exists()
    assert verify_chain().ok


def test_the_purge_guard_is_needed_and_only_the_test_flush_sets_it(row):
    """Django's flush (what transactional tests run afterwards) empties the log through
    the guard tests/conftest.py adds; the same statements without it are refused.
    (The whole-database flush is exercised by every transactional test's teardown.)"""
    from django.core.management.color import no_style

    statements = connection.ops.sql_flush(no_style(), [TABLE, "activity_log_chainhead"])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
    assert ActivityEntry.objects.filter(pk=row.pk).exists()
    connection.ops.execute_sql_flush(statements)  # what `manage.py flush` runs, with the hook
    assert not ActivityEntry.objects.exists()
    with connection.cursor() as cursor:  # the guard does not outlive the flush
        if connection.vendor == "sqlite":
            cursor.execute("SELECT COUNT(*) FROM activity_log_purge_unlock")
            assert cursor.fetchone()[0] == 0
        else:
            cursor.execute("SELECT current_setting('activity_log.allow_purge', true)")
            assert cursor.fetchone()[0] in (None, "", "off")


def test_the_triggers_exist_after_migrating():
    """SQLite drops triggers when Django remakes a table: a later migration must add them again."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master "
                           "WHERE type = 'trigger' AND name LIKE 'activity_log_%'")
            expected = {"activity_log_no_update", "activity_log_no_delete", "activity_log_head_no_delete"}
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'activity_log_%'")
            expected = {"activity_log_append_only", "activity_log_no_truncate",
                        "activity_log_head_no_delete", "activity_log_head_no_truncate"}
        assert {name for (name,) in cursor.fetchall()} == expected


# --- the hash chain (H17) -------------------------------------------------------------------

def without_triggers(*statements):
    """Run SQL as a database owner could: with the append-only triggers switched off
    (and on again afterwards)."""
    triggers = importlib.import_module("activity_log.migrations.0006_append_only_everywhere")
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for sql in triggers.SQLITE_DROP[:-1]:
                cursor.execute(sql)
        else:
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        for sql, params in statements:
            cursor.execute(sql, params)
        if connection.vendor == "sqlite":
            for sql in triggers.SQLITE_CREATE[1:]:
                cursor.execute(sql)
        else:
            cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")


@pytest.fixture
def chain(alice):
    """A log of a tree big enough to take record_bulk's bulk path on PostgreSQL."""
    root = create_election(title="Root", created_by=alice)
    record_bulk([Entry(Action.STATUS_CHANGED, ElectionRef(root.pk, "Root"), None, alice,
                       {"from": "notstarted", "to": "started", "n": n, "lateness": 0.25})
                 for n in range(BULK_FROM + 5)])
    record(Action.EVENT_EXECUTED, root, on_behalf_of=alice, kind="start_voting", lateness_seconds=1.5)
    return list(ActivityEntry.objects.order_by("id").values_list("id", flat=True))


def check_command() -> str:
    out = StringIO()
    call_command("verify_activity_log", stdout=out)
    return out.getvalue()


def test_an_untouched_log_verifies(chain):
    result = verify_chain()
    assert result.ok and result.rows_checked == len(chain)
    assert f"ok: {len(chain)} rows checked" in check_command()
    assert verify_chain(last=10).as_check() == {"ok": True, "detail": {
        "ok": True, "rows_checked": 10, "broken_id": None, "reason": ""}}


def test_a_changed_row_is_the_first_broken_link(chain):
    changed = chain[len(chain) // 2]
    without_triggers((f"UPDATE {TABLE} SET election_title = 'forged' WHERE id = %s", [changed]))
    result = verify_chain()
    assert (result.ok, result.broken_id, result.rows_checked) == (False, changed, chain.index(changed))
    assert "changed" in result.reason
    with pytest.raises(CommandError, match=f"broken at row {changed} "):
        check_command()


def test_a_removed_row_breaks_the_link_of_the_next(chain):
    removed = chain[3]
    without_triggers((f"DELETE FROM {TABLE} WHERE id = %s", [removed]))
    result = verify_chain()
    assert (result.ok, result.broken_id) == (False, chain[4])
    assert "prev_hash" in result.reason


@pytest.mark.django_db(transaction=True)  # each append commits, as in production
def test_rows_removed_from_the_end_are_caught_by_the_head(chain):
    without_triggers((f"DELETE FROM {TABLE} WHERE id >= %s", [chain[-2]]))
    result = verify_chain()
    assert (result.ok, result.broken_id) == (False, None)
    assert "chain head" in result.reason
    assert verify_chain(last=5).as_check()["ok"] is False  # the health check's window sees it too
    with pytest.raises(CommandError, match="end of the chain"):
        check_command()


@pytest.mark.django_db(transaction=True)
def test_a_cut_end_stays_visible_after_new_rows_are_appended(chain, alice):
    """The next append chains to the row the head named, not to the new end."""
    without_triggers((f"DELETE FROM {TABLE} WHERE id >= %s", [chain[-2]]))
    record(Action.EVENT_SCHEDULED, ElectionRef(1, "Later"), actor=alice)
    result = verify_chain()
    assert (result.ok, result.broken_id) == (False, ActivityEntry.objects.order_by("id").last().pk)


def test_many_appends_in_one_transaction_chain_and_verify(alice):
    """A transaction that appends many times (an uploaded tree) still leaves a valid chain."""
    root = create_election(title="Root", created_by=alice)
    with transaction.atomic():
        for n in range(30):
            record(Action.EVENT_SCHEDULED, root, actor=alice, n=n)
    assert verify_chain() == verify_chain(last=5).__class__(True, 31)


def test_a_rewritten_chain_head_does_not_hide_a_changed_row(chain):
    without_triggers((f"UPDATE {TABLE} SET metadata = %s WHERE id = %s", ['{"forged": true}', chain[0]]))
    ChainHead.objects.all().update(last_hash="f" * 64)
    assert verify_chain().broken_id == chain[0]


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_chain(alice):
    """Writers in several threads (own connections) append at once; the chain has one order."""
    elections = [create_election(title=f"E{n}", created_by=alice) for n in range(4)]
    errors = []

    def write(election):
        try:
            for n in range(15):
                record(Action.EVENT_SCHEDULED, election, actor=alice, n=n)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=write, args=(e,)) for e in elections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    result = verify_chain()
    assert result.ok, result
    assert result.rows_checked == ActivityEntry.objects.count() == 4 + 4 * 15


@pytest.mark.django_db(transaction=True)
def test_the_migration_chains_and_places_existing_rows():
    """Rows written before the chain get their tree and their links, in id order."""
    from django.db.migrations.executor import MigrationExecutor

    before = [("activity_log", "0003_drop_redundant_indexes")]
    executor = MigrationExecutor(connection)
    latest = [key for key in executor.loader.graph.leaf_nodes() if key[0] == "activity_log"]
    executor.migrate(before)
    old = executor.loader.project_state([*before, ("elections", "0001_initial")]).apps
    Election, Entry_ = old.get_model("elections", "Election"), old.get_model("activity_log", "ActivityEntry")
    root = Election.objects.create(title="Root", status="notstarted")
    child = Election.objects.create(title="Child", status="notstarted", parent=root)
    rows = [Entry_.objects.create(election_id=e, election_title=t, action="election_created", metadata=m)
            for e, t, m in ((root.pk, "Root", {}), (child.pk, "Child", {"parent": root.pk}),
                            (child.pk + 100, "Gone", {"parent": child.pk}))]  # a deleted grandchild
    executor = MigrationExecutor(connection)
    executor.migrate(latest)
    paths = dict(ActivityEntry.objects.values_list("id", "tree_path"))
    assert [paths[r.pk] for r in rows] == [f"/{root.pk}/", f"/{root.pk}/{child.pk}/",
                                          f"/{root.pk}/{child.pk}/{child.pk + 100}/"]
    assert verify_chain() == verify_chain().__class__(True, 3)
    record(Action.EVENT_SCHEDULED, ElectionRef(root.pk, "Root"))
    assert verify_chain().ok and verify_chain().rows_checked == 4
