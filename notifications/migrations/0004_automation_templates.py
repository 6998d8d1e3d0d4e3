"""The `election-summary` and `welcome` defaults, for automations (send_summary; a welcome
without an election). An installation's template is replaced only while it is still
the old default, never when someone edited it."""

import json

from django.db import migrations

OLD = json.loads(r'''{"welcome": {"subject": "Welcome to {{ election.title }}", "text": "Hello {{ recipient.name }},\n\nYou have been given access to {{ election.title }}.\n\n{% for event in election.events %}- {{ event.label }}: {{ event.at.local }} ({{ event.at.utc }})\n{% empty %}No opening or closing is scheduled.\n{% endfor %}\nOpen the election: {{ election.link }}\n\n{% if unsubscribe_url %}To stop these messages: {{ unsubscribe_url }}{% endif %}\n", "html": "<p>Hello {{ recipient.name }},</p>\n<p>You have been given access to {{ election.title }}.</p>\n<ul>{% for event in election.events %}<li>{{ event.label }}: {{ event.at.local }} ({{ event.at.utc }})</li>{% empty %}<li>No opening or closing is scheduled.</li>{% endfor %}</ul>\n<p><a href=\"{{ election.link }}\">Open the election</a></p>\n{% if unsubscribe_url %}<p style=\"font-size:small\"><a href=\"{{ unsubscribe_url }}\">Stop these messages</a></p>{% endif %}\n"}, "election-summary": {"subject": "Summary: {{ election.title }}", "text": "Hello {{ recipient.name }},\n\n{{ election.title }} is {{ election.status_label }}. Its schedule:\n\n{% for event in election.events %}- {{ event.label }}: {{ event.at.local }} ({{ event.at.utc }})\n{% empty %}No opening or closing is scheduled.\n{% endfor %}\nOpen the election: {{ election.link }}\n\n{% if unsubscribe_url %}To stop these messages: {{ unsubscribe_url }}{% endif %}\n", "html": "<p>Hello {{ recipient.name }},</p>\n<p>{{ election.title }} is {{ election.status_label }}. Its schedule:</p>\n<ul>{% for event in election.events %}<li>{{ event.label }}: {{ event.at.local }} ({{ event.at.utc }})</li>{% empty %}<li>No opening or closing is scheduled.</li>{% endfor %}</ul>\n<p><a href=\"{{ election.link }}\">Open the election</a></p>\n{% if unsubscribe_url %}<p style=\"font-size:small\"><a href=\"{{ unsubscribe_url }}\">Stop these messages</a></p>{% endif %}\n"}}''')


def upgrade(apps, schema_editor):
    from notifications.defaults import DEFAULT_TEMPLATES

    EmailTemplate = apps.get_model("notifications", "EmailTemplate")
    for name, old in OLD.items():
        EmailTemplate.objects.filter(name=name, **old).update(**DEFAULT_TEMPLATES[name])


def downgrade(apps, schema_editor):
    from notifications.defaults import DEFAULT_TEMPLATES

    EmailTemplate = apps.get_model("notifications", "EmailTemplate")
    for name, old in OLD.items():
        EmailTemplate.objects.filter(name=name, **DEFAULT_TEMPLATES[name]).update(**old)


class Migration(migrations.Migration):
    dependencies = [("notifications", "0003_outbox_publishes")]
    operations = [migrations.RunPython(upgrade, downgrade)]
