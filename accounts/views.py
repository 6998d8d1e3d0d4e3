"""The log-in doors for people: the page and the admin's (the API's is ``config.api.TokenView``).

Both check the password through ``RateLimitedModelBackend``; here only the answer to a
refused attempt: 429, ``Retry-After`` and a readable message.
"""

from django.contrib import admin
from django.contrib.auth import views as auth_views

from .forms import LoginForm
from .ratelimit import refusal_for, with_refusal_status


class LoginView(auth_views.LoginView):
    """Django's log-in page; a refused attempt re-renders the form with 429 and the wait."""

    template_name = "registration/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        refusal = refusal_for(self.request)
        response = self.render_to_response(self.get_context_data(
            form=form, retry_after=refusal.retry_after if refusal else None))
        return with_refusal_status(self.request, response)


def admin_login(request):
    """``/admin/login/``: the admin's own view (form ``AdminLoginForm``, set in ``accounts.admin``),
    answering 429 with ``Retry-After`` when the limiter refused."""
    return with_refusal_status(request, admin.site.login(request))
