"""The one access rule both doors (API and pages) use to fetch an election."""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import Election, Permission
from .selectors import user_can


def election_for(user, pk: int, permission: str = Permission.VIEW) -> Election:
    """The election if ``user`` holds ``permission`` on it.

    Raises Http404 when the user may not view it (its existence is not revealed)
    and PermissionDenied when the grant does not cover ``permission``; DRF and
    Django turn them into 404 and 403.
    """
    election = Election.objects.filter(pk=pk).first()
    if election is None or not user_can(user, election, Permission.VIEW):
        raise Http404("No election with this id that you may view.")
    if permission != Permission.VIEW and not user_can(user, election, permission):
        raise PermissionDenied(f"You need the '{permission}' grant on election #{pk} to do this.")
    return election
