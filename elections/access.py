"""The one access rule both doors (API and pages) use to fetch an election."""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from config.input import MAX_ID

from .models import PERMISSION_RANK, Election, Permission
from .selectors import election_with_rank


def election_for(user, pk: int, permission: str = Permission.VIEW) -> Election:
    """The election if ``user`` holds ``permission`` on it.

    Raises Http404 when the user may not view it (its existence is not revealed)
    and PermissionDenied when the grant does not cover ``permission``; DRF and
    Django turn them into 404 and 403.
    """
    election = election_with_rank(user, pk) if 0 <= pk <= MAX_ID else None  # no such id fits a row
    rank = election.granted_rank if election is not None else 0
    if rank < PERMISSION_RANK[Permission.VIEW]:
        raise Http404("No election with this id that you may view.")
    if rank < PERMISSION_RANK[permission]:
        raise PermissionDenied(f"You need the '{permission}' grant on election #{pk} to do this.")
    return election
