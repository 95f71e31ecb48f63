"""App config for findings."""

from django.apps import AppConfig


class FindingsConfig(AppConfig):
    """Findings, their occurrences and sync state."""

    name = "findings"
    verbose_name = "Findings"
