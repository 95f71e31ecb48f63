"""`manage.py findings_sync`: pull-sync findings now, in this process (what the beat task does per region)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from findings.sync import findings_sync_region


class Command(BaseCommand):
    help = "Pull GuardDuty findings of the configured regions (or --region) into the database, now."

    def add_arguments(self, parser):
        parser.add_argument("--region", action="append", help="Region to sync (repeatable); default: all.")

    def handle(self, *args, region: list[str] | None, **options):
        regions = region or list(settings.GUARDWATCH_AWS_REGIONS)
        unknown = sorted(set(regions) - set(settings.GUARDWATCH_AWS_REGIONS))
        if unknown:
            raise CommandError(f"Not configured in GUARDWATCH_AWS_REGIONS: {', '.join(unknown)}")
        failed = []
        for name in regions:
            run = findings_sync_region(region=name, trigger="command")
            if run is None:
                self.stdout.write(f"{name}: already running elsewhere")
                continue
            self.stdout.write(
                f"{name}: {run.status}, {run.pages} pages, {run.new} new, {run.updated} updated, "
                f"{run.unchanged} unchanged, {run.api_calls} API calls"
                + (f"\n  {run.errors}" if run.errors else "")
            )
            if run.status == run.Status.FAILED:
                failed.append(name)
        if failed:
            raise CommandError(f"Sync failed in {', '.join(failed)}")
