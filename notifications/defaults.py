"""The templates a fresh installation starts with (installed by migration 0002, editable afterwards).

Context keys (see ``rendering.sample_context``): ``election`` (id, title, status,
status_label, link, time_zone, events, start_voting, end_voting; each event has
``label`` and ``at.local`` / ``at.utc``), ``recipient`` (name, username,
time_zone), ``occurrence`` (label, ``at``), ``alert`` (headline, incidents,
advice), ``site_url`` and ``unsubscribe_url`` (automations only).
"""

_EVENTS_TEXT = """{% for event in election.events %}\
- {{ event.label }}: {{ event.at.local }} ({{ event.at.utc }})
{% empty %}No opening or closing is scheduled.
{% endfor %}"""

_EVENTS_HTML = """<ul>{% for event in election.events %}<li>{{ event.label }}: {{ event.at.local }} \
({{ event.at.utc }})</li>{% empty %}<li>No opening or closing is scheduled.</li>{% endfor %}</ul>"""

_FOOTER_TEXT = """
{% if unsubscribe_url %}To stop these messages: {{ unsubscribe_url }}{% endif %}"""
_FOOTER_HTML = """{% if unsubscribe_url %}<p style="font-size:small"><a href="{{ unsubscribe_url }}">\
Stop these messages</a></p>{% endif %}"""


def _reminder(subject: str, lead: str) -> dict:
    return {
        "subject": subject,
        "text": f"Hello {{{{ recipient.name }}}},\n\n{lead}\n\n{_EVENTS_TEXT}\n"
                f"Open the election: {{{{ election.link }}}}\n{_FOOTER_TEXT}\n",
        "html": f"<p>Hello {{{{ recipient.name }}}},</p>\n<p>{lead}</p>\n{_EVENTS_HTML}\n"
                f'<p><a href="{{{{ election.link }}}}">Open the election</a></p>\n{_FOOTER_HTML}\n',
    }


DEFAULT_TEMPLATES = {
    "voting-opens-soon": _reminder(
        "Voting opens soon: {{ election.title }}",
        "Voting in {{ election.title }} opens {{ election.start_voting.at.local }}."),
    "voting-closes-soon": _reminder(
        "Voting closes soon: {{ election.title }}",
        "Voting in {{ election.title }} closes {{ election.end_voting.at.local }}."),
    "voting-opened": _reminder(
        "Voting is open: {{ election.title }}", "Voting in {{ election.title }} is now open."),
    "voting-closed": _reminder(
        "Voting has closed: {{ election.title }}", "Voting in {{ election.title }} has closed."),
    "election-summary": _reminder(
        "Summary: {{ election.title }}",
        "{{ election.title }} is {{ election.status_label }}. Its schedule:"),
    "welcome": _reminder(
        "Welcome to {{ election.title }}",
        "You have been given access to {{ election.title }}."),
    "event-alert": {
        "subject": "[Alert] {{ election.title }}: {{ alert.headline }}",
        "text": """Hello {{ recipient.name }},

{{ alert.headline }} in {{ election.title }}.
{% for incident in alert.incidents %}
- {{ incident.label }} of {{ incident.election_title }}, planned for {{ incident.planned.local }} \
({{ incident.planned.utc }}): {{ incident.what_happened }}
{% endfor %}
What to do:
{% for line in alert.advice %}- {{ line }}
{% endfor %}
The election: {{ election.link }}
Its history: {{ election.link }}events/

You get this because you may edit this election; alerts cannot be turned off.
""",
        "html": """<p>Hello {{ recipient.name }},</p>
<p><strong>{{ alert.headline }}</strong> in {{ election.title }}.</p>
<ul>{% for incident in alert.incidents %}<li>{{ incident.label }} of {{ incident.election_title }}, \
planned for {{ incident.planned.local }} ({{ incident.planned.utc }}): {{ incident.what_happened }}</li>\
{% endfor %}</ul>
<p>What to do:</p>
<ul>{% for line in alert.advice %}<li>{{ line }}</li>{% endfor %}</ul>
<p><a href="{{ election.link }}">The election</a> · <a href="{{ election.link }}events/">its history</a></p>
<p style="font-size:small">You get this because you may edit this election; alerts cannot be turned off.</p>
""",
    },
}
