"""Pages. Thin: check who asks, call one service, render."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from config.input import parse_id
from elections.access import election_for
from elections.errors import InvalidInput
from elections.models import Permission, time_zone_names
from elections.selectors import tree_ids

from . import selectors, services
from .models import EmailTemplate, MessageState, UserSettings
from .serializers import TemplateInSerializer
from .unsubscribe import read_token

PAGE_SIZE = 50


@login_required
@require_http_methods(["GET", "POST"])
def my_settings(request):
    """The user's time zone for emails, and the automations they unsubscribed from (undoable)."""
    if request.method == "POST":
        if "undo" in request.POST:
            try:
                resumed = services.undo_unsubscribe(request.user, parse_id(request.POST["undo"]))
            except ValueError:
                resumed = False
            if resumed:
                messages.success(request, "Resumed: you will get these messages again.")
            else:
                messages.error(request, "Nothing to resume: choose one of the automations listed as still "
                                        "stopped (it may have been resumed already).")
        else:
            try:
                services.set_time_zone(request.user, request.POST.get("time_zone", "").strip())
                messages.success(request, "Saved.")
            except InvalidInput as exc:
                messages.error(request, exc.detail["time_zone"][0])
        return redirect("my-settings")
    chosen = UserSettings.objects.filter(user=request.user).values_list("time_zone", flat=True).first() or ""
    return render(request, "notifications/settings.html", {
        "chosen": chosen, "zones": sorted(time_zone_names()),
        "unsubscribes": selectors.unsubscribes_of(request.user)[:200],
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
    """The emails about the election and its descendants (edit grant; 404 when it may not be viewed)."""
    election = election_for(request.user, pk, Permission.EDIT)
    ids = tree_ids(election)
    return _outbox_page(request, lambda state: selectors.messages(election_ids=ids, state=state),
                        {"election": election})


@login_required
def outbox(request):
    """Every email (superusers)."""
    if not request.user.is_superuser:
        raise PermissionDenied("Only superusers may see every email.")
    return _outbox_page(request, lambda state: selectors.messages(state=state),
                        {"transport": settings.EMAIL_CONFIG.describe()})


@login_required
def outbox_message(request, pk: int):
    """One email as it was sent: headers, text, and the HTML in a sandboxed frame (never run here)."""
    message = selectors.readable_message(request.user, pk)
    return render(request, "notifications/message.html", {
        "message": message, "election": _election_shown(request.user, message.election_id),
    })


def _election_shown(user, election_id):
    """The message's election when ``user`` may edit it (for the link back to its outbox), else None."""
    if election_id is None:
        return None
    try:
        return election_for(user, election_id, Permission.EDIT)
    except (Http404, PermissionDenied):  # a superuser or the recipient reading it
        return None


# --- email templates ------------------------------------------------------------------------------

def _require_template_editor(user) -> None:
    if not selectors.may_edit_templates(user):
        raise PermissionDenied(f"Email templates need the {selectors.CHANGE_TEMPLATES} permission.")


@login_required
def template_list(request):
    """Every email template with what sends it (those who may edit templates)."""
    _require_template_editor(request.user)
    return render(request, "notifications/templates.html",
                  {"rows": selectors.templates_with_uses(request.user)})


def _chosen_election(user, raw: str | None):
    """The election picked for a preview or a test (one ``user`` may view), or None for "no election"."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return election_for(user, parse_id(raw))
    except ValueError:
        raise InvalidInput({"election": ["Choose an election from the list, or none."]}) from None


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request, name: str):
    """Edit a template's subject, text and HTML; the preview beside it renders them for a chosen election.

    POST saves (through ``services.update_template``); a part that does not compile or render is
    a 400 with the error beside that field, and nothing is stored."""
    _require_template_editor(request.user)
    template = get_object_or_404(EmailTemplate, name=name)
    elections = selectors.preview_elections(request.user)
    values = {"subject": template.subject, "text": template.text, "html": template.html}
    errors, status = {}, 200
    if request.method == "POST":
        # Browsers send a textarea's line breaks as CRLF; templates keep plain newlines.
        values = {part: request.POST.get(part, "").replace("\r\n", "\n") for part in values}
        form = TemplateInSerializer(data=values)
        try:
            if not form.is_valid():
                raise InvalidInput(form.errors)
            services.update_template(name, actor=request.user, **form.validated_data)
        except InvalidInput as exc:
            errors, status = {key: " ".join(map(str, value)) for key, value in exc.detail.items()}, 400
        else:
            messages.success(request, f"Saved {name}.")
            return redirect("email-template", name=name)
    chosen = request.GET.get("election") or (str(elections[0].pk) if elections else "")
    election, preview, preview_errors = None, None, {}
    try:
        election = _chosen_election(request.user, chosen)
        preview = services.preview_parts(values["subject"], values["text"], values["html"], election,
                                         request.user)
    except InvalidInput as exc:
        preview_errors = exc.detail
    return render(request, "notifications/template_edit.html", {
        "template": template, "values": values, "errors": errors, "elections": elections,
        "election": election, "preview": preview, "preview_errors": preview_errors,
    }, status=status)


@login_required
@require_POST
def template_test(request, name: str):
    """Queue the saved template to the signed-in user through the outbox; show the queued message."""
    _require_template_editor(request.user)
    template = get_object_or_404(EmailTemplate, name=name)
    try:
        election = _chosen_election(request.user, request.POST.get("election"))
        message = services.send_test(template.name, election, request.user)
    except InvalidInput as exc:
        messages.error(request, " ".join(str(m) for value in exc.detail.values() for m in value))
        return redirect("email-template", name=name)
    messages.success(request, f"Test of {name} queued to {message.address}; the email worker sends it. "
                              "This page shows whether it went.")
    return redirect("outbox-message", pk=message.pk)
