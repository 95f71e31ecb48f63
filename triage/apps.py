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

    def ready(self) -> None:
        from findings.signals import finding_status_requested, findings_upsert_starting
        from triage import receivers

        finding_status_requested.connect(
            receivers.finding_status_requested_received, dispatch_uid="triage-status-request"
        )
        findings_upsert_starting.connect(
            receivers.findings_upsert_reopen_watch, dispatch_uid="triage-reopen-recurring"
        )
