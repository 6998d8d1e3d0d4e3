"""Pages: My settings, one-click unsubscribe, the outbox, email templates."""

from django.urls import path

from . import views

urlpatterns = [
    path("settings/", views.my_settings, name="my-settings"),
    path("email/unsubscribe/<str:token>/", views.unsubscribe, name="email-unsubscribe"),
    path("emails/", views.outbox, name="outbox"),
    path("emails/<int:pk>/", views.outbox_message, name="outbox-message"),
    path("elections/<int:pk>/emails/", views.election_outbox, name="election-outbox"),
    path("email-templates/", views.template_list, name="email-templates"),
    path("email-templates/<slug:name>/", views.template_edit, name="email-template"),
    path("email-templates/<slug:name>/test/", views.template_test, name="email-template-test"),
]
