from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts.views import admin_login
from elections import api as election_api
from scheduling import api as scheduling_api

from .api import TokenView
from .health import healthz

api_patterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("elections/", election_api.ElectionListCreateView.as_view(), name="api-election-list"),
    path("elections/<int:pk>/", election_api.ElectionDetailView.as_view(), name="api-election-detail"),
    path("elections/<int:pk>/scheduled-events/", scheduling_api.ScheduledEventsView.as_view(),
         name="api-scheduled-events"),
    path("elections/<int:pk>/scheduled-events/history/",
         scheduling_api.ScheduledEventsHistoryView.as_view(), name="api-scheduled-events-history"),
    path("elections/<int:pk>/activity/", election_api.ActivityView.as_view(), name="api-activity"),
    *[
        path(f"elections/<int:pk>/{action}/", view.as_view(), name=f"api-election-{action}")
        for action, view in election_api.STATUS_ACTION_VIEWS.items()
    ],
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    path("healthz", healthz, name="healthz"),
    # The admin's log-in, answering 429 when the login limiter refuses (before admin.site.urls).
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
    path("", include("scheduling.urls")),
    path("", include("elections.urls")),
]
