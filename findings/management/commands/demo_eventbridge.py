"""`manage.py demo_eventbridge`: point the demo's simulator (CloudTrail + EventBridge stand-in) at the ingest URL.

The demo runs it after the web server is up. It creates an ingest key for the simulator (revoking the one
the previous demo start created: the secret is shown once and not kept) and gives the simulator the URL
and the key, so GuardDuty write calls made in the demo arrive as CloudTrail events (tamper alarms).
"""

from __future__ import annotations

import json
import urllib.request

from django.core.management.base import BaseCommand
from django.utils import timezone

from findings.models import IngestApiKey
from findings.services import ingest_key_create

KEY_NAME = "Demo: the simulator's EventBridge"


class Command(BaseCommand):
    help = "Give the local GuardDuty simulator an ingest key and URL to push CloudTrail events to (demo only)."

    def add_arguments(self, parser):
        parser.add_argument("--ingest-url", required=True)
        parser.add_argument("--simulator", required=True, help="the simulator's endpoint, http://127.0.0.1:PORT")

    def handle(self, *args, ingest_url: str, simulator: str, **options):
        IngestApiKey.objects.filter(name=KEY_NAME, revoked_at__isnull=True).update(revoked_at=timezone.now())
        _key, secret = ingest_key_create(name=KEY_NAME, actor=None)
        request = urllib.request.Request(  # noqa: S310 (the local simulator)
            f"{simulator.rstrip('/')}/_sim/eventbridge", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"url": ingest_url, "headers": {"X-GuardWatch-Key": secret}}).encode(),
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (the local simulator)
            answer.read()
        self.stdout.write(f"The simulator pushes CloudTrail events to {ingest_url}.")
