"""Pages. Thin: check access, read through selectors, render."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .selectors import viewable_elections


@login_required
def election_list(request):
    return render(request, "elections/list.html", {"elections": viewable_elections(request.user)})
