"""No index on the log's ``actor_id`` and ``on_behalf_of_id``: nothing reads the log by person
(the pages filter by election, tree, action and time), and each index cost every insert
(two of the seven index entries of a log row; a start of 100,000 children writes 100,000 rows).

SQLite rebuilds the table to change the columns, which drops its triggers: they are
created again, as 0009 does.
"""
import importlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

_0009 = importlib.import_module("activity_log.migrations.0009_tree_path_text")


class Migration(migrations.Migration):

    dependencies = [
        ('activity_log', '0010_email_subscription_actions'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Backwards, the table is rebuilt after this runs: the triggers are made again last too.
        migrations.RunPython(migrations.RunPython.noop, _0009.recreate_entry_triggers),
        migrations.AlterField(
            model_name='activityentry',
            name='actor',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, help_text='Who acted; empty when the system acted (see on_behalf_of).', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='activityentry',
            name='on_behalf_of',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, help_text='For system actions: the user who scheduled what the system did.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(_0009.recreate_entry_triggers, _0009.recreate_entry_triggers),
    ]
