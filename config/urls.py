from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts.views import admin_login
from automations import urls as automation_urls
from elections import api as election_api
from notifications import api as notification_api
from scheduling import api as scheduling_api

from .api import TokenView
from .health import healthz

api_patterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    # An election with its automations: served by the highest app it shows (automations).
    *automation_urls.election_patterns,
    path("elections/<int:pk>/scheduled-events/", scheduling_api.ScheduledEventsView.as_view(),
         name="api-scheduled-events"),
    path("elections/<int:pk>/scheduled-events/history/",
         scheduling_api.ScheduledEventsHistoryView.as_view(), name="api-scheduled-events-history"),
    path("elections/<int:pk>/activity/", election_api.ActivityView.as_view(), name="api-activity"),
    *[
        path(f"elections/<int:pk>/{action}/", view.as_view(), name=f"api-election-{action}")
        for action, view in election_api.STATUS_ACTION_VIEWS.items()
    ],
    path("email-templates/", notification_api.EmailTemplateListView.as_view(), name="api-email-templates"),
    path("email-templates/<slug:name>/", notification_api.EmailTemplateDetailView.as_view(),
         name="api-email-template"),
    path("email-templates/<slug:name>/preview/", notification_api.EmailTemplatePreviewView.as_view(),
         name="api-email-template-preview"),
    path("elections/<int:pk>/emails/", notification_api.ElectionEmailsView.as_view(),
         name="api-election-emails"),
    path("emails/", notification_api.EmailsView.as_view(), name="api-emails"),
    *automation_urls.urlpatterns,
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    path("healthz", healthz, name="healthz"),
    # The admin's log-in, answering 429 when the login limiter refuses (before admin.site.urls).
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
    path("", include("notifications.urls")),
    path("", include("automations.page_urls")),
    path("", include("scheduling.urls")),
    path("", include("elections.urls")),
]
