"""On PostgreSQL, a trigger refuses UPDATE and DELETE of activity rows, whatever the client."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION activity_log_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'activity_log_activityentry is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER activity_log_append_only
    BEFORE UPDATE OR DELETE ON activity_log_activityentry
    FOR EACH ROW EXECUTE FUNCTION activity_log_refuse_change();
"""
DROP = """
DROP TRIGGER IF EXISTS activity_log_append_only ON activity_log_activityentry;
DROP FUNCTION IF EXISTS activity_log_refuse_change();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("activity_log", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
