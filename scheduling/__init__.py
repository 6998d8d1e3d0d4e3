"""Scheduled election events: when voting opens and closes, and the machinery that makes it happen."""
