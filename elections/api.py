"""REST API for elections: thin views that check the grant, call one service and render."""

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from activity_log.models import Action
from activity_log.selectors import entries_for
from activity_log.serializers import ActivityEntrySerializer
from config.input import parse_id
from scheduling import configuring
from scheduling.election_config import import_election_config
from scheduling.models import Kind, ScheduledEvent, State

from . import access
from .errors import InvalidInput
from .models import Election, Permission, StatusAction
from .selectors import tree_ids, viewable_elections
from .serializers import ElectionConfigSerializer, ElectionSerializer


def election_for(request, pk: int, permission: str = Permission.VIEW) -> Election:
    """The election if the caller holds ``permission`` on it: 404 without view, 403 without the rest."""
    return access.election_for(request.user, pk, permission)


def id_param(request, name: str, explain: str) -> int | None:
    """The query parameter ``name`` as an id, None when absent; InvalidInput naming it otherwise."""
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        return parse_id(value)
    except ValueError:
        raise InvalidInput({name: [explain]}) from None


def with_api_prefetch(queryset):
    return queryset.prefetch_related(
        Prefetch("children", queryset=Election.objects.only("id", "parent_id")),
        Prefetch("scheduled_events", queryset=ScheduledEvent.objects.filter(state=State.PENDING,
                                                                         kind__in=Kind.VOTING),
                 to_attr="pending_events"),
    )


class ElectionListCreateView(generics.GenericAPIView):
    serializer_class = ElectionSerializer

    def get_queryset(self):
        return with_api_prefetch(viewable_elections(self.request.user).order_by("pk"))

    @extend_schema(operation_id="elections_list", responses=ElectionSerializer(many=True), parameters=[
        OpenApiParameter("parent", int, description="Only the direct children of this election."),
    ])
    def get(self, request):
        queryset = self.get_queryset()
        parent = id_param(request, "parent", "Must be the integer id of an election.")
        if parent is not None:
            queryset = queryset.filter(parent_id=parent)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(ElectionSerializer(page, many=True).data)

    @extend_schema(request=ElectionConfigSerializer, responses={201: ElectionSerializer})
    def post(self, request):
        """Create an election (and its children and schedules) from its JSON configuration."""
        top_level = not isinstance(request.data, dict) or request.data.get("parent") is None
        if top_level and not request.user.has_perm("elections.add_election"):
            raise PermissionDenied(
                "You may not create top-level elections (ask for the elections.add_election "
                "permission), but you may create children under an election you can edit."
            )
        election = import_election_config(request.data, actor=request.user)
        election = with_api_prefetch(Election.objects.filter(pk=election.pk)).get()
        return Response(ElectionSerializer(election).data, status=status.HTTP_201_CREATED)


class ElectionDetailView(APIView):
    serializer_class = ElectionSerializer

    def get(self, request, pk: int):
        election = election_for(request, pk)
        election = with_api_prefetch(Election.objects.filter(pk=election.pk)).get()
        return Response(ElectionSerializer(election).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        """Delete the election and its children; their pending events are cancelled and revoked."""
        election = election_for(request, pk, Permission.EDIT)
        configuring.delete_election(election, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ElectionStatusActionView(APIView):
    """POST to start, stop, suspend or resume the election and its children by hand."""

    serializer_class = ElectionSerializer
    action_name: str = ""

    @extend_schema(request=None, responses={200: ElectionSerializer})
    def post(self, request, pk: int):
        election = election_for(request, pk, Permission.EDIT)
        configuring.change_status(election, self.action_name, actor=request.user)
        election = with_api_prefetch(Election.objects.filter(pk=pk)).get()
        return Response(ElectionSerializer(election).data)


STATUS_ACTION_VIEWS = {
    action: type(f"Election{action.title()}View", (ElectionStatusActionView,), {"action_name": action})
    for action in StatusAction.values
}


class ActivityView(generics.GenericAPIView):
    """The activity of the election and its descendants, newest first."""

    serializer_class = ActivityEntrySerializer

    @extend_schema(responses=ActivityEntrySerializer(many=True), parameters=[
        OpenApiParameter("action", str, enum=Action.values, description="Only rows with this action."),
        OpenApiParameter("election", int, description="Only rows of this election (itself or a descendant)."),
    ])
    def get(self, request, pk: int):
        election = election_for(request, pk)
        election_filter = id_param(request, "election",
                                   "Must be the integer id of this election or a descendant.")
        action = request.query_params.get("action")
        if action is not None and action not in Action.values:
            return Response({"action": [f"Unknown action; use one of {', '.join(Action.values)}."]},
                            status=status.HTTP_400_BAD_REQUEST)
        entries = entries_for(tree_ids(election), action=action,
                              election_id=election_filter)
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(ActivityEntrySerializer(page, many=True).data)
