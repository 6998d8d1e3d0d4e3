"""REST API of automations: thin views that check who asks, call one service or selector, render.

Election automations: ``view`` lists and reads them (without recipients), ``schedule-events``
sees recipients and writes. Global automations: superusers only (others get 403).
"""

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from config.input import MAX_ID, parse_id, text_problem
from elections import access
from elections.errors import InvalidInput
from elections.models import PERMISSION_RANK, Permission
from scheduling.models import ScheduledEvent
from scheduling.validation import parse_event_at

from . import preview as preview_module
from . import selectors, services
from .models import Automation
from .serializers import (
    AutomationInSerializer,
    AutomationSerializer,
    PreviewInSerializer,
    PreviewOutSerializer,
    RecipientSuggestionsSerializer,
    RunPatchSerializer,
    RunSerializer,
)


class AutomationScope:
    """Whose automations a view serves: an election's (by grant) or the global ones (superusers)."""

    global_scope = False

    def election(self, request, pk, permission=Permission.VIEW):
        """The election (None for global) if the caller holds ``permission``: 404/403 otherwise."""
        if self.global_scope:
            if not request.user.is_superuser:
                raise PermissionDenied("Only superusers may see or change global automations.")
            return None
        return access.election_for(request.user, pk, permission)

    def may_write(self, request, election) -> bool:
        if election is None:
            return request.user.is_superuser
        return election.granted_rank >= PERMISSION_RANK[Permission.SCHEDULE_EVENTS]

    def automation(self, election, aid) -> Automation:
        if not 0 <= aid <= MAX_ID:
            raise Http404("No such automation.")
        try:
            return selectors.automation_of(election.pk if election else None, aid)
        except Automation.DoesNotExist:
            raise Http404("No such automation here.") from None

    def render(self, request, election, automation, **kwargs):
        context = {"show_recipients": self.may_write(request, election)}
        return Response(AutomationSerializer(automation, context=context).data, **kwargs)


class AutomationListView(AutomationScope, generics.GenericAPIView):
    """GET the automations, oldest first, each with its ``next_run_at``; POST creates one."""

    serializer_class = AutomationSerializer

    @extend_schema(responses=AutomationSerializer(many=True))
    def get(self, request, pk: int | None = None):
        election = self.election(request, pk)
        page = self.paginate_queryset(selectors.automations_of(election.pk if election else None))
        context = {"show_recipients": self.may_write(request, election)}
        return self.get_paginated_response(AutomationSerializer(page, many=True, context=context).data)

    @extend_schema(request=AutomationInSerializer, responses={201: AutomationSerializer})
    def post(self, request, pk: int | None = None):
        election = self.election(request, pk, Permission.SCHEDULE_EVENTS)
        automation = services.create_automation(request.data, election=election, actor=request.user)
        automation = self.automation(election, automation.pk)
        return self.render(request, election, automation, status=status.HTTP_201_CREATED)


