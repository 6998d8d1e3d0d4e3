"""Signals elections sends for the apps above it (imports point one way: they listen, we send)."""

from django.dispatch import Signal

#: ``changes: list[StatusChange]``, ``cause: str``: statuses written by ``save_transitions``, sent
#: inside its transaction, once per cause: ``manual`` (by hand), ``scheduled_event`` (a voting
#: event), ``automation`` (a run's operation).
statuses_changed = Signal()
