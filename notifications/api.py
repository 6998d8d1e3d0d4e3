"""REST API for email templates and the outbox: thin views over services and selectors."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from elections.access import election_for
from elections.errors import InvalidInput
from elections.models import Permission
from elections.selectors import tree_ids

from . import selectors, services
from .models import EmailTemplate
from .serializers import (
    EmailTemplateSerializer,
    OutboxMessageSerializer,
    PreviewInSerializer,
    RenderedSerializer,
    TemplateInSerializer,
)

CHANGE_PERMISSION = selectors.CHANGE_TEMPLATES


def _parsed(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise InvalidInput(serializer.errors)
    return serializer.validated_data


class EmailTemplateListView(generics.ListAPIView):
    """Every email template (anyone signed in may read them: they hold no election data)."""

    serializer_class = EmailTemplateSerializer
    queryset = EmailTemplate.objects.order_by("name")


class EmailTemplateDetailView(APIView):
    serializer_class = EmailTemplateSerializer

    def get(self, request, name: str):
        return Response(EmailTemplateSerializer(get_object_or_404(EmailTemplate, name=name)).data)

    @extend_schema(request=TemplateInSerializer, responses=EmailTemplateSerializer)
    def put(self, request, name: str):
        """Replace the template; one that does not render is a 400 naming the field and line."""
        if not request.user.has_perm(CHANGE_PERMISSION):
            raise PermissionDenied(f"Changing email templates needs the {CHANGE_PERMISSION} permission.")
        get_object_or_404(EmailTemplate, name=name)
        data = _parsed(TemplateInSerializer, request.data)
        template = services.update_template(name, actor=request.user, **data)
        return Response(EmailTemplateSerializer(template).data)


class EmailTemplatePreviewView(APIView):
    serializer_class = RenderedSerializer

    @extend_schema(request=PreviewInSerializer, responses=RenderedSerializer)
    def post(self, request, name: str):
        """The template rendered for an election you may view, as you would receive it; with ``subject``,
        ``text`` or ``html``, those parts as edited (not saved; the change permission is needed). A part
        that does not compile or render is a 400 naming it and the line."""
        template = get_object_or_404(EmailTemplate, name=name)
        data = _parsed(PreviewInSerializer, request.data)
        election = election_for(request.user, data["election"]) if data.get("election") else None
        edited = {part: data[part] for part in ("subject", "text", "html") if part in data}
        if edited and not request.user.has_perm(CHANGE_PERMISSION):
            raise PermissionDenied(f"Previewing an edit needs the {CHANGE_PERMISSION} permission.")
        parts = {"subject": template.subject, "text": template.text, "html": template.html, **edited}
        rendered = services.preview_parts(parts["subject"], parts["text"], parts["html"], election,
                                          request.user)
        return Response({"subject": rendered.subject, "text": rendered.text, "html": rendered.html})


STATE_PARAMETER = OpenApiParameter("state", str, enum=["queued", "sending", "sent", "failed"],
                                   description="Only messages in this state.")


class ElectionEmailsView(generics.GenericAPIView):
    """The emails about the election and its descendants, newest first (edit grant: shows addresses)."""

    serializer_class = OutboxMessageSerializer

    @extend_schema(responses=OutboxMessageSerializer(many=True), parameters=[STATE_PARAMETER])
    def get(self, request, pk: int):
        election = election_for(request.user, pk, Permission.EDIT)
        rows = selectors.messages(election_ids=tree_ids(election), state=request.query_params.get("state"))
        return self.get_paginated_response(self.get_serializer(self.paginate_queryset(rows), many=True).data)


class EmailsView(generics.GenericAPIView):
    """Every email, newest first (superusers only)."""

    serializer_class = OutboxMessageSerializer

    @extend_schema(responses=OutboxMessageSerializer(many=True), parameters=[STATE_PARAMETER])
    def get(self, request):
        if not request.user.is_superuser:
            raise PermissionDenied("Only superusers may list every email.")
        rows = selectors.messages(state=request.query_params.get("state"))
        return self.get_paginated_response(self.get_serializer(self.paginate_queryset(rows), many=True).data)
