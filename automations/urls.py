"""API routes of automations (included under ``/api/`` by ``config.urls``)."""

from django.urls import path

from . import api, election_api

urlpatterns = [
    path("elections/<int:pk>/automations/", api.AutomationListView.as_view(),
         name="api-election-automations"),
    path("elections/<int:pk>/automations/<int:aid>/", api.AutomationDetailView.as_view(),
         name="api-election-automation"),
    path("elections/<int:pk>/automations/<int:aid>/runs/", api.AutomationRunsView.as_view(),
         name="api-election-automation-runs"),
    path("elections/<int:pk>/automations/<int:aid>/runs/<int:rid>/", api.AutomationRunView.as_view(),
         name="api-election-automation-run"),
    path("automations/", api.GlobalAutomationListView.as_view(), name="api-automations"),
    path("automations/preview/", api.PreviewView.as_view(), name="api-automation-preview"),
    path("automations/recipient-suggestions/", api.RecipientSuggestionsView.as_view(),
         name="api-automation-recipient-suggestions"),
    path("automations/<int:aid>/", api.GlobalAutomationDetailView.as_view(), name="api-automation"),
    path("automations/<int:aid>/runs/", api.GlobalAutomationRunsView.as_view(),
         name="api-automation-runs"),
    path("automations/<int:aid>/runs/<int:rid>/", api.GlobalAutomationRunView.as_view(),
         name="api-automation-run"),
]

#: The election routes that show automations with the election (they override elections.api's).
election_patterns = [
    path("elections/", election_api.ElectionListCreateView.as_view(), name="api-election-list"),
    path("elections/<int:pk>/", election_api.ElectionDetailView.as_view(), name="api-election-detail"),
]
