"""Page routes of automations (included at the site root by ``config.urls``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("elections/<int:pk>/automations/panel/", views.panel_fragment, name="election-automations-panel"),
    path("automations/", views.global_automations, name="global-automations"),
]
