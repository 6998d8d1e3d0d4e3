"""The activity log cannot be rewritten at the database level on either backend (H14),
and its seal chain shows where it was rewritten when someone went around that (H17),
without writers ever waiting for each other."""

import importlib
import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from activity_log.chain import entry_hash, seal_hash
from activity_log.models import Action, ActivityEntry, ActivitySeal, AppendOnlyError, SealHead
from activity_log.sealing import seal, seal_pending, verify_chain
from activity_log.services import BULK_FROM, ElectionRef, Entry, record, record_bulk
from config.processes import wait_until
from elections.services import create_election

pytestmark = pytest.mark.django_db
TABLE = "activity_log_activityentry"
SEALS = "activity_log_activityseal"
HEAD = "activity_log_sealhead"
postgres_only = pytest.mark.skipif("connection.vendor != 'postgresql'",
                                   reason="SQLite serializes every writer (IMMEDIATE transactions)")


@pytest.fixture
def row(alice):
    election = create_election(title="General", created_by=alice)
    entry = record(Action.EVENT_SCHEDULED, election, actor=alice, task_id="t-1")
    seal_pending()
    return entry


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
    paths.update({
        "raw UPDATE of a seal": raw(f"UPDATE {SEALS} SET entry_hash = 'x' WHERE entry_id = %s", [row.pk]),
        "raw DELETE of a seal": raw(f"DELETE FROM {SEALS} WHERE entry_id = %s", [row.pk]),
        "raw DELETE of every seal": raw(f"DELETE FROM {SEALS}"),
        "DELETE of the seal head": raw(f"DELETE FROM {HEAD}"),
    })
    if connection.vendor == "postgresql":
        paths["TRUNCATE"] = raw(f"TRUNCATE {TABLE}")
        paths["TRUNCATE of the seals"] = raw(f"TRUNCATE {SEALS}")
        paths["TRUNCATE of the seal head"] = raw(f"TRUNCATE {HEAD}")
    for name, write in paths.items():
        try:
            refused(write)
        except pytest.fail.Exception:
            pytest.fail(f"{name} was not refused")
    kept = ActivityEntry.objects.get(pk=row.pk)
    assert (kept.election_title, kept.metadata) == ("General", {"task_id": "t-1"})
    assert SealHead.objects.exists() and ActivitySeal.objects.filter(entry_id=row.pk).exists()
    seal_row = ActivitySeal.objects.get(entry_id=row.pk)
    for name, write in {"seal save": seal_row.save, "seal delete": seal_row.delete,
                        "seal queryset update": lambda: ActivitySeal.objects.update(hash=""),
                        "seal queryset delete": lambda: ActivitySeal.objects.all().delete()}.items():
        with pytest.raises(AppendOnlyError):
            write()
            pytest.fail(f"{name} was not refused")
    assert verify_chain().ok


def test_the_purge_guard_is_needed_and_only_the_test_flush_sets_it(row):
    """Django's flush (what transactional tests run afterwards) empties the log through
    the guard tests/conftest.py adds; the same statements without it are refused.
    (The whole-database flush is exercised by every transactional test's teardown.)"""
    from django.core.management.color import no_style

    statements = connection.ops.sql_flush(no_style(), [TABLE, SEALS, HEAD])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
    assert ActivityEntry.objects.filter(pk=row.pk).exists()
    connection.ops.execute_sql_flush(statements)  # what `manage.py flush` runs, with the hook
    assert not ActivityEntry.objects.exists() and not ActivitySeal.objects.exists()
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
            expected = {"activity_log_no_update", "activity_log_no_delete", "activity_log_seal_no_update",
                        "activity_log_seal_no_delete", "activity_log_sealhead_no_delete"}
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'activity_log_%'")
            expected = {"activity_log_append_only", "activity_log_no_truncate",
                        "activity_log_seal_append_only", "activity_log_seal_no_truncate",
                        "activity_log_sealhead_no_delete", "activity_log_sealhead_no_truncate"}
        assert {name for (name,) in cursor.fetchall()} == expected


# --- the seal chain (H17) -------------------------------------------------------------------

