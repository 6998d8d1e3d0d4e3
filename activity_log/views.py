"""The activity-log page: newest first, paginated, filterable by action and by election.

The caller (``elections.views``) checks access and passes the election tree, so
this module does not import ``elections`` (imports point elections -> activity_log).
"""

from django.core.paginator import Paginator
from django.shortcuts import render

from config.input import parse_id

from .models import Action
from .presentation import present
from .selectors import entries_for

PAGE_SIZE = 50


def activity_page(request, *, election, tree: list, template: str = "activity_log/page.html"):
    """Render the log of ``election`` and ``tree`` (it and every descendant, objects with pk and title)."""
    tree_ids = [item.pk for item in tree]
    action = request.GET.get("action") or ""
    if action not in Action.values:
        action = ""
    election_filter = request.GET.get("election") or ""
    try:
        election_id = parse_id(election_filter)
    except ValueError:  # not an id (e.g. "²"): show the whole tree
        election_id = None
    if election_id not in tree_ids:
        election_id, election_filter = None, ""
    entries = entries_for(election.pk, action=action or None, election_id=election_id)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, template, {
        "election": election,
        "tree": tree,
        "actions": Action.choices,
        "selected_action": action,
        "selected_election": str(election_id) if election_id else "",
        "page": page,
        "lines": present(page.object_list),
        "filter_query": query.urlencode(),
        # Also when the children are gone: their rows stay, named by title and id.
        "show_election": len(tree) > 1 or any(e.election_id != election.pk for e in page.object_list),
    })
