"""Kept counts of hot entities (findings 0024, `findings.entity_rollup`): the entity page of an entity named by
hundreds of thousands of findings sums a few kept rows, and they always equal what counting the rows says."""

from __future__ import annotations

import copy
import random
import threading
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from findings import entity_rollup, services
from findings.models import EntityRollup, Finding, HotEntity
from findings.selectors import entity_counts_kept
from tests.findings.factories import NOW, raw_finding, repeated
from tests.support.waiting import wait_for
from tests.triage.support import store
from triage import entities
from triage.entities import entity_url

pytestmark = pytest.mark.django_db

IP = "198.51.100.99"
PLACES = [("111111111111", "us-east-1"), ("111111111111", "eu-west-1"), ("222222222222", "ap-southeast-2")]


def _ip_finding(rng, account: str, region: str, days_ago: int, *, ip: str = IP) -> dict:
    raw = raw_finding(rng, finding_type="Recon:EC2/PortProbeUnprotectedPort", account_id=account, region=region,
                      now=NOW - timedelta(days=days_ago, hours=rng.randrange(24)))  # fmt: skip
    return _naming(raw, ip)


def _naming(raw: dict, ip: str) -> dict:
    for probe in raw["Service"]["Action"]["PortProbeAction"]["PortProbeDetails"]:
        probe["RemoteIpDetails"]["IpAddressV4"] = ip
    return raw


def _ip_findings(count: int, *, seed: int = 5, days: int = 40) -> list[dict]:
    rng = random.Random(seed)
    return [_ip_finding(rng, *PLACES[i % len(PLACES)], i % days) for i in range(count)]


def _counted() -> tuple[list[tuple], dict]:
    """The truth: the entity's rows counted (what the page does for an entity without kept counts)."""
    groups, days = entities._groups_and_days(kind="ip", value=IP, user=None)
    places = sorted((g["account_id"], g["region"], g["n"], g["first"]) for g in groups)
    return places, days


def _kept() -> tuple[list[tuple], dict] | None:
    kept = entity_counts_kept(kind="ip", value=IP)
    return None if kept is None else (sorted(kept.places), kept.days)


