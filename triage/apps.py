"""App config for triage."""

from django.apps import AppConfig


class TriageConfig(AppConfig):
    """What analysts do with findings: the list and its filters, saved views, workflow, bulk actions,
    suppression rules and the write-backs that carry their decisions to GuardDuty.

    The triage state of a finding (status, assignee, timeline) is part of the finding in the
    `findings` store, which reports and notifications read too; this app owns the rows only triage
    uses (write-backs, saved views, suppression rules, bulk actions).
    """

    name = "triage"
    verbose_name = "Triage"
