"""Move the tamper evidence off the write path (docs/reliability.md H17).

Before: every append locked a one-row chain head until commit, so every transaction
that logged anything waited for every other one, across all elections, and could
deadlock with the planner. Now writers only INSERT; a sealer links committed entries
into a separate, append-only seal chain afterwards (``activity_log.sealing``).

This migration adds ``ActivitySeal`` and ``SealHead``, drops the entries' ``prev_hash``
and ``hash`` and the ``ChainHead``, gives the two new tables the same append-only
triggers as the entries (both backends: UPDATE refused, DELETE and TRUNCATE refused
unless the purge guard of ``activity_log.purge`` is set; the head may be updated by
the sealer, never deleted), and seals the existing entries in id order.

SQLite: dropping the two columns uses ``ALTER TABLE … DROP COLUMN`` (no table rebuild),
but the entries' triggers are created again anyway, and also on the way back (adding
the columns back rebuilds the table, which drops its triggers).
"""

import importlib

from django.db import migrations, models

from activity_log.chain import CONTENT_FIELDS, GENESIS, entry_hash, seal_hash

BATCH = 2000
_0006 = importlib.import_module("activity_log.migrations.0006_append_only_everywhere")

PG_CREATE = """
CREATE TRIGGER activity_log_seal_append_only
    BEFORE UPDATE OR DELETE ON activity_log_activityseal
    FOR EACH ROW EXECUTE FUNCTION activity_log_refuse_change();
CREATE TRIGGER activity_log_seal_no_truncate
    BEFORE TRUNCATE ON activity_log_activityseal
    FOR EACH STATEMENT EXECUTE FUNCTION activity_log_refuse_change();
CREATE TRIGGER activity_log_sealhead_no_delete
    BEFORE DELETE ON activity_log_sealhead
    FOR EACH ROW EXECUTE FUNCTION activity_log_refuse_change();
CREATE TRIGGER activity_log_sealhead_no_truncate
    BEFORE TRUNCATE ON activity_log_sealhead
    FOR EACH STATEMENT EXECUTE FUNCTION activity_log_refuse_change();
"""
PG_DROP = """
DROP TRIGGER IF EXISTS activity_log_seal_append_only ON activity_log_activityseal;
DROP TRIGGER IF EXISTS activity_log_seal_no_truncate ON activity_log_activityseal;
DROP TRIGGER IF EXISTS activity_log_sealhead_no_delete ON activity_log_sealhead;
DROP TRIGGER IF EXISTS activity_log_sealhead_no_truncate ON activity_log_sealhead;
"""

#: The entries' triggers (as 0006 made them).
SQLITE_ENTRY_TRIGGERS = [sql for sql in _0006.SQLITE_CREATE if "ON activity_log_activityentry" in sql]
SQLITE_CREATE = [
    """CREATE TRIGGER activity_log_seal_no_update BEFORE UPDATE ON activity_log_activityseal
       BEGIN SELECT RAISE(ABORT, 'activity_log_activityseal is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER activity_log_seal_no_delete BEFORE DELETE ON activity_log_activityseal
       WHEN NOT EXISTS (SELECT 1 FROM activity_log_purge_unlock)
       BEGIN SELECT RAISE(ABORT, 'activity_log_activityseal is append-only: DELETE refused'); END""",
    """CREATE TRIGGER activity_log_sealhead_no_delete BEFORE DELETE ON activity_log_sealhead
       WHEN NOT EXISTS (SELECT 1 FROM activity_log_purge_unlock)
       BEGIN SELECT RAISE(ABORT, 'activity_log_sealhead: DELETE refused'); END""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS activity_log_seal_no_update",
               "DROP TRIGGER IF EXISTS activity_log_seal_no_delete",
               "DROP TRIGGER IF EXISTS activity_log_sealhead_no_delete"]


def _sqlite_recreate(schema_editor, statements):
    """Create SQLite triggers, replacing any of the same name."""
    for sql in statements:
        name = sql.split("CREATE TRIGGER", 1)[1].split()[0]
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}", params=None)
        schema_editor.execute(sql, params=None)


def restore_0006_triggers(apps, schema_editor):
    """Backwards only (runs last): the triggers 0006 made, which rebuilding the entries'
    table (SQLite) or re-creating the chain head (both) left out."""
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        _sqlite_recreate(schema_editor, _0006.SQLITE_CREATE[1:])
    elif vendor == "postgresql":
        schema_editor.execute(_0006.PG_DROP + _0006.PG_CREATE, params=None)


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_CREATE, params=None)
    elif vendor == "sqlite":
        _sqlite_recreate(schema_editor, [*SQLITE_ENTRY_TRIGGERS, *SQLITE_CREATE])


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DROP, params=None)
    elif vendor == "sqlite":
        for sql in SQLITE_DROP:
            schema_editor.execute(sql, params=None)


def seal_existing(apps, schema_editor):
    """One seal per existing entry, in id order, and the head at the chain's end. The
    watermark stays 0: the first sealing run looks once more at every entry, in case one
    committed while this ran."""
    ActivityEntry = apps.get_model("activity_log", "ActivityEntry")
    ActivitySeal = apps.get_model("activity_log", "ActivitySeal")
    SealHead = apps.get_model("activity_log", "SealHead")
    seq, prev, batch = 0, GENESIS, []
    for entry_id, *content in (ActivityEntry.objects.order_by("id").values_list("id", *CONTENT_FIELDS)
                               .iterator(chunk_size=BATCH)):
        seq += 1
        content_hash = entry_hash(*content)
        link = seal_hash(prev, seq, entry_id, content_hash)
        batch.append(ActivitySeal(seq=seq, entry_id=entry_id, entry_hash=content_hash, prev_hash=prev, hash=link))
        prev = link
        if len(batch) >= BATCH:
            ActivitySeal.objects.bulk_create(batch)
            batch = []
    ActivitySeal.objects.bulk_create(batch)
    SealHead.objects.create(pk=1, last_seq=seq, last_hash=prev, watermark=0)


class Migration(migrations.Migration):

    dependencies = [("activity_log", "0007_new_actions")]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, restore_0006_triggers),
        migrations.CreateModel(
            name="ActivitySeal",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("seq", models.BigIntegerField(unique=True)),
                ("entry_id", models.BigIntegerField(unique=True)),
                ("entry_hash", models.CharField(max_length=64)),
                ("prev_hash", models.CharField(max_length=64)),
                ("hash", models.CharField(max_length=64)),
            ],
            options={"ordering": ["seq"]},
        ),
        migrations.CreateModel(
            name="SealHead",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("last_seq", models.BigIntegerField(default=0)),
                ("last_hash", models.CharField(max_length=64)),
                ("watermark", models.BigIntegerField(
                    default=0, help_text="Entries with a larger id are looked at by the next sealing run.")),
                ("sealed_at", models.DateTimeField(
                    blank=True, null=True, help_text="The last run that sealed something.")),
            ],
            options={"verbose_name": "activity seal head"},
        ),
        migrations.RemoveField(model_name="activityentry", name="hash"),
        migrations.RemoveField(model_name="activityentry", name="prev_hash"),
        migrations.DeleteModel(name="ChainHead"),
        migrations.RunPython(create_triggers, drop_triggers),
        migrations.RunPython(seal_existing, migrations.RunPython.noop),
    ]
