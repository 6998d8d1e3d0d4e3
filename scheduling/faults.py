"""Test-only fault injection: inert unless its environment variable is set.

``SCHEDULING_TEST_PAUSE_IN_TRANSITION=<seconds>`` makes ``execute_events`` sleep
after it has changed the statuses and before it commits, so the fault tests
(tests/faults/) can SIGKILL the worker or drop its database connections in the
middle of a parent-with-children transition. Never set it in production.
"""

import logging
import os
import time

PAUSE_IN_TRANSITION_ENV = "SCHEDULING_TEST_PAUSE_IN_TRANSITION"
PAUSE_MARKER = "test pause inside the transition"

logger = logging.getLogger(__name__)


def pause_in_transition() -> None:
    """Sleep for ``$SCHEDULING_TEST_PAUSE_IN_TRANSITION`` seconds when it is set; else do nothing."""
    seconds = os.environ.get(PAUSE_IN_TRANSITION_ENV)
    if not seconds:
        return
    logger.warning("%s: sleeping %s s before commit (pid %s)", PAUSE_MARKER, seconds, os.getpid())
    time.sleep(float(seconds))
