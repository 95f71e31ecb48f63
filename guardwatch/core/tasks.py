"""Core Celery tasks."""

import socket

from celery import shared_task
from django.contrib.auth import get_user_model


@shared_task(name="guardwatch.core.tasks.worker_probe")
def worker_probe(token: str) -> dict:
    """Prove a worker is alive and reaches the database: echo a token with the host and user count."""
    return {"token": token, "host": socket.gethostname(), "users": get_user_model().objects.count()}
