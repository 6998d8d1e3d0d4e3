"""Pages of scheduled work across elections (``scheduling.views``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("upcoming/", views.upcoming, name="upcoming"),
]