def without_triggers(*statements):
    """Run SQL as a database owner could: with the append-only triggers of the entries and
    the seals switched off (and on again afterwards)."""
    migration = importlib.import_module("activity_log.migrations.0008_seal_chain")
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for sql in [*migration.SQLITE_ENTRY_TRIGGERS, *migration.SQLITE_CREATE]:
                cursor.execute(f"DROP TRIGGER {sql.split('CREATE TRIGGER', 1)[1].split()[0]}")
        else:
            for table in (TABLE, SEALS, HEAD):
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for sql, params in statements:
            cursor.execute(sql, params)
        if connection.vendor == "sqlite":
            for sql in [*migration.SQLITE_ENTRY_TRIGGERS, *migration.SQLITE_CREATE]:
                cursor.execute(sql)
        else:
            for table in (TABLE, SEALS, HEAD):
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


@pytest.fixture
def chain(alice):
    """A sealed log of a tree big enough to take record_bulk's bulk path on PostgreSQL;
    returns the entry ids in seal order."""
    root = create_election(title="Root", created_by=alice)
    record_bulk([Entry(Action.STATUS_CHANGED, ElectionRef(root.pk, "Root"), None, alice,
                       {"from": "notstarted", "to": "started", "n": n, "lateness": 0.25})
                 for n in range(BULK_FROM + 5)])
    record(Action.EVENT_EXECUTED, root, on_behalf_of=alice, kind="start_voting", lateness_seconds=1.5)
    assert seal_pending() == ActivityEntry.objects.count()
    return list(ActivitySeal.objects.order_by("seq").values_list("entry_id", flat=True))


def check_command() -> str:
    out = StringIO()
    call_command("verify_activity_log", stdout=out)
    return out.getvalue()


def seq_of(entry_id: int) -> int:
    return ActivitySeal.objects.get(entry_id=entry_id).seq


def test_writers_only_insert_and_the_sealer_seals_each_entry_once(alice):
    root = create_election(title="Root", created_by=alice)
    record(Action.EVENT_SCHEDULED, root, actor=alice)
    assert not ActivitySeal.objects.exists()  # appending did no chain work
    assert seal_pending() == 2
    assert seal_pending() == 0  # nothing twice
    assert list(ActivitySeal.objects.values_list("seq", flat=True)) == [1, 2]


def test_an_untouched_log_verifies_and_prints_the_chain_end(chain):
    result = verify_chain()
    head = SealHead.objects.get()
    assert (result.ok, result.seals_checked, result.last_seq, result.last_hash) == (
        True, len(chain), len(chain), head.last_hash)
    output = check_command()
    assert f"ok: {len(chain)} seals checked" in output
    assert f"seal {len(chain)} hash {head.last_hash}" in output
    assert verify_chain(last=10).as_check()["detail"] | {"last_hash": "…"} == {
        "ok": True, "seals_checked": 10, "seq": None, "entry_id": None, "reason": "", "unsealed": 0,
        "first_unsealed_id": None, "last_seq": len(chain), "last_hash": "…"}


