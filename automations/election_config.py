"""The ``automations`` key of an election's JSON configuration (and of each child's).

Registered as a section of ``scheduling.election_config`` in ``AutomationsConfig.ready``:
the upload validates every election's automations before it creates anything, and
creates them in its own transaction after the election's scheduled events, so the
upload stays all or nothing and relative rules get their first run from those events.
"""

from django.utils import timezone

from elections.errors import InvalidInput
from scheduling.election_config import Section, register_section

from . import services
from .models import MAX_PER_ELECTION
from .validation import parse_automation


def parse(value) -> list:
    """Check the list and each automation in it; errors keyed ``automations.<index>.<field>``."""
    if not isinstance(value, list):
        raise InvalidInput({"automations": ['Must be a list of automations like [{"name": "...", '
                                            '"when": {...}, "operations": {...}}].']})
    if len(value) > MAX_PER_ELECTION:
        raise InvalidInput({"automations": [
            f"Has {len(value)} automations; an election may have at most {MAX_PER_ELECTION}."]})
    now = timezone.now()
    errors = {}
    for index, item in enumerate(value):
        try:
            parse_automation(item, election=None, scope="election", now=now)
        except InvalidInput as exc:
            errors[str(index)] = exc.detail
    if errors:
        raise InvalidInput({"automations": errors})
    return value


def apply(election, items: list, actor) -> None:
    """Create the election's automations (validated again with the election, for its zone)."""
    now = timezone.now()
    for index, item in enumerate(items):
        try:
            spec = parse_automation(item, election=election, now=now)
            services.create_from_spec(spec, election=election, actor=actor, now=now)
        except InvalidInput as exc:
            raise InvalidInput({"automations": {str(index): exc.detail}}) from exc


def register() -> None:
    register_section("automations", Section(parse=parse, apply=apply))
