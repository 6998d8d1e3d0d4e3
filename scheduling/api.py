"""REST API for an election's scheduled events and their history."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from elections.api import election_for
from elections.models import Permission
from elections.serializers import (
    ScheduledEventsInSerializer,
    ScheduledEventsOutSerializer,
    events_payload,
)

from . import configuring, selectors
from .errors import ScheduleChanged
from .serializers import EventHistorySerializer
from .validation import parse_scheduled_events

IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="The ETag of the schedule you read (GET). If the schedule changed since, nothing "
                "is saved and the answer is 412 saying who changed what. Leave it out to write "
                "whatever the schedule is now.")
WRITE_RESPONSES = {200: ScheduledEventsOutSerializer,
                   412: OpenApiResponse(OpenApiTypes.OBJECT, description="The schedule changed "
                                        "since the version in If-Match; nothing was saved.")}


def etag(pending: dict) -> str:
    return f'"{configuring.schedule_version(pending)}"'


def if_match(request) -> set[str] | None:
    """The versions named by ``If-Match``, or None when absent or ``*`` (write unconditionally)."""
    header = request.headers.get("If-Match", "").strip()
    if not header:
        return None
    tags = {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",") if tag.strip()}
    return None if "*" in tags else tags


class ScheduledEventsView(APIView):
    """GET the pending events (with an ``ETag``); POST/PUT replace both kinds; PATCH changes the
    kinds sent. A write with ``If-Match`` happens only if the schedule is still that version."""

    serializer_class = ScheduledEventsOutSerializer

    def get(self, request, pk: int):
        election = election_for(request, pk)
        pending = configuring.pending_events(election.pk)
        return Response(events_payload(pending), headers={"ETag": etag(pending)})

    def _write(self, request, pk: int, *, partial: bool):
        election = election_for(request, pk, Permission.SCHEDULE_EVENTS)
        events = parse_scheduled_events(request.data, partial=partial)
        try:
            pending = configuring.configure(election, events, actor=request.user, replace=not partial,
                                         expected_version=if_match(request))
        except ScheduleChanged as stale:
            last = stale.changes[-1] if stale.changes else None
            return Response({
                "detail": stale.message,
                "changed_by": (last.actor_name or last.on_behalf_of_name or None) if last else None,
                "changed_at": last.created_at if last else None,
                "current": events_payload(stale.pending),
            }, status=status.HTTP_412_PRECONDITION_FAILED, headers={"ETag": etag(stale.pending)})
        return Response(events_payload(pending), headers={"ETag": etag(pending)})

    @extend_schema(request=ScheduledEventsInSerializer, responses=WRITE_RESPONSES, parameters=[IF_MATCH])
    def post(self, request, pk: int):
        return self._write(request, pk, partial=False)

    @extend_schema(request=ScheduledEventsInSerializer, responses=WRITE_RESPONSES, parameters=[IF_MATCH])
    def put(self, request, pk: int):
        return self._write(request, pk, partial=False)

    @extend_schema(request=ScheduledEventsInSerializer, responses=WRITE_RESPONSES, parameters=[IF_MATCH])
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
