from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"

    def ready(self):
        """Register the operations runs can perform that scheduling and config own."""
        from config import maintenance

        from . import operations

        operations.register("suspend_voting", run=operations.suspend_voting, validate=operations.no_params,
                            scopes={"election"}, writes=False)
        operations.register("resume_voting", run=operations.resume_voting, validate=operations.no_params,
                            scopes={"election"}, writes=False)
        operations.register("maintenance", run=maintenance.run, validate=operations.no_params,
                            scopes={"global"})
