"""Append-only at the database level on both backends (docs/reliability.md H14).

PostgreSQL: the row trigger of 0002 now also guards DELETE with the purge guard
(``activity_log.purge``), and a statement trigger refuses TRUNCATE, which row
triggers never see. SQLite: triggers refuse UPDATE always and DELETE unless the
purge unlock table has a row. The chain head may be updated (every append does)
but not deleted or truncated, so removing rows from the end stays visible.

SQLite drops a table's triggers when Django remakes the table (some ALTERs do):
a later migration that alters ``activityentry`` on SQLite must create them again
(``tests/test_activity_log_integrity.py`` checks that they exist).
"""

from django.db import migrations

PG_CREATE = """
CREATE OR REPLACE FUNCTION activity_log_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'UPDATE' AND current_setting('activity_log.allow_purge', true) = 'on' THEN
        RETURN OLD;  -- a deliberate purge (test flush); NULL for statement triggers
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER activity_log_no_truncate
    BEFORE TRUNCATE ON activity_log_activityentry
    FOR EACH STATEMENT EXECUTE FUNCTION activity_log_refuse_change();
CREATE TRIGGER activity_log_head_no_delete
    BEFORE DELETE ON activity_log_chainhead
    FOR EACH ROW EXECUTE FUNCTION activity_log_refuse_change();
CREATE TRIGGER activity_log_head_no_truncate
    BEFORE TRUNCATE ON activity_log_chainhead
    FOR EACH STATEMENT EXECUTE FUNCTION activity_log_refuse_change();
"""
PG_DROP = """
DROP TRIGGER IF EXISTS activity_log_no_truncate ON activity_log_activityentry;
DROP TRIGGER IF EXISTS activity_log_head_no_delete ON activity_log_chainhead;
DROP TRIGGER IF EXISTS activity_log_head_no_truncate ON activity_log_chainhead;
"""

SQLITE_CREATE = [
    "CREATE TABLE activity_log_purge_unlock (id INTEGER PRIMARY KEY CHECK (id = 1))",
    """CREATE TRIGGER activity_log_no_update BEFORE UPDATE ON activity_log_activityentry
       BEGIN SELECT RAISE(ABORT, 'activity_log_activityentry is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER activity_log_no_delete BEFORE DELETE ON activity_log_activityentry
       WHEN NOT EXISTS (SELECT 1 FROM activity_log_purge_unlock)
       BEGIN SELECT RAISE(ABORT, 'activity_log_activityentry is append-only: DELETE refused'); END""",
    """CREATE TRIGGER activity_log_head_no_delete BEFORE DELETE ON activity_log_chainhead
       WHEN NOT EXISTS (SELECT 1 FROM activity_log_purge_unlock)
       BEGIN SELECT RAISE(ABORT, 'activity_log_chainhead: DELETE refused'); END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS activity_log_no_update",
    "DROP TRIGGER IF EXISTS activity_log_no_delete",
    "DROP TRIGGER IF EXISTS activity_log_head_no_delete",
    "DROP TABLE IF EXISTS activity_log_purge_unlock",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_CREATE, params=None)
    elif vendor == "sqlite":
        for sql in SQLITE_CREATE:
            schema_editor.execute(sql, params=None)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DROP, params=None)
    elif vendor == "sqlite":
        for sql in SQLITE_DROP:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("activity_log", "0005_backfill_chain_and_tree")]
    operations = [migrations.RunPython(forwards, backwards)]
