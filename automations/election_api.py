"""The election API with each election's automations in it.

An API view that shows several apps lives in the highest app it needs (DESIGN.md,
Layout): these views are ``elections.api``'s, with ``automations`` added to what they
render, and ``config.urls`` routes ``/api/elections/`` and ``/api/elections/{id}/`` here.
The upload itself accepts ``automations`` through the section ``automations`` registers
in ``scheduling.election_config`` (see ``election_config.py``), so scheduling never
imports this app.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from elections import api as election_api
from elections.models import PERMISSION_RANK, Election, Permission
from elections.serializers import ElectionConfigSerializer, ElectionSerializer
from scheduling.election_config import import_election_config

from .selectors import automations_for_elections
from .serializers import AutomationInSerializer, AutomationSerializer


class ElectionWithAutomationsSerializer(ElectionSerializer):
    """An election with its automations (recipients only for who may change them)."""

    automations = serializers.SerializerMethodField()

    class Meta(ElectionSerializer.Meta):
        fields = [*ElectionSerializer.Meta.fields, "automations"]
        read_only_fields = fields

    @extend_schema_field(AutomationSerializer(many=True))
    def get_automations(self, election) -> list[dict]:
        found = self.context.get("automations")
        rows = found.get(election.pk, []) if found is not None else \
            automations_for_elections([election.pk])[election.pk]
        return AutomationSerializer(rows, many=True, context=self.context).data


class ElectionConfigWithAutomationsSerializer(ElectionConfigSerializer):
    automations = AutomationInSerializer(many=True, required=False,
                                         help_text="At most 100 per election; also in each child.")


def _render(elections, *, show_recipients: bool, many: bool):
    items = list(elections) if many else [elections]
    context = {"automations": automations_for_elections([e.pk for e in items]),
               "show_recipients": show_recipients}
    return ElectionWithAutomationsSerializer(elections, many=many, context=context).data


class ElectionListCreateView(election_api.ElectionListCreateView):
    serializer_class = ElectionWithAutomationsSerializer

    @extend_schema(operation_id="elections_list", responses=ElectionWithAutomationsSerializer(many=True),
                   parameters=[OpenApiParameter("parent", int,
                                                description="Only the direct children of this election.")])
    def get(self, request):
        queryset = self.get_queryset()
        parent = election_api.id_param(request, "parent", "Must be the integer id of an election.")
        if parent is not None:
            queryset = queryset.filter(parent_id=parent)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(_render(page, show_recipients=False, many=True))

    @extend_schema(request=ElectionConfigWithAutomationsSerializer,
                   responses={201: ElectionWithAutomationsSerializer})
    def post(self, request):
        """Create an election (children, schedules, automations) from its JSON configuration."""
        top_level = not isinstance(request.data, dict) or request.data.get("parent") is None
        if top_level and not request.user.has_perm("elections.add_election"):
            raise PermissionDenied(
                "You may not create top-level elections (ask for the elections.add_election "
                "permission), but you may create children under an election you can edit."
            )
        election = import_election_config(request.data, actor=request.user)
        election = election_api.with_api_prefetch(Election.objects.filter(pk=election.pk)).get()
        return Response(_render(election, show_recipients=True, many=False), status=status.HTTP_201_CREATED)


class ElectionDetailView(election_api.ElectionDetailView):
    serializer_class = ElectionWithAutomationsSerializer

    @extend_schema(responses=ElectionWithAutomationsSerializer)
    def get(self, request, pk: int):
        election = election_api.election_for(request, pk)
        may_write = election.granted_rank >= PERMISSION_RANK[Permission.SCHEDULE_EVENTS]
        election = election_api.with_api_prefetch(Election.objects.filter(pk=election.pk)).get()
        return Response(_render(election, show_recipients=may_write, many=False))
