from django.db import migrations


def install(apps, schema_editor):
    from notifications.defaults import DEFAULT_TEMPLATES

    EmailTemplate = apps.get_model("notifications", "EmailTemplate")
    for name, parts in DEFAULT_TEMPLATES.items():
        EmailTemplate.objects.get_or_create(name=name, defaults=parts)


def remove(apps, schema_editor):
    from notifications.defaults import DEFAULT_TEMPLATES

    apps.get_model("notifications", "EmailTemplate").objects.filter(name__in=DEFAULT_TEMPLATES).delete()


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
