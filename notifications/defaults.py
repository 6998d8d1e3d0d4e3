"""The templates a fresh installation starts with (installed by migration 0002, editable afterwards).

Context keys (see ``rendering.sample_context``): ``election`` (id, title, status,
status_label, link, time_zone, events, start_voting, end_voting; each event has
``label`` and ``at.local`` / ``at.utc``), ``recipient`` (name, username,
time_zone), ``occurrence`` (label, automation, ``at``), ``summary`` (``send_summary``:
statuses, schedule, upcoming_runs, late_or_failed, recent_activity), ``subject``
(the user a user-trigger run is about), ``alert`` (headline, incidents,
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
    "election-summary": {
        "subject": "Summary: {{ election.title }}",
        "text": """Hello {{ recipient.name }},

{{ election.title }} is {{ election.status_label }}.
{% if summary.elections > 1 %}Its {{ summary.elections }} elections: \
{% for s in summary.statuses %}{{ s.count }} {{ s.label }}{% if not forloop.last %}, {% endif %}{% endfor %}.
{% endif %}
Schedule ({{ summary.time_zone }}):
{% for e in summary.schedule %}- {{ e.what }} of {{ e.election_title }}: {{ e.at.local }} ({{ e.at.utc }})
{% empty %}- nothing scheduled
{% endfor %}
Upcoming automation runs:
{% for e in summary.upcoming_runs %}- {{ e.what }} ({{ e.election_title }}): {{ e.at.local }}
{% empty %}- none
{% endfor %}
Late or failed:
{% for e in summary.late_or_failed %}- {{ e.what }} of {{ e.election_title }}, planned {{ e.at.local }}: \
{{ e.state }}{% if e.reason %} ({{ e.reason }}){% endif %}\
{% if e.lateness_seconds %}, {{ e.lateness_seconds }} s late{% endif %}
{% empty %}- nothing
{% endfor %}
Recent activity:
{% for a in summary.recent_activity %}- {{ a.at.utc }}, {{ a.election_title }}: {{ a.sentence }}
{% empty %}- none
{% endfor %}
Open the election: {{ election.link }}
""" + _FOOTER_TEXT + "\n",
        "html": """<p>Hello {{ recipient.name }},</p>
<p>{{ election.title }} is {{ election.status_label }}.</p>
{% if summary.elections > 1 %}<p>Its {{ summary.elections }} elections: \
{% for s in summary.statuses %}{{ s.count }} {{ s.label }}{% if not forloop.last %}, {% endif %}\
{% endfor %}.</p>{% endif %}
<h3>Schedule ({{ summary.time_zone }})</h3>
<ul>{% for e in summary.schedule %}<li>{{ e.what }} of {{ e.election_title }}: {{ e.at.local }} \
({{ e.at.utc }})</li>{% empty %}<li>nothing scheduled</li>{% endfor %}</ul>
<h3>Upcoming automation runs</h3>
<ul>{% for e in summary.upcoming_runs %}<li>{{ e.what }} ({{ e.election_title }}): {{ e.at.local }}</li>\
{% empty %}<li>none</li>{% endfor %}</ul>
<h3>Late or failed</h3>
<ul>{% for e in summary.late_or_failed %}<li>{{ e.what }} of {{ e.election_title }}, \
planned {{ e.at.local }}: {{ e.state }}{% if e.reason %} ({{ e.reason }}){% endif %}\
{% if e.lateness_seconds %}, {{ e.lateness_seconds }} s late{% endif %}</li>\
{% empty %}<li>nothing</li>{% endfor %}</ul>
<h3>Recent activity</h3>
<ul>{% for a in summary.recent_activity %}<li>{{ a.at.utc }}, {{ a.election_title }}: {{ a.sentence }}</li>\
{% empty %}<li>none</li>{% endfor %}</ul>
<p><a href="{{ election.link }}">Open the election</a></p>
""" + _FOOTER_HTML + "\n",
    },
    # Sent by a global automation ({"on": "user.created"}) there is no election: say so.
    "welcome": {
        "subject": "Welcome{% if election %} to {{ election.title }}{% endif %}",
        "text": """Hello {{ recipient.name }},

{% if election %}You have been given access to {{ election.title }}.

""" + _EVENTS_TEXT + """
Open the election: {{ election.link }}
{% else %}Your account {{ recipient.username }} is ready: {{ site_url }}/
{% endif %}""" + _FOOTER_TEXT + "\n",
        "html": """<p>Hello {{ recipient.name }},</p>
{% if election %}<p>You have been given access to {{ election.title }}.</p>
""" + _EVENTS_HTML + """
<p><a href="{{ election.link }}">Open the election</a></p>
{% else %}<p>Your account {{ recipient.username }} is ready: <a href="{{ site_url }}/">{{ site_url }}</a></p>
{% endif %}""" + _FOOTER_HTML + "\n",
    },
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
