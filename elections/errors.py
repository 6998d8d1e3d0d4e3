"""Domain errors the API turns into HTTP answers."""


class InvalidInput(Exception):
    """Bad input; ``detail`` is a dict keyed by field (nested like the input) -> messages."""

    def __init__(self, detail: dict):
        super().__init__(detail)
        self.detail = detail


class TransitionNotAllowed(Exception):
    """A status change the election's current status does not allow (HTTP 409)."""
