"""Logging in: the doors (page, admin, API token) and the one limiter they share."""
