"""`manage.py findings_entities_backfill`: give every stored finding without entities its `FindingEntity` rows.

Migration 0017 runs the same backfill; run this after a rolling upgrade to cover findings the previous
release stored while the migration ran (they would otherwise get their entities with their next update).
Safe to run at any time and more than once: each id range is its own short transaction.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import connection

from findings.entity_backfill import entities_backfill


class Command(BaseCommand):
    help = "Fill the entity index (IPs, keys, instances, buckets, domains...) of findings stored without it."

    def handle(self, *args, **options):
        written = entities_backfill(connection=connection)
        self.stdout.write(f"{written:,} entity rows written.")
