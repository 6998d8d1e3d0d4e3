"""API plumbing shared by every app: domain errors as HTTP answers, the token endpoint."""

from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle
from rest_framework.views import exception_handler as drf_exception_handler

from elections.errors import InvalidInput, TransitionNotAllowed


def exception_handler(exc, context):
    """InvalidInput -> 400 with the field errors; TransitionNotAllowed -> 409."""
    if isinstance(exc, InvalidInput):
        return Response(exc.detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, TransitionNotAllowed):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)


def client_address(request) -> str:
    """The client's address for rate limits: REMOTE_ADDR, or from X-Forwarded-For behind
    ``TRUSTED_PROXIES`` proxies (the same rule as the API's throttles)."""
    return BaseThrottle().get_ident(request) or "unknown"


class TokenView(ObtainAuthToken):
    """POST username and password, get the API token (rate limited per client)."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"
