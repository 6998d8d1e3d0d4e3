"""Benchmarks of the scheduling engine on real PostgreSQL, RabbitMQ, worker and beat: ``python -m bench``."""
