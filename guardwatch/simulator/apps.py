"""Django app config so `manage.py gdsim` is found; the simulator itself does not need Django."""

from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    """The GuardDuty simulator's management command."""

    name = "guardwatch.simulator"
    label = "simulator"
    verbose_name = "GuardDuty simulator"
