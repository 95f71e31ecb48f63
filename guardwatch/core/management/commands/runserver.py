"""`runserver` as Django's (with static files), refusing a non-loopback address while the demo key is in use."""

from django.contrib.staticfiles.management.commands.runserver import Command as StaticfilesRunserver
from django.core.management.base import CommandError

from guardwatch.core.exposure import demo_key_exposure


class Command(StaticfilesRunserver):
    def run(self, **options):
        problem = demo_key_exposure(self.addr)
        if problem:
            raise CommandError(problem)
        super().run(**options)
