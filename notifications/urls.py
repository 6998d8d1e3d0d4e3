"""Pages: My settings, one-click unsubscribe, the outbox."""

from django.urls import path

from . import views

urlpatterns = [
    path("settings/", views.my_settings, name="my-settings"),
    path("email/unsubscribe/<str:token>/", views.unsubscribe, name="email-unsubscribe"),
    path("emails/", views.outbox, name="outbox"),
    path("elections/<int:pk>/emails/", views.election_outbox, name="election-outbox"),
]