def test_a_changed_entry_is_reported_by_its_id(chain):
    changed = chain[len(chain) // 2]
    without_triggers((f"UPDATE {TABLE} SET election_title = 'forged' WHERE id = %s", [changed]))
    result = verify_chain()
    assert (result.ok, result.entry_id, result.seq, result.seals_checked) == (
        False, changed, seq_of(changed), chain.index(changed))
    assert "the entry was changed" in result.reason
    with pytest.raises(CommandError, match=f"at seal {seq_of(changed)}, entry {changed}: "):
        check_command()


def test_a_deleted_entry_is_reported_by_its_id(chain):
    removed = chain[3]
    without_triggers((f"DELETE FROM {TABLE} WHERE id = %s", [removed]))
    result = verify_chain()
    assert (result.ok, result.entry_id) == (False, removed)
    assert "gone" in result.reason


def test_a_removed_seal_breaks_the_next_link(chain):
    without_triggers((f"DELETE FROM {SEALS} WHERE seq = %s", [4]))
    result = verify_chain()
    assert (result.ok, result.seq) == (False, 5)
    assert "seals 4…4 were removed" in result.reason


def test_a_rewritten_seal_is_reported(chain):
    without_triggers((f"UPDATE {SEALS} SET entry_hash = %s WHERE seq = %s", ["0" * 64, 7]))
    result = verify_chain()
    assert (result.ok, result.seq, result.entry_id) == (False, 7, chain[6])
    assert "the seal was changed" in result.reason


def test_seals_cut_from_the_end_are_caught_by_the_head(chain):
    without_triggers((f"DELETE FROM {SEALS} WHERE seq >= %s", [len(chain) - 1]))
    result = verify_chain()
    assert (result.ok, result.seq) == (False, len(chain) - 1)
    assert "removed from the end" in result.reason
    assert verify_chain(last=5).as_check()["ok"] is False  # the health check's window sees it too
    with pytest.raises(CommandError, match="removed from the end"):
        check_command()


def test_an_entry_that_never_got_a_seal_is_reported_after_the_grace_period(chain, alice, settings):
    """A write around the application (or its sealer) below the watermark: never sealed,
    reported once it is older than the grace period."""
    settings.ACTIVITY_LOG_SEAL_LOOKBACK_SECONDS = 0  # the watermark moves up to every entry
    top = max(chain)
    ActivityEntry.objects.create(id=top + 10, election_id=1, election_title="Later",
                                 action="election_created")
    seal_pending()
    assert SealHead.objects.get().watermark == top + 10
    inserted = ActivityEntry.objects.create(id=top + 5, election_id=1, election_title="Slipped in",
                                            action="election_created",
                                            created_at=timezone.now() - timedelta(minutes=5))
    seal_pending()
    assert not ActivitySeal.objects.filter(entry_id=inserted.pk).exists()
    result = verify_chain()
    assert (result.ok, result.unsealed, result.first_unsealed_id) == (False, 1, inserted.pk)
    assert f"entry {inserted.pk}" in result.reason
    settings.ACTIVITY_LOG_SEAL_GRACE_SECONDS = 600
    assert verify_chain().ok  # younger than the grace period: not (yet) a finding


def test_a_consistent_rewrite_of_the_tail_is_caught_only_against_an_outside_copy(chain):
    """The honest limit: whoever rewrites an entry and every seal after it and the head
    passes the walk; the chain end differs from the copy an operator kept."""
    recorded = verify_chain().last_hash  # what an operator copies elsewhere
    victim = chain[-1]
    without_triggers((f"UPDATE {TABLE} SET election_title = 'forged' WHERE id = %s", [victim]))
    from activity_log.chain import CONTENT_FIELDS

    content = ActivityEntry.objects.filter(pk=victim).values_list(*CONTENT_FIELDS).get()
    forged = ActivitySeal.objects.get(entry_id=victim)
    new_entry_hash = entry_hash(*content)
    new_hash = seal_hash(forged.prev_hash, forged.seq, victim, new_entry_hash)
    without_triggers((f"UPDATE {SEALS} SET entry_hash = %s, hash = %s WHERE seq = %s",
                      [new_entry_hash, new_hash, forged.seq]),
                     (f"UPDATE {HEAD} SET last_hash = %s", [new_hash]))
    result = verify_chain()
    assert result.ok and result.last_hash != recorded


def test_many_appends_in_one_transaction_are_sealed_and_verify(alice):
    root = create_election(title="Root", created_by=alice)
    with transaction.atomic():
        for n in range(30):
            record(Action.EVENT_SCHEDULED, root, actor=alice, n=n)
    assert seal_pending(limit=7) == 28  # four batches per run, the rest in the next
    assert seal_pending(limit=7) == 3
    result = verify_chain()
    assert (result.ok, result.seals_checked) == (True, 31)


def test_the_watermark_never_passes_an_entry_left_for_the_next_batch(alice, settings):
    settings.ACTIVITY_LOG_SEAL_LOOKBACK_SECONDS = 0  # every entry is old enough to pass
    root = create_election(title="Root", created_by=alice)
    ids = [record(Action.EVENT_SCHEDULED, root, actor=alice, n=n).pk for n in range(9)]
    assert seal(limit=0).sealed == 0 and SealHead.objects.get().watermark == 0
    assert seal(limit=4).more
    assert SealHead.objects.get().watermark == ids[2]  # the 4th entry sealed (the election's row first)
    assert seal_pending(limit=4) == 6
    assert SealHead.objects.get().watermark == ids[-1] and verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_an_entry_committed_late_with_a_smaller_id_is_sealed_by_a_later_run(alice):
    """Ids are taken before commit: an entry may appear after a larger id was sealed."""
    root = create_election(title="Root", created_by=alice)
    seal_pending()
    if connection.vendor == "postgresql":  # a real open transaction holding the smaller id
        written, release, errors = threading.Event(), threading.Event(), []

        def slow_writer():
            try:
                with transaction.atomic():
                    written.late = record(Action.EVENT_SCHEDULED, root, actor=alice, n="late").pk
                    written.set()
                    release.wait(30)
            except Exception as exc:  # reported below
                errors.append(exc)
            finally:
                connection.close()

        thread = threading.Thread(target=slow_writer)
        thread.start()
        assert written.wait(30)
        later = record(Action.EVENT_SCHEDULED, root, actor=alice, n="later").pk
        seal_pending()
        release.set()
        thread.join(30)
        assert not errors
        late = written.late
    else:  # SQLite writers are serialized: the same rows, made with explicit ids
        top = ActivityEntry.objects.order_by("-id").values_list("id", flat=True).first()
        later = ActivityEntry.objects.create(id=top + 10, election_id=root.pk, election_title="Root",
                                             action="event_scheduled").pk
        seal_pending()
        late = ActivityEntry.objects.create(id=top + 5, election_id=root.pk, election_title="Root",
                                            action="event_scheduled").pk
    assert late < later
    assert ActivitySeal.objects.filter(entry_id=later).exists()
    assert not ActivitySeal.objects.filter(entry_id=late).exists()
    assert seal_pending() == 1
    assert seq_of(late) > seq_of(later)  # the chain's order is the order of sealing
    result = verify_chain()
    assert result.ok and result.seals_checked == ActivityEntry.objects.count()


@pytest.mark.django_db(transaction=True)
def test_two_sealers_at_once_make_one_chain(alice):
    root = create_election(title="Root", created_by=alice)
    record_bulk([Entry(Action.STATUS_CHANGED, ElectionRef(root.pk, "Root"), None, alice, {"n": n})
                 for n in range(1500)])
    start, errors, sealed = threading.Barrier(4), [], []

    def sealer():
        try:
            start.wait(10)
            while (count := seal_pending(limit=100, max_batches=1)) or SealHead.objects.filter(
                    last_seq__lt=ActivityEntry.objects.count()).exists():
                sealed.append(count)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sealer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert sum(sealed) == ActivityEntry.objects.count() == 1501
    assert list(ActivitySeal.objects.values_list("seq", flat=True)) == list(range(1, 1502))
    result = verify_chain()
    assert result.ok and result.seals_checked == 1501


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_writers_to_different_elections_never_wait_for_each_other(alice):
    """Eight writers each log inside an open transaction, then wait for all the others
    to have logged too before committing: with any lock shared between them (the old
    chain head) the second one would wait for the first's commit and the barrier breaks."""
    elections = [create_election(title=f"E{n}", created_by=alice) for n in range(8)]
    all_written, errors = threading.Barrier(8), []

    def write(election):
        try:
            with transaction.atomic():
                record(Action.EVENT_SCHEDULED, election, actor=alice)
                all_written.wait(timeout=10)  # bounded: a writer blocked by another breaks it
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(e,)) for e in elections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    seal_pending()
    result = verify_chain()
    assert result.ok and result.seals_checked == ActivityEntry.objects.count() == 16


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_logging_between_row_locks_cannot_deadlock(alice):
    """The shape of the firing/planner deadlock: A logs, then locks a row that B holds
    while B logs. With a lock taken by logging (the old chain head), B waited for A's
    log lock and A for B's row: PostgreSQL aborted one. Now B's log waits for nothing."""
    from elections.models import Election

    a, b = (create_election(title=t, created_by=alice) for t in ("firing", "planner"))
    b_holds, a_logged, errors = threading.Event(), threading.Event(), []

    def planner_like():
        try:
            with transaction.atomic():
                Election.objects.select_for_update().get(pk=b.pk)
                b_holds.set()
                assert a_logged.wait(10)
                record(Action.EVENT_DISPATCHED, b)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    def firing_like():
        try:
            assert b_holds.wait(10)
            with transaction.atomic():
                record(Action.EVENT_EXECUTED, a)
                a_logged.set()
                Election.objects.select_for_update().get(pk=b.pk)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=planner_like), threading.Thread(target=firing_like)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert ActivityEntry.objects.filter(action__in=["event_dispatched", "event_executed"]).count() == 2


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_write_commits_while_another_transaction_holds_an_open_write_and_a_sealer_runs(alice):
    a, b = (create_election(title=t, created_by=alice) for t in ("A", "B"))
    written, release = threading.Event(), threading.Event()

    def hold_open():
        try:
            with transaction.atomic():
                record(Action.EVENT_SCHEDULED, a, actor=alice)
                written.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_open)
    holder.start()
    try:
        assert written.wait(10)
        done = threading.Event()

        def write_b():
            try:
                with transaction.atomic():
                    record(Action.EVENT_SCHEDULED, b, actor=alice)
                seal_pending()  # a sealer meanwhile neither blocks nor is blocked
                done.set()
            finally:
                connection.close()

        writer = threading.Thread(target=write_b)
        writer.start()
        assert done.wait(10), "the write to B waited for the open transaction on A"
        writer.join(10)
    finally:
        release.set()
        holder.join(30)
    seal_pending()
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_a_10000_row_bulk_append_is_not_slowed_by_sealing(alice):
    """Measured, not asserted (shared machine): the same bulk append with no sealer and
    while a sealer (one run every 0.2 s) works off a 10,000-row backlog in another thread."""
    root = create_election(title="Root", created_by=alice)

    def bulk(n):
        return [Entry(Action.STATUS_CHANGED, ElectionRef(root.pk, "Root"), None, alice,
                      {"from": "notstarted", "to": "started", "n": n, "i": i}) for i in range(10_000)]

    began = time.perf_counter()
    record_bulk(bulk(0))
    alone = time.perf_counter() - began
    stop, seal_times = threading.Event(), []

    def sealer():
        try:
            while not stop.is_set():
                began = time.perf_counter()
                if seal_pending():
                    seal_times.append(time.perf_counter() - began)
                stop.wait(0.2)
        finally:
            connection.close()

    thread = threading.Thread(target=sealer)
    thread.start()
    try:
        wait_until(lambda: ActivitySeal.objects.exists(), timeout=30, message="the sealer to start")
        began = time.perf_counter()
        record_bulk(bulk(1))
        during = time.perf_counter() - began
        wait_until(lambda: not seal(limit=0).more and ActivitySeal.objects.count() == 20_001, timeout=120,
                   message="every entry sealed")
    finally:
        stop.set()
        thread.join(60)
    print(f"\n[{connection.vendor}] 10,000-row bulk append: {alone:.3f} s alone, {during:.3f} s while "
          f"sealing; sealing runs took {', '.join(f'{t:.2f}' for t in seal_times)} s")
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_the_beat_sealer_seals_what_the_application_writes(alice, start_celery):
    start_celery("worker")
    start_celery("beat", env={"ACTIVITY_LOG_SEAL_INTERVAL_SECONDS": "0.5"})
    election = create_election(title="Sealed by beat", created_by=alice)
    entry = ActivityEntry.objects.get(election_id=election.pk)
    wait_until(lambda: ActivitySeal.objects.filter(entry_id=entry.pk).exists(), timeout=30,
               message="the beat sealer to seal the entry")
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_the_migration_seals_existing_rows_and_places_them():
    """Rows written before the seals get their tree and a seal each, in id order."""
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
    sealed = ActivitySeal.objects.order_by("seq").values_list("entry_id", flat=True)
    assert list(sealed) == [r.pk for r in rows]
    result = verify_chain()
    assert (result.ok, result.seals_checked) == (True, 3)
    record(Action.EVENT_SCHEDULED, ElectionRef(root.pk, "Root"))
    assert seal_pending() == 1
    assert verify_chain().ok and verify_chain().seals_checked == 4
    test_the_triggers_exist_after_migrating()
