"""``tree_path`` as text: a tree deeper than 50 levels (made before trees were limited to
32) had paths longer than the 1,000 characters of the old column, so logging its status
changes failed, and so did deleting it.

SQLite rebuilds the table to change the column, which drops its triggers: they are
created again, as 0006 made them.
"""

import importlib

from django.db import migrations, models

_0006 = importlib.import_module("activity_log.migrations.0006_append_only_everywhere")
ENTRY_TRIGGERS = [sql for sql in _0006.SQLITE_CREATE if "ON activity_log_activityentry" in sql]
ENTRY_TRIGGER_NAMES = ("activity_log_no_update", "activity_log_no_delete")


def recreate_entry_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for name in ENTRY_TRIGGER_NAMES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}", params=None)
    for sql in ENTRY_TRIGGERS:
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("activity_log", "0008_seal_chain")]
    operations = [
        # Backwards, the table is rebuilt after this runs: the triggers are made again last too.
        migrations.RunPython(migrations.RunPython.noop, recreate_entry_triggers),
        migrations.AlterField(
            model_name="activityentry",
            name="tree_path",
            field=models.TextField(
                blank=True, default="",
                help_text="Ids from the root down to the election, e.g. /1/5/9/: a prefix selects a subtree."),
        ),
        migrations.RunPython(recreate_entry_triggers, recreate_entry_triggers),
    ]
