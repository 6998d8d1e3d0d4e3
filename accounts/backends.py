"""Django's password check, behind the login limiter."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from . import ratelimit


class RateLimitedModelBackend(ModelBackend):
    """``ModelBackend`` that checks a web request's password only if the limiter allows it.

    Every door calls ``authenticate(request, …)`` (Django's and the admin's login forms,
    DRF's token serializer), so no door can skip the limit. Refused: ``PermissionDenied``
    (``authenticate`` then returns None) with the refusal kept on the request for the
    door's 429. Without a request (shell, tests' ``client.login``) there is no client to
    limit and nothing is counted.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if request is None or username is None or password is None:
            return super().authenticate(request, username, password, **kwargs)
        attempt = ratelimit.begin(request, str(username))
        if isinstance(attempt, ratelimit.Refusal):
            raise PermissionDenied(attempt.message)
        user = super().authenticate(request, username, password, **kwargs)
        if user is not None:
            attempt.succeeded()
        return user