def test_kept_counts_follow_every_write_and_equal_counting_the_rows():
    first = store(_ip_findings(30))
    assert entity_counts_kept(kind="ip", value=IP) is None  # not hot: the page counts
    assert entity_rollup.entity_rollup_promote(kind="ip", value=IP)
    assert _kept() == _counted()

    store(_ip_findings(12, seed=6, days=3))  # new findings about the entity
    store([_naming(repeated(f.raw, minutes=60 * 24 * 2), IP) for f in first[:9]])  # seen again: last seen moves
    dropped = _naming(copy.deepcopy(first[9].raw), "203.0.113.5")  # a new version no longer names the entity
    dropped["UpdatedAt"] = (NOW + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    store([dropped])

    places, days = _counted()
    assert sum(n for *_rest, n, _first in places) == 41
    assert _kept() == (places, days)  # the dropped row was not its place's earliest: nothing to count again

    # A version that stops naming the entity, of the finding holding its place's earliest first sighting: that
    # place's earliest may be later now, so the page counts again until the entity is counted again.
    earliest = min((f for f in first if f.account_id == PLACES[1][0] and f.region == PLACES[1][1]),
                   key=lambda f: f.first_seen)  # fmt: skip
    again = _naming(copy.deepcopy(earliest.raw), "203.0.113.6")
    again["UpdatedAt"] = (NOW + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    store([again])
    assert entity_counts_kept(kind="ip", value=IP) is None
    assert entity_rollup.entity_rollup_promote(kind="ip", value=IP)  # counted again
    assert _kept() == _counted()
    assert sum(n for *_rest, n, _first in _kept()[0]) == 40


def test_folding_leaves_one_row_per_key_and_the_same_counts():
    store(_ip_findings(24))
    entity_rollup.entity_rollup_promote(kind="ip", value=IP)
    for seed in (7, 8, 9):
        store(_ip_findings(5, seed=seed, days=2))
    before = _kept()
    rows = EntityRollup.objects.filter(kind="ip", value=IP).count()

    remaining = entity_rollup.entity_rollups_fold()

    assert _kept() == before == _counted()
    keys = EntityRollup.objects.filter(kind="ip", value=IP).values_list("axis", "account_id", "region", "day")
    assert remaining == len(keys) == len(set(keys)) < rows


def test_a_purged_finding_leaves_the_page_counting_until_the_entity_is_counted_again(settings):
    old = store([_ip_finding(random.Random(1), *PLACES[0], 200)])
    store(_ip_findings(10, days=5))
    entity_rollup.entity_rollup_promote(kind="ip", value=IP)
    settings.GUARDWATCH_FINDINGS_RETENTION_DAYS = 100

    assert services.findings_retention_purge(now=NOW) == 1

    assert not Finding.objects.filter(pk=old[0].pk).exists()
    assert entity_counts_kept(kind="ip", value=IP) is None
    entity_rollup.entity_rollup_promote(kind="ip", value=IP)
    assert _kept() == _counted()
    assert sum(n for *_rest, n, _first in _kept()[0]) == 10


def test_the_page_of_a_hot_entity_reads_its_kept_counts_and_shows_what_counting_shows(client_for, monkeypatch):
    from django.core.cache import cache

    cache.delete(entity_rollup.request_key("ip", IP))  # the cache is shared with earlier runs
    store(_ip_findings(30))
    queued = []
    monkeypatch.setattr(entities, "HOT_ENTITY_FINDINGS", 30)
    monkeypatch.setattr(entity_rollup, "task_send", lambda name, *args: queued.append((name, *args)))
    client = client_for("analyst")

    counted = client.get(entity_url("ip", IP)).context["summary"]  # counts, and asks for kept counts
    client.get(entity_url("ip", IP))

    assert queued == [("findings.tasks.entity_rollup_promote", "ip", IP)]  # once, not per view
    entity_rollup.entity_rollup_promote(kind="ip", value=IP)  # what the worker runs
    with CaptureQueriesContext(connection) as queries:
        kept = client.get(entity_url("ip", IP)).context["summary"]
    assert not [q for q in queries if "GROUPING SETS" in q["sql"]]  # its rows were not counted
    assert (kept.total, kept.accounts, kept.regions, kept.first_seen, kept.last_seen, kept.chart_rows) == (
        counted.total, counted.accounts, counted.regions, counted.first_seen, counted.last_seen, counted.chart_rows)
    assert kept.total == 30


def test_a_team_scoped_analyst_still_counts_only_their_teams_rows(client_for):
    from tests.triage.test_entities import _scoped_blue_analyst

    store(_ip_findings(30))
    entity_rollup.entity_rollup_promote(kind="ip", value=IP)
    summary = _scoped_blue_analyst().get(entity_url("ip", IP)).context["summary"]
    assert summary.total == 20 and [a for a, _n in summary.accounts] == ["111111111111"]


def test_a_team_scoped_view_never_asks_for_kept_counts(monkeypatch):
    """Kept counts are of every account: a scoped person's page (which counts their rows) does not queue them."""
    from tests.triage.test_entities import _scoped_blue_analyst

    store(_ip_findings(30))
    queued = []
    monkeypatch.setattr(entities, "HOT_ENTITY_FINDINGS", 10)
    monkeypatch.setattr(entity_rollup, "task_send", lambda name, *args: queued.append(name))
    assert _scoped_blue_analyst().get(entity_url("ip", IP)).context["summary"].total == 20
    assert queued == []


def test_a_refused_request_is_asked_again_by_the_next_view(client_for, monkeypatch):
    from django.core.cache import cache

    cache.delete(entity_rollup.request_key("ip", IP))
    store(_ip_findings(12))
    monkeypatch.setattr(entities, "HOT_ENTITY_FINDINGS", 10)
    sent = []

    def broker_down(name, *args):
        sent.append(name)
        raise ConnectionError("broker down")

    monkeypatch.setattr(entity_rollup, "task_send", broker_down)
    client = client_for("analyst")
    client.get(entity_url("ip", IP))
    client.get(entity_url("ip", IP))
    assert sent == ["findings.tasks.entity_rollup_promote"] * 2


def test_an_entity_below_the_line_is_not_promoted(client_for, monkeypatch):
    store(_ip_findings(5))
    queued = []
    monkeypatch.setattr(entity_rollup, "task_send", lambda name, *args: queued.append(name))
    assert client_for("analyst").get(entity_url("ip", IP)).context["summary"].total == 5
    assert queued == [] and not HotEntity.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_promotion_waits_for_a_writer_already_running_and_counts_its_rows():
    """A writer whose trigger ran before the entity was hot recorded nothing: the promotion must wait for it to
    commit and count its rows, or the kept counts would miss them for good."""
    store(_ip_findings(6))
    other = store([_ip_finding(random.Random(2), "333333333333", "us-west-2", 1, ip="203.0.113.9")])[0]
    params = {k: v for k, v in connection.get_connection_params().items() if k in ("dbname", "user", "host", "port")}
    writer = psycopg.connect(**params)
    done = threading.Event()

    def promote():
        try:
            entity_rollup.entity_rollup_promote(kind="ip", value=IP)
        finally:
            connection.close()
            done.set()

    try:
        with writer.cursor() as cursor:  # the writer's statement runs (no hot entity yet), its commit comes later
            cursor.execute(
                "INSERT INTO findings_findingentity (finding_id, kind, value, account_id, region, first_seen,"
                " last_seen) VALUES (%s, 'ip', %s, '333333333333', 'us-west-2', now(), now())", [other.pk, IP])
        thread = threading.Thread(target=promote)
        thread.start()
        with psycopg.connect(**params, autocommit=True) as watcher:  # the promotion waits for the writer's lock
            wait_for(lambda: watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'LOCK TABLE findings_findingentity%%'").fetchone()[0] == 1,
                timeout=30, what="the promotion waiting for the writer")  # fmt: skip
        assert not done.is_set()
        writer.commit()
    finally:
        writer.close()
    assert done.wait(timeout=30)
    thread.join()
    assert _kept() == _counted()
    assert ("333333333333", "us-west-2", 1) in {(a, r, n) for a, r, n, _f in _kept()[0]}


def test_a_first_sighting_moved_earlier_is_kept_and_one_moved_later_makes_the_place_count_again():
    """GuardDuty's first sighting of a finding does not change, but a writer that changes it is still counted
    right: earlier is the place's new earliest; later may leave the kept earliest too early (stale)."""
    from findings.models import FindingEntity

    findings = store(_ip_findings(6))
    entity_rollup.entity_rollup_promote(kind="ip", value=IP)
    rows = FindingEntity.objects.filter(kind="ip", value=IP)
    earliest = min(row.first_seen for row in rows)
    target = rows.filter(finding=findings[1]).values_list("finding_id", flat=True)
    rows.filter(finding__in=list(target)).update(first_seen=earliest - timedelta(days=30))
    assert _kept() == _counted()

    moved = rows.order_by("first_seen").first()
    rows.filter(finding=moved.finding_id).update(first_seen=moved.first_seen + timedelta(days=400))
    assert entity_counts_kept(kind="ip", value=IP) is None
    entity_rollup.entity_rollup_promote(kind="ip", value=IP)
    assert _kept() == _counted()
