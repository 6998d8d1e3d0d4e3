"""Errors of scheduling that the API turns into HTTP answers."""

from activity_log.presentation import describe


class ScheduleChanged(Exception):
    """The schedule is no longer the version the caller read (HTTP 412).

    Carries the election, its pending events now, and the log rows of the change
    that made the caller's version stale, to say who changed what and when.
    """

    def __init__(self, election, pending: dict, changes: list):
        super().__init__(f"the schedule of election {election.pk} changed")
        self.election, self.pending, self.changes = election, pending, changes

    @property
    def message(self) -> str:
        """``The scheduled events changed after you read them: bob, at …Z: …. Nothing was saved; …``"""
        if self.changes:
            last = self.changes[-1]
            who = last.actor_name or (f"the system (for {last.on_behalf_of_name})"
                                      if last.on_behalf_of_name else "the system")
            what = "; ".join(describe(entry) for entry in self.changes)
            change = f" {who} changed them at {last.created_at:%Y-%m-%dT%H:%M:%SZ} ({what})."
        else:
            change = ""
        return (f"The scheduled events changed after you read them.{change} Nothing was saved: "
                "reload the current schedule and make your change again.")
