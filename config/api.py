"""API plumbing shared by every app: domain errors as HTTP answers, the token endpoint."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.ratelimit import refusal_for
from elections.errors import InvalidInput, TransitionNotAllowed

from .input import PARSER_CLASSES

#: At most this many error messages in one answer; the rest are counted ("… and 4,812 more").
MAX_ERRORS = 50


def exception_handler(exc, context):
    """InvalidInput -> 400 with the field errors (capped); TransitionNotAllowed -> 409;
    a body over DATA_UPLOAD_MAX_MEMORY_SIZE -> 413 and Django's other refusals of a
    request (too many fields...) -> 400, as JSON rather than Django's HTML page."""
    if isinstance(exc, InvalidInput):
        return Response(capped_errors(exc.detail), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, TransitionNotAllowed):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": (
            f"The request body is larger than the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} "
            "bytes; send less (upload a big configuration in parts)."
        )}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, SuspiciousOperation):
        return Response({"detail": f"The request was refused: {exc}"}, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, ValidationError):
        response.data = capped_errors(response.data)
    return response


def capped_errors(detail, limit: int = MAX_ERRORS):
    """``detail`` (errors nested like the input) with only its first ``limit`` messages, and
    a ``non_field_errors`` message counting the ones left out; unchanged when within it."""
    shown = [0]
    left_out = [0]

    def keep(node):
        if isinstance(node, dict):
            kept = {key: keep(value) for key, value in node.items()}
            return {key: value for key, value in kept.items() if value not in ({}, [])}
        if isinstance(node, list):
            kept = [keep(item) for item in node]
            return [item for item in kept if item not in ({}, [])]
        if shown[0] < limit:
            shown[0] += 1
            return node
        left_out[0] += 1
        return []

    if not isinstance(detail, dict | list):
        return detail
    kept = keep(detail)
    if not left_out[0]:
        return detail
    note = f"… and {left_out[0]:,} more errors; fix these first."
    if isinstance(kept, dict):
        kept["non_field_errors"] = [*kept.get("non_field_errors", []), note]
        return kept
    return [*kept, note]


class TokenView(ObtainAuthToken):
    """POST username and password, get the API token.

    The password is checked through the login limiter (``accounts.ratelimit``: failures
    per client address and per username, whoever the caller is); refused: 429 with
    ``Retry-After``.
    """

    throttle_classes = []
    parser_classes = PARSER_CLASSES

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except ValidationError:
            refusal = refusal_for(request)
            if refusal is not None:
                raise Throttled(wait=refusal.retry_after, detail="Too many failed log-in attempts.") from None
            raise