class AutomationDetailView(AutomationScope, APIView):
    """GET one automation; PUT replaces it, PATCH changes the fields sent (its pending runs are
    replaced by the new rule's); DELETE deletes it (its pending runs are cancelled)."""

    serializer_class = AutomationSerializer

    def get(self, request, aid: int, pk: int | None = None):
        election = self.election(request, pk)
        return self.render(request, election, self.automation(election, aid))

    def _write(self, request, pk, aid, *, partial: bool):
        election = self.election(request, pk, Permission.SCHEDULE_EVENTS)
        automation = self.automation(election, aid)
        services.update_automation(automation, request.data, actor=request.user, partial=partial)
        return self.render(request, election, self.automation(election, aid))

    @extend_schema(request=AutomationInSerializer, responses=AutomationSerializer)
    def put(self, request, aid: int, pk: int | None = None):
        return self._write(request, pk, aid, partial=False)

    @extend_schema(request=AutomationInSerializer(partial=True), responses=AutomationSerializer)
    def patch(self, request, aid: int, pk: int | None = None):
        return self._write(request, pk, aid, partial=True)

    @extend_schema(responses={204: None})
    def delete(self, request, aid: int, pk: int | None = None):
        election = self.election(request, pk, Permission.SCHEDULE_EVENTS)
        services.delete_automation(self.automation(election, aid), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AutomationRunsView(AutomationScope, generics.GenericAPIView):
    """The automation's runs, pending and past, newest first."""

    serializer_class = RunSerializer

    @extend_schema(responses=RunSerializer(many=True))
    def get(self, request, aid: int, pk: int | None = None):
        election = self.election(request, pk)
        page = self.paginate_queryset(selectors.runs_of(self.automation(election, aid)))
        return self.get_paginated_response(RunSerializer(page, many=True).data)


class AutomationRunView(AutomationScope, APIView):
    """PATCH ``{"enabled": false}`` turns one pending run off (it will be skipped), true back on."""

    serializer_class = RunSerializer

    @extend_schema(request=RunPatchSerializer, responses=RunSerializer)
    def patch(self, request, aid: int, rid: int, pk: int | None = None):
        election = self.election(request, pk, Permission.SCHEDULE_EVENTS)
        automation = self.automation(election, aid)
        data = request.data if isinstance(request.data, dict) else {}
        unknown = sorted(str(k)[:60] for k in data if k != "enabled")
        if unknown or "enabled" not in data:
            raise InvalidInput({(unknown[0] if unknown else "enabled"): [
                'Send only {"enabled": false} to turn the run off, or {"enabled": true} to turn it on.']})
        if not 0 <= rid <= MAX_ID:
            raise Http404("No such run.")
        try:
            run = services.set_run_enabled(automation, rid, data["enabled"], actor=request.user)
        except ScheduledEvent.DoesNotExist:
            raise Http404("No such run of this automation.") from None
        return Response(RunSerializer(run).data)


class PreviewView(APIView):
    """POST a ``when`` (and optionally an election, an instant to count from and the reader's
    time zone): its next five runs, plain words and DST warnings. A refused rule gets the same
    400 as on save."""

    serializer_class = PreviewOutSerializer

    @extend_schema(request=PreviewInSerializer, responses={200: PreviewOutSerializer,
                                                         400: OpenApiResponse(description="Bad input")})
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else None
        if data is None:
            raise InvalidInput({"non_field_errors": [
                'Expected {"when": {...}, "election"?: id, "from"?: instant}.']})
        unknown = sorted(str(k)[:60] for k in data if k not in ("when", "election", "from", "timezone"))
        if unknown:
            raise InvalidInput({unknown[0]: ["Unknown field; send when, election, from and timezone."]})
        election = None
        if data.get("election") is not None:
            try:
                election_id = parse_id(data["election"])
            except ValueError:
                raise InvalidInput({"election": ["Must be the integer id of an election."]}) from None
            election = access.election_for(request.user, election_id, Permission.VIEW)
        now = timezone.now()
        start = now
        if data.get("from") is not None:
            try:
                start = parse_event_at(data["from"])
            except ValueError as exc:
                raise InvalidInput({"from": [str(exc)]}) from None
        if "when" not in data:
            raise InvalidInput({"when": ['This field is required, e.g. {"cron_rule": "0 7 * * 1"}.']})
        result = preview_module.preview(data["when"], election=election, start=start, now=now,
                                        zone=data.get("timezone"))
        return Response(PreviewOutSerializer(result).data)


class RecipientSuggestionsView(APIView):
    """GET ``?q=al&election=5``: usernames and group names to pick as an automation's recipients
    (at most 10 of each). With ``election``: you need schedule-events on it, and you see the
    accounts and groups holding a grant on it or an ancestor (superusers: all). Without:
    for global automations, superusers only."""

    @extend_schema(parameters=[
        OpenApiParameter("q", str, description="Part of the name (at most 150 characters)."),
        OpenApiParameter("election", int, description="The election the automation belongs to."),
    ], responses=RecipientSuggestionsSerializer)
    def get(self, request):
        query = (request.query_params.get("q") or "").strip()
        if len(query) > 150:
            raise InvalidInput({"q": ["Is longer than 150 characters; type part of a name."]})
        if problem := text_problem(query):
            raise InvalidInput({"q": [problem]})
        raw = request.query_params.get("election") or ""
        if raw:
            try:
                election_id = parse_id(raw)
            except ValueError:
                raise InvalidInput({"election": ["Must be the integer id of an election."]}) from None
            election = access.election_for(request.user, election_id, Permission.SCHEDULE_EVENTS)
        elif request.user.is_superuser:
            election = None
        else:
            raise PermissionDenied("Only superusers may pick the recipients of global automations; "
                                   "give the election's id.")
        return Response(selectors.recipient_suggestions(request.user, election, query))


class GlobalAutomationListView(AutomationListView):
    global_scope = True


class GlobalAutomationDetailView(AutomationDetailView):
    global_scope = True


class GlobalAutomationRunsView(AutomationRunsView):
    global_scope = True


class GlobalAutomationRunView(AutomationRunView):
    global_scope = True
