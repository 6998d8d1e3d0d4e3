"""django-celery-beat's ``DatabaseScheduler``, unchanged, with each tick's duration written down.

Benchmark 11 runs the real beat process with this class and reads
``PEER_TICK_LOG``: one line per tick, ``<unix time> <milliseconds> <entries loaded>``.
"""

import os
import time

from django_celery_beat.schedulers import DatabaseScheduler


class TimedDatabaseScheduler(DatabaseScheduler):
    def tick(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return super().tick(*args, **kwargs)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            path = os.environ.get("PEER_TICK_LOG")
            if path:
                with open(path, "a") as log:
                    log.write(f"{time.time():.6f} {elapsed_ms:.3f} {len(self._schedule or {})}\n")
