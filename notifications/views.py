"""Pages. Thin: check who asks, call one service, render."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from elections.access import election_for
from elections.errors import InvalidInput
from elections.models import Permission, time_zone_names
from elections.selectors import tree_ids

from . import selectors, services
from .models import MessageState, Unsubscribe, UserSettings
from .unsubscribe import read_token

PAGE_SIZE = 50


@login_required
@require_http_methods(["GET", "POST"])
def my_settings(request):
    """The user's time zone for emails, and the automations they unsubscribed from (undoable)."""
    if request.method == "POST":
        try:
            if "undo" in request.POST:
                if services.undo_unsubscribe(request.user, int(request.POST["undo"])):
                    messages.success(request, "You will get these messages again.")
            else:
                services.set_time_zone(request.user, request.POST.get("time_zone", "").strip())
                messages.success(request, "Saved.")
        except (InvalidInput, ValueError) as exc:
            detail = getattr(exc, "detail", {}).get("time_zone", ["Invalid input."])
            messages.error(request, detail[0])
        return redirect("my-settings")
    chosen = UserSettings.objects.filter(user=request.user).values_list("time_zone", flat=True).first() or ""
    return render(request, "notifications/settings.html", {
        "chosen": chosen, "zones": sorted(time_zone_names()),
        "unsubscribes": Unsubscribe.objects.filter(user=request.user)[:200],
    })


@csrf_exempt  # RFC 8058: mail clients POST without a session; the signed token is the credential
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    """GET asks to confirm (link scanners must not unsubscribe anyone); POST unsubscribes."""
    data = read_token(token)
    user = get_user_model().objects.filter(pk=data["u"]).first() if data else None
    if user is None:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=400)
    done = None
    if request.method == "POST":
        done = services.unsubscribe(user, data["s"], data.get("l", ""))
    return render(request, "notifications/unsubscribe.html", {"label": data.get("l") or data["s"],
                                                              "done": done})


def _outbox_page(request, rows, context: dict):
    state = request.GET.get("state") or None
    if state not in (None, *MessageState.values):
        state = None
    page = Paginator(rows(state), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "notifications/outbox.html", {
        **context, "page": page, "state": state, "states": MessageState.values,
        "filter_query": f"state={state}" if state else "",
    })


@login_required
def election_outbox(request, pk: int):
    election = election_for(request.user, pk, Permission.EDIT)
    ids = tree_ids(election)
    return _outbox_page(request, lambda state: selectors.messages(election_ids=ids, state=state),
                        {"election": election})


@login_required
def outbox(request):
    if not request.user.is_superuser:
        raise PermissionDenied("Only superusers may see every email.")
    from django.conf import settings

    return _outbox_page(request, lambda state: selectors.messages(state=state),
                        {"transport": settings.EMAIL_CONFIG.describe()})
