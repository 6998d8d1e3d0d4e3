"""The API's token authentication.

Its own module: DRF imports the authentication classes while ``rest_framework.views``
loads, so this must not import views (``config.api`` does).
"""

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication (same header, answers and messages), with the token's
    user read in one plain query.

    It runs on every API request; DRF's ``select_related("user").get(key=...)`` cost
    1.8 M instructions of ORM work for a one-row lookup that costs 0.5 M as SQL
    (docs/benchmarks.md, benchmark 5).
    """

    def authenticate_credentials(self, key):
        token_model = self.get_model()
        user_model = get_user_model()
        q = connection.ops.quote_name
        sql = (
            f"SELECT u.* FROM {q(user_model._meta.db_table)} u "
            f"JOIN {q(token_model._meta.db_table)} t "
            f"ON t.{q(token_model._meta.get_field('user').column)} = u.{q(user_model._meta.pk.column)} "
            f"WHERE t.{q(token_model._meta.pk.column)} = %s"
        )
        user = next(iter(user_model.objects.raw(sql, [key])), None)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, token_model(key=key, user=user)
