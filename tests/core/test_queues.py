"""Each kind of work has its own Celery queue, and every worker command names the queues it consumes."""

import os
import re
import uuid
from pathlib import Path

import pytest
import redis
import yaml
from django.conf import settings
from django.test import override_settings

from guardwatch.celery import BEAT_SCHEDULE, app
from guardwatch.core.queue import QUEUE_KINDS, queue_name, queue_names
from tests.conftest import _worker_env, celery_worker_start, celery_worker_stop

ROOT = Path(__file__).resolve().parents[2]

# What each registered task is for decides its queue; a new task must be placed here on purpose. Stated
# apart from guardwatch/core/queue.py's TASK_QUEUES on purpose: this is the expectation it is checked against.
KINDS = {
    "syncs": {
        "accounts.tasks.members_sync_all_regions", "accounts.tasks.members_sync_region",
        "accounts.tasks.member_protection_sync_region", "accounts.tasks.organization_refresh",
        "accounts.tasks.enabled_regions_discover", "findings.tasks.findings_sync_all_regions",
        "findings.tasks.findings_sync_region", "findings.tasks.findings_sync_recover",
        "findings.tasks.findings_reconcile_all_regions", "findings.tasks.findings_reconcile_region",
        "findings.tasks.findings_ids_compare_all_regions", "findings.tasks.findings_ids_compare_region",
        "findings.tasks.findings_ledger_all_regions", "findings.tasks.findings_ledger_region",
        "findings.tasks.findings_push_confirm", "triage.tasks.suppression_filters_import",
        "accounts.tasks.drift_evaluate", "accounts.tasks.s3_inventory_sync", "accounts.tasks.s3_inventory_account",
    },
    "members": {"accounts.tasks.member_operation_run", "accounts.tasks.member_invitations_verify"},
    "reports": {"findings.tasks.findings_figures_refresh", "findings.tasks.findings_report_snapshot",
                "reports.tasks.findings_figures_rebuild", "reports.tasks.report_pdf_render",
                "triage.tasks.suppression_hits_count", "reports.tasks.scheduled_reports_tick",
                "reports.tasks.scheduled_report_deliver",
                "reports.tasks.evidence_pack_render", "reports.tasks.evidence_packs_purge",
                "findings.tasks.entity_rollup_promote", "findings.tasks.entity_rollups_fold"},
    "notifications": {"notifications.tasks.delivery_send", "notifications.tasks.deliveries_retry_due",
                      "notifications.tasks.digests_send", "notifications.tasks.overdue_findings_publish",
                      "notifications.tasks.tickets_poll",
                      "notifications.tasks.team_digests_send", "notifications.tasks.sla_escalations_run",
                      "notifications.tasks.escalation_notify"},
    "writebacks": {"findings.tasks.writeback_flush", "findings.tasks.bulk_action_run",
                   "triage.tasks.bulk_actions_recover", "findings.tasks.accepted_risk_reopen",
                   "triage.tasks.investigation_poll", "triage.tasks.investigations_poll_due",
                   "triage.tasks.suppression_rules_expire"},
    "exports": {"triage.tasks.finding_export_run"},
    "default": {"triage.tasks.finding_exports_expire", "triage.tasks.finding_exports_recover",
                "findings.tasks.findings_retention_purge", "findings.tasks.demo_history_seed",
                "guardwatch.core.tasks.worker_probe", "triage.tasks.suppression_reviews_due"},
}  # fmt: skip
EXPECTED = {name: kind for kind, names in KINDS.items() for name in names}


def registered_tasks() -> set[str]:
    app.loader.import_default_modules()  # what a worker does at start-up (autodiscovery included)
    app.finalize()
    return set(app.tasks)


def routed_queue(name: str) -> str:
    """The queue Celery sends `name` to: the path `.delay()`, sending by name and beat all take."""
    return app.amqp.router.route({}, name)["queue"].name


