"""The one deliberate way to empty the activity log: a test-suite flush or a benchmark reset.

The append-only triggers (migration 0006) refuse DELETE and TRUNCATE unless a guard
is set inside the same transaction: on PostgreSQL the transaction-local setting
``activity_log.allow_purge = on``; on SQLite, which has no session variables, a row
in ``activity_log_purge_unlock``, inserted and removed again in that transaction.
Nothing in the application calls this; ``tests/conftest.py`` wraps Django's flush
with it and ``bench`` its reset. UPDATE stays refused even then.
"""

UNLOCK_TABLE = "activity_log_purge_unlock"

_GUARD = {
    "postgresql": (["SELECT set_config('activity_log.allow_purge', 'on', true)"],
                   ["SELECT set_config('activity_log.allow_purge', 'off', true)"]),
    "sqlite": ([f"INSERT OR IGNORE INTO {UNLOCK_TABLE} (id) VALUES (1)"],
               [f"DELETE FROM {UNLOCK_TABLE}"]),
}


def with_purge_allowed(vendor: str, statements: list[str]) -> list[str]:
    """``statements`` between the ones that set and clear the guard. Run them all in
    one transaction (Django's ``execute_sql_flush`` does)."""
    before, after = _GUARD.get(vendor, ([], []))
    return [*before, *statements, *after]
