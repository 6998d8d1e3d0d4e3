"""Logging filters wired in ``settings.LOGGING``."""

import logging
import re

#: The planner's task name as Celery's worker, trace and beat lines print it.
PLANNER_TASK = re.compile(r"\bscheduling\.tasks\.plan\b")


class PlannerTickAtDebug(logging.Filter):
    """Celery's lines about each planner tick (beat "Sending due task", worker "received" and
    "succeeded", every few seconds) at DEBUG instead of INFO: shown only when ``LOG_LEVEL`` is
    DEBUG. A planner line at WARNING or above (a failure) is left as it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not PLANNER_TASK.search(record.getMessage()):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)
