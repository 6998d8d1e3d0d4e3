"""The append-only activity log: who did what to which election, with task ids."""
