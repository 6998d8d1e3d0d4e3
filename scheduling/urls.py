"""Pages of scheduled work across elections (``scheduling.views``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("upcoming/", views.upcoming, name="upcoming"),
    path("calendar/", views.my_calendar, name="my-calendar"),
    path("calendar/<str:token>.ics", views.calendar_feed, name="calendar-feed"),
]
