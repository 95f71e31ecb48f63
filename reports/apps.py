"""App config for reports."""

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """What managers read: coverage and protection plans, the findings report, the dashboard's figures,
    the snapshots a worker keeps of them, and the charts drawn from them.

    Figures are computed from the accounts and findings stores and kept in the cache; the only models are the
    scheduled reports' subscriptions and runs (`reports.models`), whose runs keep each emailed PDF.
    Protection plans are read by the member sync (`accounts.protection`, it writes `MemberProtection`
    next to the memberships it describes); this app shows them.
    """

    name = "reports"
    verbose_name = "Reports"
