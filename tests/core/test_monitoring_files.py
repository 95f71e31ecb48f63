"""The Grafana dashboard and the Prometheus rules under deploy/monitoring/ name only series /metrics serves,
and docs/operations.md documents every series it serves."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from guardwatch.monitoring.state import STATE
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db

MONITORING = ROOT / "deploy" / "monitoring"
TOKEN = "monitoring-files-token-0123456789abcdefghij"
METRIC = re.compile(r"\bguardwatch_[a-z0-9_]+")


@pytest.fixture
def served(settings) -> list:
    """The metric families /metrics serves in this process, after one request has been timed."""
    settings.GUARDWATCH_METRICS = True
    settings.GUARDWATCH_METRICS_TOKEN = TOKEN
    settings.GUARDWATCH_METRICS_CACHE_SECONDS = 0
    STATE.forget()
    client = Client()
    assert client.get("/healthz").status_code == 200
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).content.decode()
    return [family for family in text_string_to_metric_families(text) if family.name.startswith("guardwatch_")]


def names_in_expressions(expressions: list[str]) -> set[str]:
    return {name for expression in expressions for name in METRIC.findall(expression)}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((MONITORING / "guardwatch-dashboard.json").read_text())
    found = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    found += [variable.get("definition", "") for variable in dashboard["templating"]["list"]]
    return found


def rules() -> list[dict]:
    loaded = yaml.safe_load((MONITORING / "guardwatch-alerts.yml").read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def test_the_dashboard_names_only_series_metrics_serves(served):
    exposed = {s.name for family in served for s in family.samples} | {family.name for family in served}
    expressions = dashboard_expressions()
    named = names_in_expressions(expressions)

    assert len(expressions) > 15 and named
    assert named <= exposed, sorted(named - exposed)


def test_the_alert_rules_name_only_series_metrics_serves_and_cover_the_issues_alerts(served):
    exposed = {s.name for family in served for s in family.samples} | {family.name for family in served}
    loaded = rules()
    named = names_in_expressions([rule["expr"] for rule in loaded])

    assert named <= exposed, sorted(named - exposed)
    alerts = {rule["alert"] for rule in loaded}
    assert {"GuardWatchSyncStalled", "GuardWatchWriteBacksFailing", "GuardWatchLedgerGap"} <= alerts
    for rule in loaded:
        assert rule["labels"]["severity"] in {"critical", "warning"} and rule["annotations"]["summary"], rule["alert"]


def test_every_series_served_is_documented_with_its_type(served):
    documented = dict(re.findall(r"^\| `(guardwatch_[a-z0-9_]+)` \| (\w+) \|", (ROOT / "docs" / "operations.md").read_text(),
                                 flags=re.MULTILINE))  # fmt: skip
    # A counter's samples carry `_total`; the table names them as Prometheus stores them.
    served_names = {(f"{family.name}_total" if family.type == "counter" else family.name): family.type for family in served}

    assert served_names == documented
