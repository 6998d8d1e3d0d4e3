"""The planner's tick logs at DEBUG, not INFO (issue 15, item 11), through the real LOGGING config."""

import io
import logging
import logging.config

from django.conf import settings


def run_lines(level: str) -> str:
    stream = io.StringIO()
    config = {**settings.LOGGING, "root": {**settings.LOGGING["root"], "level": level}}
    logging.config.dictConfig(config)
    try:
        handler = logging.getLogger().handlers[0]
        handler.setStream(stream)
        # the three lines Celery writes for each tick, and one of a real event
        logging.getLogger("celery.beat").info("Scheduler: Sending due task %s (%s)", "scheduling-planner",
                                              "scheduling.tasks.plan")
        logging.getLogger("celery.worker.strategy").info("Task %s[%s] received",
                                                         "scheduling.tasks.plan", "1f")
        logging.getLogger("celery.app.trace").info(
            "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s",
            {"name": "scheduling.tasks.plan", "id": "1f", "runtime": 0.01, "return_value": 0})
        logging.getLogger("celery.app.trace").info(
            "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s",
            {"name": "scheduling.tasks.fire_event", "id": "2e", "runtime": 0.02, "return_value": "done"})
        logging.getLogger("celery.app.trace").error("Task %s[%s] raised unexpected: %r",
                                                    "scheduling.tasks.plan", "3d", "boom")
    finally:
        logging.config.dictConfig(settings.LOGGING)
    return stream.getvalue()


def test_planner_ticks_are_quiet_at_info_and_visible_at_debug():
    info = run_lines("INFO")
    assert "Sending due task" not in info
    assert "scheduling.tasks.plan[1f] received" not in info
    assert "scheduling.tasks.plan[1f] succeeded" not in info
    assert "INFO celery.app.trace Task scheduling.tasks.fire_event[2e] succeeded" in info
    assert "ERROR celery.app.trace Task scheduling.tasks.plan[3d] raised" in info  # failures stay

    debug = run_lines("DEBUG")
    assert "DEBUG celery.beat Scheduler: Sending due task scheduling-planner" in debug
    assert "DEBUG celery.app.trace Task scheduling.tasks.plan[1f] succeeded" in debug
