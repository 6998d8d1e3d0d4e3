"""Parsing of the ``scheduled_events`` object sent by clients.

Errors are ``InvalidInput`` with a detail keyed like the input
(``{"start_voting": {"event_at": ["..."]}}``) so a client can show each next
to its field.
"""

from datetime import UTC, datetime

from elections.errors import InvalidInput

from .models import Kind

EXAMPLE = "2026-09-12T09:26:00Z"
SERVER_FIELDS = ("task_id", "state")


def parse_event_at(value) -> datetime:
    """An ISO 8601 date-time with a UTC offset, as an aware UTC datetime; ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"Must be a string in ISO 8601 with a UTC offset, e.g. {EXAMPLE}.")
    text = value.strip()
    if "T" not in text.upper() and " " not in text:
        raise ValueError(f"Needs a date and a time with a UTC offset, e.g. {EXAMPLE}.")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"'{value[:40]}' is not an ISO 8601 date-time; use e.g. {EXAMPLE} or "
            "2026-09-12T11:26:00+02:00."
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(
            f"Has no UTC offset, so the instant is ambiguous; add Z or +hh:mm, e.g. {EXAMPLE}."
        )
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"Is out of range; use a date-time like {EXAMPLE}.") from None


def parse_scheduled_events(data, *, partial: bool) -> dict[str, datetime | None]:
    """Turn the client's object into ``{kind: datetime or None}``.

    With ``partial=False`` (replace) every kind is in the result, None for one that
    is null or left out (cancel it). With ``partial=True`` only the kinds present
    are, None meaning cancel. Raises ``InvalidInput`` naming every field that is wrong.
    """
    result, errors = scheduled_events_and_errors(data, partial=partial)
    if errors:
        raise InvalidInput(errors)
    return result


def scheduled_events_and_errors(data, *, partial: bool) -> tuple[dict[str, datetime | None], dict]:
    """``parse_scheduled_events`` without raising: the kinds that parsed, and the errors of the
    others keyed like the input (a kind with an error is None, or absent when ``partial``)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return ({} if partial else dict.fromkeys(Kind.VOTING)), {"non_field_errors": [
            f'Expected an object like {{"start_voting": {{"event_at": "{EXAMPLE}"}}, "end_voting": null}}.'
        ]}
    errors: dict = {}
    result: dict[str, datetime | None] = {} if partial else dict.fromkeys(Kind.VOTING)
    for key, value in data.items():
        if key not in Kind.VOTING:
            errors[str(key)] = [f"Unknown event kind '{str(key)[:40]}'; use start_voting or end_voting."]
            continue
        if value is None:
            result[key] = None
            continue
        if not isinstance(value, dict):
            errors[key] = [f'Must be an object like {{"event_at": "{EXAMPLE}"}}, or null to cancel.']
            continue
        field_errors = {}
        for server_field in SERVER_FIELDS:
            if server_field in value:
                field_errors[server_field] = [
                    f"Is set by the server; leave {server_field} out of what you send."
                ]
        for extra in sorted(set(value) - {"event_at", *SERVER_FIELDS}):
            field_errors[str(extra)] = [f"Unknown field '{str(extra)[:40]}'; only event_at is accepted."]
        if "event_at" not in value:
            field_errors["event_at"] = [
                f"This field is required, e.g. {EXAMPLE}; send null for {key} to cancel it."
            ]
        else:
            try:
                result[key] = parse_event_at(value["event_at"])
            except ValueError as exc:
                field_errors["event_at"] = [str(exc)]
        if field_errors:
            errors[key] = field_errors
            result.pop(key, None)  # a kind with an error is not used
            if not partial:
                result[key] = None
    return result, errors
