"""Validation of an automation's JSON: one function, ``parse_automation``, for the API,
the election JSON configuration and the preview.

Errors are ``InvalidInput`` keyed by the path of the field at fault, as the issue and the
run engine's operation registry spell them (``{"when.cron_rule": [...]}``,
``{"operations.send_email.template": [...]}``, ``{"recipients.users": [...]}``); nothing is
saved before they pass.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from elections.errors import InvalidInput
from notifications import recipients as recipients_module

from .when import OnStatus, When, WhenError, parse_when

FIELDS = ("name", "active", "when", "operations", "recipients")
SERVER_FIELDS = ("id", "uid", "next_run_at", "created_at", "updated_at", "election", "revision")
#: Operation names that start with this are the engine's own (e.g. the relative-run guard).
INTERNAL_PREFIX = "_"


def election_zone(election) -> str:
    """The IANA zone a cron rule of ``election`` is read in when it names none: the
    election's ``time_zone``; ``settings.TIME_ZONE`` for a global rule (no election)."""
    return getattr(election, "time_zone", None) or settings.TIME_ZONE


@dataclass(frozen=True)
class AutomationSpec:
    """A validated automation: what the model stores, plus the typed ``when``."""

    name: str
    active: bool
    when: When
    operations: dict
    recipients: dict

    @property
    def when_json(self) -> dict:
        return self.when.to_json()


def parse_when_field(data, *, scope: str, election, now: datetime) -> When:
    """``parse_when`` with the election's default zone, its errors as ``InvalidInput``."""
    try:
        return parse_when(data, scope=scope, default_zone=election_zone(election), now=now)
    except WhenError as exc:
        raise InvalidInput({exc.field: [exc.message]}) from None


def parse_automation(data, *, election, now: datetime, current=None, partial: bool = False,
                     scope: str | None = None) -> AutomationSpec:
    """Validate ``data``: a whole automation, or with ``partial`` the fields to change of ``current``.

    ``election`` is the automation's election or None (global). With ``partial``, fields
    left out keep ``current``'s value. A ``when`` equal to ``current``'s (left out or sent
    unchanged) is judged at the time it was saved, so an ``at`` already past does not
    block renaming. Raises ``InvalidInput`` naming every field at fault.
    """
    scope = scope or ("election" if election is not None else "global")
    if not isinstance(data, dict):
        raise InvalidInput({"non_field_errors": [
            'Expected an automation object like {"name": "...", "when": {...}, "operations": {...}}.']})
    errors: dict = {}
    for key in data:
        if key in SERVER_FIELDS:
            errors[key] = [f"Is set by the server; leave {key} out of what you send."]
        elif key not in FIELDS:
            errors[str(key)[:60]] = [f"Unknown field; accepted fields are {', '.join(FIELDS)}."]

    def given(key):
        return key in data or not partial or current is None

    name = data.get("name") if given("name") else current.name
    if not isinstance(name, str) or not name.strip():
        errors["name"] = ["This field is required: a non-empty string."]
    elif len(name.strip()) > 200:
        errors["name"] = [f"Is {len(name.strip())} characters long; use at most 200."]
    active = data.get("active", True) if given("active") else current.active
    if not isinstance(active, bool):
        errors["active"] = ["Must be true or false."]
    when = None
    if given("when"):
        if "when" not in data:
            errors["when"] = ['This field is required, e.g. {"cron_rule": "0 7 * * 1"}.']
        else:
            judged_at = now
            if current is not None and data["when"] == current.when:
                judged_at = min(now, current.updated_at)
            try:
                when = parse_when_field(data["when"], scope=scope, election=election, now=judged_at)
            except InvalidInput as exc:
                errors.update(exc.detail)
    else:
        when = parse_when_field(current.when, scope=scope, election=election,
                                now=min(now, current.updated_at))
    operations = None
    if given("operations"):
        try:
            operations = validate_operations(data.get("operations"), scope=scope)
        except InvalidInput as exc:
            errors.update(exc.detail)
    else:
        operations = current.operations
    recipients = None
    try:
        recipients = recipients_module.validate(
            data.get("recipients") if given("recipients") else current.recipients, scope=scope,
            election_needed_for_grants=not isinstance(when, OnStatus))
    except InvalidInput as exc:
        errors.update(exc.detail)
    if errors:
        raise InvalidInput(errors)
    return AutomationSpec(name.strip(), active, when, operations, recipients)


def validate_operations(data, *, scope: str) -> dict:
    """Canonical operations through the run engine's registry; ``InvalidInput`` naming
    ``operations.<name>`` (unknown, or not for this scope) or ``operations.<name>.<param>``."""
    from scheduling import operations as registry

    internal = [str(name) for name in data if str(name).startswith(INTERNAL_PREFIX)] \
        if isinstance(data, dict) else []
    if internal:
        raise InvalidInput({f"operations.{internal[0][:60]}": [
            f"Unknown operation; choose one of: {', '.join(public_names(scope))}."]})
    return registry.validate(data, scope=scope)


def public_names(scope: str) -> list[str]:
    from scheduling import operations as registry

    return [name for name in registry.names(scope) if not name.startswith(INTERNAL_PREFIX)]

