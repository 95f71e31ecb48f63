"""Scheduled report reads: the subscriptions and archived runs a person may see.

An Admin sees every subscription (to manage them); anyone else sees only their own, so a team-scoped
manager never sees another team's reports or PDFs. A lookup of anything else is a 404.
"""

from __future__ import annotations

from django.db.models import Count, Max, QuerySet
from django.shortcuts import get_object_or_404

from reports.models import ReportRun, ReportSubscription


def _visible(user) -> QuerySet[ReportSubscription]:
    subscriptions = ReportSubscription.objects.select_related("owner")
    return subscriptions if user.has_perm("core.manage_settings") else subscriptions.filter(owner=user)


def subscription_list(*, user) -> list[ReportSubscription]:
    """The subscriptions `user` may see, each with how many runs it has and when one was last sent."""
    return list(_visible(user).annotate(run_count=Count("runs"), last_sent_at=Max("runs__sent_at")))


def subscription_get(*, user, pk: int) -> ReportSubscription:
    """One subscription `user` may see, or 404."""
    return get_object_or_404(_visible(user), pk=pk)


def run_list(*, subscription: ReportSubscription) -> list[ReportRun]:
    """A subscription's runs, newest period first, without their PDFs' bytes (whether one is kept is `has_pdf`)."""
    from django.db.models import Q
    from django.db.models.functions import Length

    return list(subscription.runs.defer("pdf").annotate(pdf_size=Length("pdf"), has_pdf=~Q(pdf=None)))


def run_pdf_get(*, user, pk: int) -> ReportRun:
    """A run whose subscription `user` may see and whose PDF is still kept, or 404."""
    return get_object_or_404(
        ReportRun.objects.filter(subscription__in=_visible(user), pdf__isnull=False), pk=pk
    )
