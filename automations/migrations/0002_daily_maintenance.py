"""Install the global "Daily maintenance" automation: 04:00 every day in ``TIME_ZONE``.

Only the rule: its first run is scheduled when a worker starts
(``automations.receivers.on_worker_ready`` -> ``services.plan_missing_runs``), through
the same service as any run, so it is logged and published like the others and the
migration does not depend on the run engine's tables or code.
"""

from django.conf import settings
from django.db import migrations

NAME = "Daily maintenance"


def install(apps, schema_editor):
    Automation = apps.get_model("automations", "Automation")
    if Automation.objects.filter(election__isnull=True, name=NAME).exists():
        return
    Automation.objects.create(
        name=NAME, active=True,
        when={"cron_rule": "0 4 * * *", "timezone": settings.TIME_ZONE, "catch_up": "PT1H"},
        operations={"maintenance": {}}, recipients={},
    )


def uninstall(apps, schema_editor):
    apps.get_model("automations", "Automation").objects.filter(election__isnull=True, name=NAME).delete()


class Migration(migrations.Migration):

    dependencies = [("automations", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
