from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    name = "automations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import election_config, receivers

        receivers.connect()
        election_config.register()
