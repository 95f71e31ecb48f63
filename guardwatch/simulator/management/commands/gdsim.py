"""`manage.py gdsim`: run the local GuardDuty simulator in the foreground."""

from django.core.management.base import BaseCommand

from guardwatch.simulator import serve


class Command(BaseCommand):
    """Thin wrapper over guardwatch.simulator.serve."""

    help = "Run the local GuardDuty simulator (GuardDuty, STS and Organizations on one endpoint)."
    # The simulator has no models and needs no database: skip the checks that would open one.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (0.0.0.0 in containers).")
        parser.add_argument("--port", type=int, default=4566)
        parser.add_argument("--scenario", default=None, help="Seed a scenario (e.g. demo) into an empty state.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--persist", default=None, help="SQLite file keeping the state across restarts.")
        parser.add_argument("--live", action="store_true", help="Keep producing findings and repeat occurrences.")
        parser.add_argument("--tick-seconds", type=float, default=10.0)
        parser.add_argument("--strict", action="store_true", help="Fail loudly on responses that break the model.")

    def handle(self, *args, **options):
        serve(port=options["port"], host=options["host"], scenario=options["scenario"], seed=options["seed"],
              persist=options["persist"], live=options["live"], tick_seconds=options["tick_seconds"],
              strict=options["strict"], log=lambda line: self.stdout.write(line))
