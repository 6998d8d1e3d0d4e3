from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Email"

    def ready(self):
        # Alerts: scheduling announces incidents; this app turns them into outbox rows.
        from scheduling.signals import events_went_wrong

        from .alerts import on_events_went_wrong

        events_went_wrong.connect(on_events_went_wrong, dispatch_uid="notifications-alerts")
        # Run operations: automations send email through the run engine's registry.
        from . import operations

        operations.register()
