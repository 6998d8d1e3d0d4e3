from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    name = "automations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from notifications import usage

        from . import election_config, receivers, selectors

        receivers.connect()
        election_config.register()
        usage.register(selectors.email_template_uses)  # the email templates page names them
