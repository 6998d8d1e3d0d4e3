"""Fixtures of the concurrency tests (the helpers live in tests/faults/support.py)."""

from tests.faults.support import empty_queue  # noqa: F401
