"""Settings for benchmark 11's peer processes only: the product plus django-celery-beat.

The usual Django answer to "run this task at that time" is django-celery-beat: one
``ClockedSchedule`` + one-off ``PeriodicTask`` per event, run by its
``DatabaseScheduler``. The product does not depend on it; ``make bench`` installs it
(the ``bench`` extra) and only the peer's worker and beat use this module.
"""

from config.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "django_celery_beat"]  # noqa: F405
# A peer deployment: beat runs the peer's rows only, not the product's planner, sealer or sweep.
CELERY_BEAT_SCHEDULE = {}
CELERY_BEAT_SCHEDULER = "bench.peer_scheduler:TimedDatabaseScheduler"
CELERY_IMPORTS = ["bench.peer_tasks"]
