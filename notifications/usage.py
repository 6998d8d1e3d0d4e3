"""What uses each email template: this app's own senders, and those other apps register.

Apps above this one (automations) send with templates too; they register a function
here from their ``ready`` instead of this app importing them, so imports keep pointing
one way.
"""

from collections.abc import Callable

#: Templates this app sends by itself, whatever anyone configured.
BUILT_IN_USES = {
    "event-alert": ["Alerts to editors and superusers when an event is skipped, fails or runs late"],
    "election-summary": ["Every automation that sends a summary"],
}

#: Called with the user who asks: it must not name what they may not view.
UsesProvider = Callable[[object], dict[str, list[str]]]
_providers: list[UsesProvider] = []


def register(provider: UsesProvider) -> None:
    """Add ``provider``: ``provider(user)`` returns ``{template name: [a use in words, ...]}``, naming
    only what ``user`` may view."""
    if provider not in _providers:
        _providers.append(provider)


def uses_of_templates(user) -> dict[str, list[str]]:
    """``{template name: [a use in words, ...]}``: the built-in uses, then every registered provider's
    as ``user`` may see them."""
    found: dict[str, list[str]] = {name: list(uses) for name, uses in BUILT_IN_USES.items()}
    for provider in _providers:
        for name, uses in provider(user).items():
            found.setdefault(name, []).extend(uses)
    return found
