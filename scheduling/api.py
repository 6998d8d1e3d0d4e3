"""REST API for an election's scheduled events and their history."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from elections.api import election_for
from elections.models import Permission
from elections.serializers import (
    ScheduledEventsInSerializer,
    ScheduledEventsOutSerializer,
    events_payload,
)

from . import selectors, services
from .serializers import EventHistorySerializer
from .validation import parse_scheduled_events


class ScheduledEventsView(APIView):
    """GET the pending events; POST/PUT replace both kinds; PATCH changes the kinds sent."""

    serializer_class = ScheduledEventsOutSerializer

    def get(self, request, pk: int):
        election = election_for(request, pk)
        pending = services.pending_events(election.pk)
        return Response(events_payload(pending))

    def _write(self, request, pk: int, *, partial: bool):
        election = election_for(request, pk, Permission.SCHEDULE_EVENTS)
        events = parse_scheduled_events(request.data, partial=partial)
        pending = services.configure(election, events, actor=request.user, replace=not partial)
        return Response(events_payload(pending))

    @extend_schema(request=ScheduledEventsInSerializer, responses=ScheduledEventsOutSerializer)
    def post(self, request, pk: int):
        return self._write(request, pk, partial=False)

    @extend_schema(request=ScheduledEventsInSerializer, responses=ScheduledEventsOutSerializer)
    def put(self, request, pk: int):
        return self._write(request, pk, partial=False)

    @extend_schema(request=ScheduledEventsInSerializer, responses=ScheduledEventsOutSerializer)
    def patch(self, request, pk: int):
        return self._write(request, pk, partial=True)


class ScheduledEventsHistoryView(generics.GenericAPIView):
    """Every scheduled-event row of the election, newest first, with what became of it."""

    serializer_class = EventHistorySerializer

    @extend_schema(responses=EventHistorySerializer(many=True))
    def get(self, request, pk: int):
        election = election_for(request, pk)
        page = self.paginate_queryset(selectors.history_for(election.pk))
        return self.get_paginated_response(EventHistorySerializer(page, many=True).data)
