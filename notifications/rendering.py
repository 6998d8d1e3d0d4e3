"""Templates in Django's template language, rendered against plain data only.

The context holds dicts, strings and numbers, never model instances: Django's
template language calls any callable it meets, so an editable template must not
reach a method such as ``delete``. Subject and text render without escaping (they
are plain text, and a ``<script>`` in a title is just characters there); HTML is
autoescaped. No loaders and no extra libraries: ``{% include %}`` and
``{% load %}`` have nothing to reach.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.template import Context, Engine, TemplateSyntaxError

from elections.errors import InvalidInput

TEXT_ENGINE = Engine(autoescape=False, debug=True)
HTML_ENGINE = Engine(autoescape=True, debug=True)
PARTS = ("subject", "text", "html")
MAX_SUBJECT_CHARS = 300


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class CompiledTemplate:
    """The three parts of an ``EmailTemplate``, compiled once and rendered per recipient."""

    def __init__(self, subject: str, text: str, html: str = ""):
        errors = {}
        self.parts = {}
        for part, source in (("subject", subject), ("text", text), ("html", html or "")):
            limit = MAX_SUBJECT_CHARS if part == "subject" else settings.EMAIL_MAX_BODY_CHARS
            if len(source) > limit:
                errors[part] = [f"Is {len(source)} characters long; use at most {limit}."]
                continue
            try:
                self.parts[part] = (HTML_ENGINE if part == "html" else TEXT_ENGINE).from_string(source)
            except TemplateSyntaxError as exc:
                errors[part] = [_describe(exc)]
        if errors:
            raise InvalidInput(errors)
        self.has_html = bool((html or "").strip())

    def render(self, context: dict) -> Rendered:
        """Render every part; raises ``InvalidInput`` naming the part and line that fails or is too big."""
        out, errors = {}, {}
        for part, template in self.parts.items():
            if part == "html" and not self.has_html:
                out[part] = ""
                continue
            try:
                out[part] = template.render(Context(context, autoescape=part == "html"))
            except Exception as exc:  # any error a template can raise at render time
                errors[part] = [_describe(exc)]
                continue
            if part != "subject" and len(out[part]) > settings.EMAIL_MAX_BODY_CHARS:
                errors[part] = [f"Renders to {len(out[part])} characters; at most "
                                f"{settings.EMAIL_MAX_BODY_CHARS} are allowed (EMAIL_MAX_BODY_CHARS)."]
        if errors:
            raise InvalidInput(errors)
        # One line: a header cannot hold a newline (and must not be made to).
        subject = " ".join(out["subject"].split())[:998]
        return Rendered(subject, out["text"], out["html"])


def _describe(exc: Exception) -> str:
    debug = getattr(exc, "template_debug", None)
    line = f"Line {debug['line']}: " if debug else ""
    return f"{line}{exc}"


def check(subject: str, text: str, html: str) -> None:
    """Raise ``InvalidInput`` naming the field and line when the template does not compile or render."""
    CompiledTemplate(subject, text, html).render(sample_context())


# --- times and the context ---------------------------------------------------------------

def format_local(value: datetime | None, zone: str) -> str:
    """``Sat 12 Sep 2026, 11:26 CEST`` in ``zone``; '' for None."""
    if value is None:
        return ""
    local = value.astimezone(ZoneInfo(zone))
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname()}"


def format_utc(value: datetime | None) -> str:
    if value is None:
        return ""
    value = value.astimezone(UTC)
    return f"{value.day} {value:%b %Y %H:%M} UTC"


def time_context(value: datetime | None, zone: str) -> dict:
    return {"local": format_local(value, zone), "utc": format_utc(value), "time_zone": zone,
            "iso": value.astimezone(UTC).isoformat() if value else ""}


def sample_context() -> dict:
    """A context with every documented key, for checking a template on save."""
    now = datetime.now(UTC)
    event = {"kind": "start_voting", "label": "Start of voting", "at": time_context(now, "UTC"),
             "state": "pending"}
    row = {"what": "Start of voting", "election_title": "Sample election", "at": time_context(now, "UTC"),
           "state": "pending", "reason": "", "lateness_seconds": None}
    return {
        "site_url": settings.SITE_URL,
        "election": {"id": 1, "title": "Sample election", "status": "notstarted",
                     "status_label": "not started", "link": f"{settings.SITE_URL}/elections/1/",
                     "time_zone": "UTC", "events": [event], "start_voting": event, "end_voting": None},
        "recipient": {"name": "Sample recipient", "username": "sample", "time_zone": "UTC"},
        "occurrence": {"label": "sample", "at": time_context(now, "UTC")},
        "alert": {"headline": "1 event went wrong", "incidents": [], "advice": []},
        "unsubscribe_url": f"{settings.SITE_URL}/email/unsubscribe/sample/",
        "subject": {"username": "sample", "name": "Sample user"},
        "summary": {
            "time_zone": "UTC", "elections": 2,
            "statuses": [{"status": "started", "label": "started", "count": 2}],
            "schedule": [row], "upcoming_runs": [{**row, "what": "Remind observers"}],
            "late_or_failed": [{**row, "state": "failed", "reason": "sample", "lateness_seconds": 90}],
            "recent_activity": [{"at": time_context(now, "UTC"), "election_title": "Sample election",
                                 "sentence": "alice scheduled the start of voting"}],
        },
    }
