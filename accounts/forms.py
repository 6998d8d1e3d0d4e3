"""Log-in forms that say when the limiter refused, instead of "wrong password"."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from .ratelimit import refusal_for


class RefusalMessageMixin:
    def get_invalid_login_error(self):
        refusal = refusal_for(self.request) if self.request is not None else None
        if refusal is not None:
            return ValidationError(refusal.message, code="rate_limited")
        return super().get_invalid_login_error()


class LoginForm(RefusalMessageMixin, AuthenticationForm):
    pass


class AdminLoginForm(RefusalMessageMixin, AdminAuthenticationForm):
    pass
