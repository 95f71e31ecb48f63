"""Prometheus metrics: the /metrics endpoint, request timing, and the state read at scrape time."""
