"""Small query helpers shared by the apps."""

from collections.abc import Collection

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL


def id_in(field: str, ids: Collection[int]) -> Q:
    """``field IN ids``; on PostgreSQL as one array parameter.

    For the thousands of ids of a big tree, Django building an ``IN`` list of one
    parameter each, and PostgreSQL parsing it, cost more than the query itself.
    """
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__in": RawSQL("SELECT unnest(%s::bigint[])", (list(ids),))})
    return Q(**{f"{field}__in": list(ids)})
