"""API plumbing shared by every app: domain errors as HTTP answers, the token endpoint."""

from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.ratelimit import refusal_for
from elections.errors import InvalidInput, TransitionNotAllowed


def exception_handler(exc, context):
    """InvalidInput -> 400 with the field errors; TransitionNotAllowed -> 409."""
    if isinstance(exc, InvalidInput):
        return Response(exc.detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, TransitionNotAllowed):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)


class TokenView(ObtainAuthToken):
    """POST username and password, get the API token.

    The password is checked through the login limiter (``accounts.ratelimit``: failures
    per client address and per username, whoever the caller is); refused: 429 with
    ``Retry-After``.
    """

    throttle_classes = []

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except ValidationError:
            refusal = refusal_for(request)
            if refusal is not None:
                raise Throttled(wait=refusal.retry_after, detail="Too many failed log-in attempts.") from None
            raise
