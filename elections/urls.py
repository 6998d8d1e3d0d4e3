"""Server-rendered pages: log in, election list, dashboard with the modal, past events, activity log."""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts.views import LoginView

from . import views

urlpatterns = [
    # browsers and tools that ask for /favicon.ico without reading the page's <link rel="icon">
    path("favicon.ico", views.favicon),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.election_list, name="election-list"),
    path("elections/new/", views.upload, name="election-upload"),
    path("elections/new/parents/", views.parent_search, name="election-parent-search"),
    path("elections/<int:pk>/", views.dashboard, name="election-dashboard"),
    path("elections/<int:pk>/summary/", views.summary, name="election-summary"),
    path("elections/<int:pk>/events/", views.past_events, name="election-events"),
    path("elections/<int:pk>/activity/", views.activity, name="election-activity"),
    path("elections/<int:pk>/settings/", views.settings_page, name="election-settings"),
    path("elections/<int:pk>/delete/", views.delete_page, name="election-delete"),
]