def compose_worker_queues() -> dict[str, set[str]]:
    """Each compose worker service's `--queues`, with compose's default for GUARDWATCH_CELERY_QUEUE in place."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    consumed = {}
    for name, service in services.items():
        command = service.get("command", [])
        if "worker" not in command:
            continue
        queues = command[command.index("--queues") + 1]
        queues = queues.replace("${GUARDWATCH_CELERY_QUEUE:-guardwatch}", settings.CELERY_TASK_DEFAULT_QUEUE)
        consumed[name] = set(queues.split(","))
    return consumed


def test_every_registered_task_goes_to_the_queue_of_its_kind():
    ours = {name for name in registered_tasks() if not name.startswith("celery.")}

    assert ours == set(EXPECTED)
    assert {name: routed_queue(name) for name in ours} == {name: queue_name(kind) for name, kind in EXPECTED.items()}


def test_queues_are_named_after_the_installations_queue_so_test_sessions_keep_their_own():
    prefix = settings.CELERY_TASK_DEFAULT_QUEUE
    assert prefix.startswith("gw-test-")
    assert queue_names() == [prefix] + [f"{prefix}.{kind}" for kind in QUEUE_KINDS[1:]]
    assert routed_queue("findings.tasks.findings_sync_region") == f"{prefix}.syncs"


def test_beat_sends_each_periodic_task_to_its_kinds_queue():
    registered_tasks()
    sent_to = {entry: routed_queue(spec["task"]) for entry, spec in BEAT_SCHEDULE.items()}

    assert sent_to["findings-pull-sync"] == sent_to["members-status-sync"] == queue_name("syncs")
    assert sent_to["findings-figures-refresh"] == queue_name("reports")
    assert sent_to["notifications-retry-due"] == sent_to["notifications-digests"] == queue_name("notifications")
    assert sent_to["findings-writeback-flush"] == sent_to["triage-bulk-recover"] == queue_name("writebacks")
    assert sent_to["findings-retention"] == queue_name("default")
    assert all(sent_to[entry] == queue_name(EXPECTED[spec["task"]]) for entry, spec in BEAT_SCHEDULE.items())


def test_no_task_goes_to_a_queue_no_compose_worker_consumes():
    consumed = compose_worker_queues()
    routed = {routed_queue(name) for name in registered_tasks()}  # Celery's own tasks included

    assert set(consumed) == {"worker", "worker-syncs", "worker-reports", "worker-exports"}
    assert routed <= set().union(*consumed.values())
    assert consumed["worker-syncs"] == {queue_name("syncs")}  # a sync never waits behind other work
    assert consumed["worker-reports"] == {queue_name("reports")}
    assert consumed["worker-exports"] == {queue_name("exports")}


def test_the_exports_worker_runs_at_the_lowest_cpu_priority():
    """On a shared box an export takes the CPU only when the web and PostgreSQL leave it (docs/operations.md)."""
    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker-exports"]["command"]
    assert command[:4] == ["nice", "-n", "19", "celery"]
    # nice ranks processes within one scheduling group; a container is a group of its own (cgroup)
    assert yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker-exports"]["cpu_shares"] <= 20
    assert command[command.index("--concurrency") + 1] == "1"


def test_the_demo_and_the_test_workers_consume_every_queue():
    demo = (ROOT / "guardwatch" / "core" / "management" / "commands" / "demo.py").read_text()
    conftest = (ROOT / "tests" / "conftest.py").read_text()

    assert '"--queues", ",".join(queue_names())' in demo
    assert re.search(r"celery_worker_start\(queues=queue_names\(\)", conftest)
    assert {routed_queue(name) for name in registered_tasks()} <= set(queue_names())


@pytest.mark.worker
def test_a_waiting_report_does_not_delay_a_sync(transactional_db):
    """With a worker on the sync queue only, a sync runs while a report queued before it waits its turn."""
    prefix = f"gw-test-isolated-{uuid.uuid4().hex[:8]}"  # no other worker of this session consumes these
    env = _worker_env() | {"GUARDWATCH_CELERY_QUEUE": prefix}
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    with override_settings(CELERY_TASK_DEFAULT_QUEUE=prefix):
        worker = celery_worker_start(queues=[queue_name("syncs")], hostname=f"syncs-{os.getpid()}", env=env,
                                     log_name="celery-worker-syncs.log")  # fmt: skip
        try:
            report = app.send_task("findings.tasks.findings_figures_refresh")
            sync = app.send_task("findings.tasks.findings_sync_recover")

            assert sync.get(timeout=60) == []  # the sync ran (no run had lost its worker)
            assert report.state == "PENDING"
            assert broker.llen(queue_name("reports")) == 1  # still queued, for a reports worker
            assert broker.llen(queue_name("syncs")) == 0
        finally:
            celery_worker_stop(worker)
            broker.delete(*queue_names())
