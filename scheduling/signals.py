"""Signals scheduling sends for the apps above it (imports point one way: they listen, we send).

Both are sent with ``send`` inside the transaction that made the change, so a
receiver's writes commit or roll back with it; a receiver publishes only on commit.
"""

from django.dispatch import Signal

#: ``election_id: int``, ``changes: dict[kind, (old | None, new | None)]``: the election's pending
#: voting events that were created, rescheduled (old superseded by new) or cancelled (new is None).
#: Sent by ``configure``, by ``cancel_moot_events`` (status changes by hand or by an event) and by
#: ``delete_election``.
voting_events_changed = Signal()

#: ``run: ScheduledEvent``, ``outcome: "done" | "skipped" | "failed"``: a run left pending by
#: executing (never when it was superseded or cancelled). Receivers create the next occurrence.
run_finished = Signal()
