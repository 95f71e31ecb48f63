"""Fault matrix: real Celery workers sync 100,000 findings from the simulator while one fault at a time is injected.

    flock /tmp/gw-bench.lock env GUARDWATCH_ENV=test .venv/bin/python bench/fault_matrix.py \
        [--findings 100000] [--only NAME ...] [--pg-restart] [--from-empty] [--write-doc]

What runs: the simulator in this process (4 regions, an administrator's findings spread over them),
a Redis server of the benchmark's own (broker, results and cache: the Redis fault restarts it without
touching anyone else's), a real `celery worker` (threads, 4) and a real `celery beat` (so the
watchdogs run as in production), on a throwaway PostgreSQL database.

Each fault is a scenario on a store that is already in step with GuardDuty, as a running installation's
is: GuardDuty then updates a tenth of the findings and adds a fiftieth more (a busy hour), every
region's sync is queued (an incremental sync of what changed), and once it has stored its first pages
the fault is injected for its window, then removed; findings are also updated during the fault (so
staleness can show). After the round, one more round of syncs is queued ("the next sync").
`--from-empty` runs the scenarios as before instead: the store emptied and the fault injected 2 s into
a full first sync of every finding (convergence is then bounded by that whole sync).
Compared with the simulator's truth, each row reports:
- lost: findings GuardDuty has that GuardWatch does not, after the next sync;
- duplicated: findings stored twice (by id), or occurrences/comments recorded twice;
- stale: findings whose stored updatedAt or count differs from GuardDuty's, after the next sync;
- tasks stuck: sync runs or bulk actions still running (or queued) when the scenario ends;
- runs failed: sync runs marked failed during the scenario (a run whose worker was killed is taken over
  by the next worker and finishes: it is counted in the notes as "taken over", not as failed);
- converged after the fault ends: seconds from the fault's end until the store equals the truth with
  nothing running (measured by polling every 0.5 s, through the first round and the next sync).
`--pg-restart` adds the PostgreSQL restart (`pg_ctlcluster <version> main restart`), which restarts
the machine's only PostgreSQL: run it when nobody else uses it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
DOC = ROOT / "docs" / "reliability.md"
LOGS = ROOT / "test-output" / "fault-matrix"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate: Callable[[], object], *, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


class RedisServer:
    """The benchmark's own redis-server, restartable on the same port."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        _wait(lambda: _connects(self.port), timeout=10, what="redis-server")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class Celery:
    """A real worker and a real beat, each in its own process group (killed with -9 as a fault)."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env, self.workdir = env, workdir
        self.worker: subprocess.Popen | None = None
        self.beat: subprocess.Popen | None = None
        self.generation = 0

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        LOGS.mkdir(parents=True, exist_ok=True)
        log = (LOGS / log_name).open("a")
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "guardwatch", *args], cwd=ROOT, env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def start_worker(self) -> None:

        from guardwatch.celery import app
        from guardwatch.core.queue import queue_names

        self.generation += 1
        name = f"faults{self.generation}-{os.getpid()}@%h"
        self.worker = self._spawn(
            ["worker", "--pool", "threads", "--concurrency", "4", "--loglevel", "INFO",
             "-Q", ",".join(queue_names()), "--hostname", name, "--without-gossip", "--without-mingle"],
            "worker.log",
        )  # fmt: skip
        prefix = name.split("@")[0] + "@"
        _wait(lambda: any(n.startswith(prefix) for r in app.control.ping(timeout=0.5) for n in r),
              timeout=60, what="the worker to answer a ping")  # fmt: skip

    def start_beat(self) -> None:
        self.beat = self._spawn(["beat", "--loglevel", "INFO", "-s", str(self.workdir / "beat-schedule")], "beat.log")

    def kill_worker(self) -> None:
        if self.worker and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait(timeout=10)

    def stop(self) -> None:
        for proc in (self.beat, self.worker):
            if proc and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)


@dataclass
class Row:
    fault: str
    lost: int = 0
    duplicated: int = 0
    stale: int = 0
    tasks_stuck: int = 0
    runs_failed: int = 0
    converged_s: float | None = None
    first_round_s: float | None = None
    notes: list[str] = field(default_factory=list)


class Matrix:
    def __init__(self, server, redis: RedisServer, celery: Celery, findings: int, *, from_empty: bool) -> None:
        self.server, self.state, self.redis, self.celery = server, server.state, redis, celery
        self.findings = findings
        self.from_empty = from_empty
        self.rng = random.Random(22)

    # --- truth and store ------------------------------------------------------------------------

    def truth(self) -> dict[str, tuple[int, int]]:
        """Every finding the administrator sees: ARN -> (count, updatedAt epoch ms).

        Read straight from the simulator's records (the parser's full work on 100,000 findings at every
        0.5 s poll would cost the machine the benchmark measures); `truth_check` compares the two once."""
        with self.state.lock:
            rows = [(s.data["Arn"], s.data["Service"]["Count"], s.updated_ms)
                    for r in REGIONS for s in self.state.region_findings(r).by_id.values()]  # fmt: skip
        return {arn: (count, updated) for arn, count, updated in rows}

    def truth_check(self, sample: int = 500) -> None:
        """The shortcut `truth` reads what the parser reads (on a sample), or the matrix stops."""
        from findings.parsing import parse_finding

        truth = self.truth()
        with self.state.lock:
            datas = [s.data for r in REGIONS for s in list(self.state.region_findings(r).by_id.values())[:sample]]
        for data in datas:
            parsed = parse_finding(data)
            assert truth[parsed.arn] == (parsed.count, int(parsed.updated_at.timestamp() * 1000)), parsed.arn

    def stored(self) -> dict[str, tuple[int, int]]:
        from findings.models import Finding

        return {arn: (count, int(updated.timestamp() * 1000))
                for arn, count, updated in Finding.objects.values_list("arn", "count", "updated_at")}  # fmt: skip

    def running(self) -> int:
        from findings.models import SyncRun
        from triage.models import BulkAction

        return (SyncRun.objects.filter(status="running").count()
                + BulkAction.objects.filter(status__in=["queued", "running"]).count())  # fmt: skip

    def converged(self) -> bool:
        running, stored, truth = self.running(), self.stored(), self.truth()
        differ = [(arn, stored.get(arn), version) for arn, version in truth.items() if stored.get(arn) != version]
        self.last_seen = f"{running} running, {len(stored):,} stored of {len(truth):,}, {len(differ)} differ {differ[:2]}"
        return running == 0 and stored == truth

    def empty_store(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE findings_finding, findings_syncrun, findings_syncstate, findings_bulkaction "
                           "RESTART IDENTITY CASCADE")  # fmt: skip

    # --- driving ----------------------------------------------------------------------------------

    def queue_round(self) -> None:
        from guardwatch.celery import app

        for region in REGIONS:
            app.send_task("findings.tasks.findings_sync_region", args=[region], kwargs={"trigger": "manual"})

    def round_done(self, since_id: int) -> bool:
        from findings.models import SyncRun

        runs = SyncRun.objects.filter(pk__gt=since_id)
        done = {r for r, s in runs.values_list("region", "status") if s != "running"}
        return set(REGIONS) <= done and not runs.filter(status="running").exists()

    def last_run_id(self) -> int:
        from findings.models import SyncRun

        return SyncRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    def touch_findings(self, count: int = 300) -> None:
        """GuardDuty updates some findings while the sync runs (repeat occurrences)."""
        for _ in range(count):
            region = self.rng.choice(REGIONS)
            with self.state.lock:
                ids = list(self.state.region_findings(region).by_id)
            self.state.repeat_finding(region, self.rng.choice(ids))

    def in_step(self) -> None:
        """Bring the store in step with GuardDuty (not measured): the state a running installation is in."""
        if self.converged():
            return
        self.queue_round()
        _wait(self.converged, timeout=900, what="a store in step with GuardDuty", every=1.0)

    def busy_hour(self) -> None:
        """GuardDuty updates a tenth of the findings and adds a fiftieth more, each region alike."""
        from bench.sync_common import ADMIN

        per_region = self.findings // len(REGIONS)
        for region in REGIONS:
            with self.state.lock:
                ids = self.rng.sample(list(self.state.region_findings(region).by_id), per_region // 10)
            for finding_id in ids:
                self.state.repeat_finding(region, finding_id)
            self.state.generate_findings(ADMIN, region, per_region // 50)

    def sync_scenario(self, name: str, *, inject: Callable[[], None], heal: Callable[[], None],
                      window: float, delay: float = 2.0) -> Row:
        from findings.models import SyncRun

        row = Row(name)
        if self.from_empty:
            self.empty_store()
        else:
            self.in_step()
            self.busy_hour()
            delay = 0.0  # the incremental sync is short: inject once it has stored its first pages
        before = self.last_run_id()
        started = time.monotonic()
        self.queue_round()
        _wait(lambda: SyncRun.objects.filter(pk__gt=before, pages__gte=2).exists(), timeout=120,
              what="the round to start")  # fmt: skip
        time.sleep(delay)  # into the sync (fault timing, not a wait for a result)
        inject()
        self.touch_findings()
        time.sleep(window)  # the fault's duration
        heal()
        healed = time.monotonic()
        converged_at = None
        try:
            _wait(lambda: self.round_done(before), timeout=900, what="the first round", every=0.5)
        except RuntimeError as error:
            row.notes.append(str(error))
        row.first_round_s = round(time.monotonic() - started, 1)
        if self.converged():
            converged_at = time.monotonic()
        row.runs_failed = SyncRun.objects.filter(pk__gt=before, status="failed").count()
        # The next sync.
        second = self.last_run_id()
        self.queue_round()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if converged_at is None and self.converged():
                converged_at = time.monotonic()
            if self.round_done(second) and converged_at is not None:
                break
            time.sleep(0.5)
        row.converged_s = None if converged_at is None else round(converged_at - healed, 1)
        self._score(row)
        row.runs_failed = SyncRun.objects.filter(pk__gt=before, status="failed").count()
        failed = SyncRun.objects.filter(pk__gt=before, status="failed").values_list("region", "errors")
        row.notes += [f"{region}: {errors[:160]}" for region, errors in failed]
        taken_over = SyncRun.objects.filter(pk__gt=before, resumed__gt=0).values_list("region", flat=True)
        if taken_over:
            row.notes.append(f"runs taken over by the restarted worker: {', '.join(sorted(taken_over))}")
        return row

    def _score(self, row: Row) -> None:
        from django.db.models import Count

        from findings.models import Finding, FindingOccurrence

        truth, stored = self.truth(), self.stored()
        row.lost = len(set(truth) - set(stored))
        row.stale = sum(1 for arn, version in stored.items() if arn in truth and truth[arn] != version)
        dup_findings = (Finding.objects.values("finding_id", "region").annotate(n=Count("id"))
                        .filter(n__gt=1).count())  # fmt: skip
        dup_occurrences = (FindingOccurrence.objects.values("finding_id", "count").annotate(n=Count("id"))
                           .filter(n__gt=1).count())  # fmt: skip
        row.duplicated = dup_findings + dup_occurrences
        row.tasks_stuck = self.running()

    # --- scenarios ----------------------------------------------------------------------------------

    def throttling(self) -> Row:
        faults = self.state.faults
        return self.sync_scenario("20 % throttling (30 s)", inject=lambda: faults.add("throttle", rate=0.2),
                                  heal=faults.clear, window=30)  # fmt: skip

    def server_errors(self) -> Row:
        faults = self.state.faults
        return self.sync_scenario("burst of 5xx (10 s, every call)", inject=lambda: faults.add("server_error"),
                                  heal=faults.clear, window=10)  # fmt: skip

    def failing_page(self) -> Row:
        faults = self.state.faults
        inject = lambda: faults.add("fail_page", page=3, repeat="once")  # noqa: E731
        return self.sync_scenario("a ListFindings page failing mid-listing", inject=inject, heal=lambda: None,
                                  window=0)  # fmt: skip

    def worker_killed(self) -> Row:
        def heal():
            self.celery.start_worker()  # a supervisor restarts it

        return self.sync_scenario("kill -9 of the worker mid-sync", inject=self.celery.kill_worker, heal=heal,
                                  window=0)  # fmt: skip

    def redis_restart(self) -> Row:
        return self.sync_scenario("Redis down 10 s mid-sync (restart)", inject=self.redis.stop, heal=self.redis.start,
                                  window=10)  # fmt: skip

    def pg_connections_killed(self) -> Row:
        def inject():
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()")  # fmt: skip

        return self.sync_scenario("PostgreSQL connections terminated mid-sync", inject=inject, heal=lambda: None,
                                  window=0)  # fmt: skip

    def pg_restart(self) -> Row:
        version = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout.split()[0]

        def inject():
            from django.db import connection

            subprocess.run(["pg_ctlcluster", version, "main", "restart"], check=True)
            connection.close()

        return self.sync_scenario("PostgreSQL restart mid-sync", inject=inject, heal=lambda: None, window=0)

    def bulk_killed(self) -> Row:
        from django.contrib.auth import get_user_model
        from django.db.models import Count

        from findings.models import Finding, FindingEvent
        from triage.bulk import BulkRequest, findings_bulk_apply
        from triage.models import BulkAction

        row = Row("kill -9 of the worker mid bulk comment")
        if not Finding.objects.exists():
            self.queue_round()
            _wait(lambda: self.converged(), timeout=600, what="a synced store", every=0.5)
        actor, _ = get_user_model().objects.get_or_create(username="fault-matrix")
        body = f"fault matrix {time.time()}"
        total, bulk = findings_bulk_apply(request=BulkRequest("comment", {"comment": body}, None, ""), actor=actor)
        _wait(lambda: BulkAction.objects.get(pk=bulk.pk).done > 0, timeout=120, what="the bulk to start")
        self.celery.kill_worker()
        killed_at = BulkAction.objects.get(pk=bulk.pk).done
        self.celery.start_worker()
        healed = time.monotonic()
        try:
            _wait(lambda: BulkAction.objects.get(pk=bulk.pk).status == "done", timeout=300,
                  what="the bulk to finish", every=0.5)  # fmt: skip
            row.converged_s = round(time.monotonic() - healed, 1)
        except RuntimeError as error:
            row.notes.append(str(error))
        comments = FindingEvent.objects.filter(kind="comment", body=body)
        per = dict(comments.values_list("finding_id").annotate(n=Count("id")))
        row.lost = total - len(per)
        row.duplicated = sum(1 for n in per.values() if n > 1)
        row.tasks_stuck = BulkAction.objects.filter(status__in=["queued", "running"]).count()
        row.runs_failed = BulkAction.objects.filter(pk=bulk.pk, status="failed").count()
        row.notes.append(f"{total:,} findings; killed after {killed_at:,}")
        return row

    def eventbridge(self) -> Row:
        """The same EventBridge event twice, and an older version after a newer one."""
        from django.test import Client

        from findings.services import ingest_key_create
        from gdsim.catalogue import to_eventbridge_event

        row = Row("EventBridge: duplicated and out-of-order deliveries")
        if not _store_has_findings():
            self.queue_round()
            _wait(lambda: self.converged(), timeout=600, what="a synced store", every=0.5)
        from django.contrib.auth import get_user_model

        actor, _ = get_user_model().objects.get_or_create(username="fault-matrix")
        _key, secret = ingest_key_create(name=f"faults-{time.time()}", actor=actor)
        client = Client()
        started = time.monotonic()
        picked = []
        for _ in range(200):
            region = self.rng.choice(REGIONS)
            with self.state.lock:
                finding_id = self.rng.choice(list(self.state.region_findings(region).by_id))
                old = json.loads(json.dumps(self.state.region_findings(region).get(finding_id).data, default=str))
            new = self.state.repeat_finding(region, finding_id)
            picked.append((old, json.loads(json.dumps(new, default=str))))
        statuses = []
        for old, new in picked:
            for event in (to_eventbridge_event(new), to_eventbridge_event(new), to_eventbridge_event(old)):
                response = client.post("/ingest/eventbridge/", data=json.dumps(event),
                                       content_type="application/json", headers={"X-GuardWatch-Key": secret})  # fmt: skip
                statuses.append(response.status_code)
        row.notes.append(f"600 deliveries of 200 updated findings: answers {sorted(set(statuses))}")
        before = self.last_run_id()
        self.queue_round()
        try:
            _wait(lambda: self.round_done(before) and self.converged(), timeout=600, what="convergence", every=0.5)
            row.converged_s = round(time.monotonic() - started, 1)
        except RuntimeError as error:
            row.notes.append(str(error))
        self._score(row)
        return row


def _store_has_findings() -> bool:
    from findings.models import Finding

    return Finding.objects.exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=100_000)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--pg-restart", action="store_true")
    parser.add_argument("--from-empty", action="store_true", help="inject each fault into a full first sync")
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()
    # A timeout or a supervisor's SIGTERM still runs the `finally` below: no worker, beat or Redis is left.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    redis = RedisServer()
    redis.start()
    os.environ.update(REDIS_URL=redis.url, GUARDWATCH_AWS_REGIONS=",".join(REGIONS),
                      GUARDWATCH_FINDINGS_SYNC_MINUTES="60", GUARDWATCH_ENV="test",
                      GUARDWATCH_FINDINGS_SYNC_FAULT_BUDGET_SECONDS="300")  # production's, not test mode's 0  # fmt: skip
    from bench.common import fresh_database, setup_django

    setup_django("gw_bench_faults")
    from bench.sync_common import seed, start_simulator

    server = start_simulator()
    workdir = Path(tempfile.mkdtemp(prefix="gw-faults-"))
    rows: list[Row] = []
    celery = None
    try:
        with fresh_database():

            state = server.state
            state.reset()
            for region in REGIONS:
                seed(state, region, args.findings // len(REGIONS))
            # GuardDuty's clock runs, as the real one does: updates made during a scenario carry "now".
            state.set_clock(datetime.now(UTC), frozen=False)
            from django.db import connection

            env = dict(os.environ)
            db = connection.settings_dict
            env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
            env["PYTHONPATH"] = str(ROOT)
            celery = Celery(env, workdir)
            celery.start_worker()
            celery.start_beat()
            matrix = Matrix(server, redis, celery, args.findings, from_empty=args.from_empty)
            matrix.truth_check()
            scenarios = [("throttling", matrix.throttling), ("5xx", matrix.server_errors),
                         ("page", matrix.failing_page), ("kill-sync", matrix.worker_killed),
                         ("kill-bulk", matrix.bulk_killed), ("redis", matrix.redis_restart),
                         ("pg-connections", matrix.pg_connections_killed), ("eventbridge", matrix.eventbridge)]  # fmt: skip
            if args.pg_restart:
                scenarios.append(("pg-restart", matrix.pg_restart))
            for key, scenario in scenarios:
                if args.only and key not in args.only:
                    continue
                print(f"--- {key}", flush=True)
                row = scenario()
                rows.append(row)
                print(json.dumps(asdict(row)), flush=True)
    finally:
        if celery:
            celery.stop()
        server.stop()
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    table = _table(rows, args.findings, from_empty=args.from_empty)
    print(table)
    if args.write_doc:
        _write_doc(table)


def _table(rows: list[Row], findings: int, *, from_empty: bool) -> str:
    what = ("each fault injected 2 s into a full first sync (`--from-empty`)" if from_empty else
            f"each fault injected into the incremental sync of a store in step, after GuardDuty changed "
            f"{findings // 10:,} findings and added {findings // 50:,}")  # fmt: skip
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {findings:,} findings in 4 regions, "
        f"{what}, commit {_commit()}, `/proc/loadavg` at the end {Path('/proc/loadavg').read_text().split()[:3]}.",
        "",
        "| fault | lost | duplicated | stale after the next sync | tasks stuck | runs failed | "
        "converged after the fault ends (s) | round under the fault (s) | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        notes = "; ".join(n.replace("|", "/") for n in r.notes)[:400]
        conv = "not converged" if r.converged_s is None else f"{r.converged_s}"
        lines.append(f"| {r.fault} | {r.lost} | {r.duplicated} | {r.stale} | {r.tasks_stuck} | {r.runs_failed} | "
                     f"{conv} | {r.first_round_s if r.first_round_s is not None else '—'} | {notes} |")  # fmt: skip
    return "\n".join(lines)


def _commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def _write_doc(table: str) -> None:
    marker_start, marker_end = "<!-- fault-matrix:start -->", "<!-- fault-matrix:end -->"
    text = DOC.read_text()
    head, rest = text.split(marker_start, 1)
    _old, tail = rest.split(marker_end, 1)
    DOC.write_text(f"{head}{marker_start}\n{table}\n{marker_end}{tail}")


if __name__ == "__main__":
    main()
