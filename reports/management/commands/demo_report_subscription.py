"""`manage.py demo_report_subscription`: the demo manager's weekly report (Mondays 07:00 UTC, the organisation).

Made as if subscribed eight days ago, so the beat's first tick (five minutes after the demo starts) owes the
latest Monday's report at once: the worker renders it, prints the mail (the demo's console backend) to its
log and keeps it on the Scheduled reports page. Idempotent; demo mode only.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reports.models import ReportSubscription

DEMO_MANAGER, DEMO_EMAIL = "manager", "manager@example.com"


class Command(BaseCommand):
    help = "Subscribe the demo manager to the weekly report (demo mode only)."

    def handle(self, *args, **options):
        if not settings.DEMO:
            raise CommandError("demo_report_subscription only runs with GUARDWATCH_ENV=demo.")
        manager = get_user_model().objects.filter(username=DEMO_MANAGER).first()
        if manager is None:
            self.stdout.write("  no demo manager (run manage.py demo_users first): no scheduled report")
            return
        if not manager.email:
            manager.email = DEMO_EMAIL
            manager.save(update_fields=["email"])
        subscription = ReportSubscription.objects.filter(owner=manager).first()
        if subscription is None:
            subscription = ReportSubscription.objects.create(
                owner=manager, cadence="weekly", weekday=0, hour=7
            )
            ReportSubscription.objects.filter(pk=subscription.pk).update(
                created_at=timezone.now() - timedelta(days=8)
            )
        self.stdout.write(f"  {manager.get_username()}: {subscription}, {subscription.schedule_label}")
