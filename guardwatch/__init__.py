"""GuardWatch: a self-hosted console for GuardDuty administrator accounts."""

from guardwatch.celery import app as celery_app

__all__ = ("celery_app",)
