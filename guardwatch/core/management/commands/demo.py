"""`manage.py demo`: run the whole demo — GuardDuty simulator, a Celery worker with beat, and the web.

The demo uses the production code paths end to end: the web enqueues Celery tasks, a real worker
runs them, and the worker's gateways call GuardDuty through boto3 — against the local simulator
instead of AWS. Only the broker differs when Redis is absent (kombu's filesystem transport).
"""

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from guardwatch.core.management.commands.demo_users import DEMO_USERS
from guardwatch.core.queue import queue_names

DEMO_ADMIN_ACCOUNT = "111111111111"
# The simulator's members and findings are in its four first regions; these first, then the other enabled ones.
DEMO_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2", "ap-northeast-1", "ap-northeast-2",
                "ap-northeast-3", "ap-south-1", "ap-southeast-1", "ca-central-1", "eu-central-1", "eu-north-1",
                "eu-west-2", "eu-west-3", "sa-east-1", "us-east-2", "us-west-1")  # fmt: skip
# What beat would run first: member statuses (each region's sync then reads protection plans), findings;
# then, once those findings are in, the demo analyst's past month of triage (findings/demo_history.py).
FIRST_SYNC_TASKS = (
    "accounts.tasks.members_sync_all_regions",
    "accounts.tasks.organization_refresh",
    "accounts.tasks.enabled_regions_discover",
    "findings.tasks.findings_sync_all_regions",
    "findings.tasks.demo_history_seed",
)
# `make demo SSO=1`: the demo IdP's users (login, groups, the role the mappings give) and the mappings.
# team-payments also puts its members in the demo's "payments" team (the payments-* accounts), scoped to it.
DEMO_IDP_MAPPINGS = (("team-payments", "Analyst", "payments", True), ("secops", "Admin", "", False),
                     ("leadership", "Manager", "", False))  # fmt: skip
DEMO_TEAM = "payments"
DEMO_IDP_USERS = (
    ("pat", ["team-payments", "everyone"], "Analyst"),
    ("sam", ["secops", "everyone"], "Admin"),
    ("lee", ["leadership"], "Manager"),
    ("kim", ["everyone"], "no access: no mapped group"),
)


class Command(BaseCommand):
    help = "Serve the demo: simulator + Celery worker/beat + web server (demo mode only)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--sim-port", type=int, default=4566)
        parser.add_argument("--scenario", default="demo")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--sso", action="store_true",
                            help="also start a local OpenID Connect IdP (node; `make demo SSO=1`)")
        parser.add_argument("--idp-port", type=int, default=9400)
        parser.add_argument("--jira-port", type=int, default=0, help="the local Jira stand-in (https); 0: a free port")

    def handle(self, *args, port: int, sim_port: int, scenario: str, seed: int, sso: bool = False,
               idp_port: int = 9400, jira_port: int = 0, **options):  # fmt: skip
        if not settings.DEMO:
            raise CommandError("`manage.py demo` only runs with GUARDWATCH_ENV=demo.")
        from gdsim import credentials_for, invitation_only_accounts

        if scenario == "demo":  # the members outside the organization, with the names their admin gave them
            call_command("demo_accounts", *[",".join((a["account_id"], a["email"], a["name"]))
                                            for a in invitation_only_accounts()])  # fmt: skip
        call_command("demo_report_subscription")  # the manager's weekly PDF (issue 20): the beat sends the last one

        var = Path(settings.VAR_DIR)
        for folder in ("celery/queue", "celery/processed", "celery/results", "celery/control", "logs"):
            (var / folder).mkdir(parents=True, exist_ok=True)
        endpoint = f"http://127.0.0.1:{sim_port}"
        creds = credentials_for(DEMO_ADMIN_ACCOUNT)
        env = dict(os.environ)
        env.update(
            GUARDWATCH_ENV="demo",
            GUARDWATCH_AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID=creds["aws_access_key_id"],
            AWS_SECRET_ACCESS_KEY=creds["aws_secret_access_key"],
            AWS_DEFAULT_REGION="us-east-1",
            GUARDWATCH_PUBLIC_URL=f"http://127.0.0.1:{port}",
            # Every region enabled for the demo's administrator (the simulator's DescribeRegions), so a coverage
            # policy for "all enabled regions" can be fixed from the demo (issue 19's done-when).
            GUARDWATCH_AWS_REGIONS=os.environ.get("GUARDWATCH_AWS_REGIONS") or ",".join(DEMO_REGIONS),
        )
        # The local Jira stand-in (two-way tickets): https under its own certificate, which GuardWatch trusts,
        # polled often enough that a ticket closed there resolves its finding within a few seconds.
        from gdsim.jira import self_signed_write

        jira_cert, jira_key = self_signed_write(var / "jira-standin")
        jira_port = jira_port or _free_port()
        jira_url = f"https://127.0.0.1:{jira_port}"
        env.update(GUARDWATCH_NOTIFY_CA_FILE=str(jira_cert), GUARDWATCH_TICKET_POLL_SECONDS="15")
        env.pop("AWS_SESSION_TOKEN", None)
        env.pop("AWS_PROFILE", None)
        python = sys.executable
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        processes: list[tuple[str, subprocess.Popen]] = []

        def spawn(name: str, argv: list[str]) -> None:
            log = (var / "logs" / f"{name}.log").open("a")
            # argv is always this interpreter with fixed arguments (-m gdsim, -m celery, manage.py): no user input.
            # Each in a process group of its own, stopped as a group: the worker's embedded beat is a
            # child of the worker, which a signal to the worker alone left running.
            proc = subprocess.Popen(argv, env=env, cwd=settings.BASE_DIR, stdout=log,  # noqa: S603
                                    stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
            processes.append((name, proc))

        def stop_all(*_args) -> None:
            for _name, proc in reversed(processes):
                _signal_group(proc, signal.SIGTERM)
            for _name, proc in processes:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    _signal_group(proc, signal.SIGKILL)
                    proc.wait(timeout=10)
            deadline = time.monotonic() + 10  # the groups' other members (beat) follow their leader out
            while any(_group_alive(proc) for _name, proc in processes) and time.monotonic() < deadline:
                time.sleep(0.2)
            for _name, proc in processes:
                _signal_group(proc, signal.SIGKILL)

        signal.signal(signal.SIGTERM, lambda *_a: (stop_all(), sys.exit(0)))
        try:
            spawn(
                "simulator",
                [python, "-m", "gdsim", "--port", str(sim_port), "--scenario", scenario, "--seed", str(seed),
                 "--persist", str(var / "simulator.sqlite3"), "--live"],
            )  # fmt: skip
            self._wait_for(f"{endpoint}/_sim/health", "the GuardDuty simulator", processes, var)
            spawn("jira", [python, "-m", "gdsim.jira", "--port", str(jira_port), "--cert", str(jira_cert),
                           "--key", str(jira_key)])  # fmt: skip
            self._wait_for(f"{jira_url}/_standin/health", "the Jira stand-in", processes, var,
                           context=ssl.create_default_context(cafile=str(jira_cert)))  # fmt: skip
            call_command("demo_jira", base_url=jira_url)
            # One worker consumes every queue in the demo (production runs one per kind of work).
            spawn(
                "worker",
                [python, "-m", "celery", "-A", "guardwatch", "worker", "--beat", "--pool", "threads",
                 "--queues", ",".join(queue_names()),
                 "--concurrency", "4", "--loglevel", "INFO", "--schedule", str(var / "celerybeat-schedule")],
            )  # fmt: skip
            self._first_sync(env)
            if sso:
                issuer = self._start_idp(spawn, env, var, port=port, idp_port=idp_port)
                self._wait_for(f"{issuer}/.well-known/openid-configuration", "the demo IdP", processes, var)
            spawn("web", [python, manage, "runserver", f"127.0.0.1:{port}", "--noreload"])
            self._wait_for(f"http://127.0.0.1:{port}/healthz", "the web server", processes, var)
            self._eventbridge_connect(port, endpoint)
            self._banner(port, endpoint, var, idp_port=idp_port if sso else None, jira_url=jira_url)
            while all(proc.poll() is None for _name, proc in processes):
                time.sleep(1)
            dead = [name for name, proc in processes if proc.poll() is not None]
            raise CommandError(f"{', '.join(dead)} stopped; see {var}/logs/{dead[0]}.log")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping the demo…")
        finally:
            stop_all()

    def _wait_for(self, url: str, what: str, processes, var: Path, timeout: float = 60, context=None) -> None:
        """Poll `url` until it answers 200, or fail naming the log to read."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in processes:
                if proc.poll() is not None:
                    raise CommandError(f"The {name} process exited; see {var}/logs/{name}.log")
            try:
                with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310 (local URL)
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        raise CommandError(f"{what} did not answer at {url} within {timeout:.0f}s; see {var}/logs/.")

    def _first_sync(self, env: dict) -> None:
        """Queue the same tasks beat runs, so the dashboard fills without waiting for the first tick.

        Beat's interval entries first fire one interval after it starts; the web process has not
        imported the task modules, so the tasks are sent by name (the worker has them).
        """
        from celery import current_app  # guardwatch's (guardwatch/__init__.py loads it)

        for task in FIRST_SYNC_TASKS:
            current_app.send_task(task)

    def _eventbridge_connect(self, port: int, endpoint: str) -> None:
        """The simulator stands for CloudTrail + EventBridge: it pushes GuardDuty's write calls to the ingest URL
        (tamper alarms), as the rule in docs/tamper-alarms.md would (findings' `demo_eventbridge` command)."""
        call_command("demo_eventbridge", ingest_url=f"http://127.0.0.1:{port}/ingest/eventbridge/",
                     simulator=endpoint)  # fmt: skip

    def _start_idp(self, spawn, env: dict, var: Path, *, port: int, idp_port: int) -> str:
        """node-oidc-provider (tests/idp, installed by `make idp-deps`) with the demo's IdP users, its
        groups mapped to roles, and the web process configured for it (env, before the web starts)."""
        import json
        import shutil

        from guardwatch.core.services import sso_mapping_save

        node = shutil.which("node")
        script = Path(settings.BASE_DIR) / "tests" / "idp" / "oidc.mjs"
        if node is None or not (script.parent / "node_modules" / "oidc-provider").exists():
            raise CommandError("SSO=1 needs node 20+ and `make idp-deps` (npm ci in tests/idp).")
        folder = var / "idp"
        folder.mkdir(exist_ok=True)
        users = folder / "users.json"
        users.write_text(json.dumps({login: {"email": f"{login}@example.com", "groups": groups}
                                     for login, groups, _role in DEMO_IDP_USERS}))  # fmt: skip
        config = folder / "config.json"
        config.write_text(json.dumps({"client_id": "guardwatch-demo", "client_secret": "guardwatch-demo-secret",
                                      "redirect_uri": f"http://127.0.0.1:{port}/auth/oidc/oidc/login/callback/",
                                      "users_file": str(users)}))  # fmt: skip
        from gdsim import member_accounts

        payments = [a["account_id"] for a in member_accounts() if a["name"].startswith(f"{DEMO_TEAM}-")]
        call_command("demo_team", DEMO_TEAM, *payments)
        for group, role, team, scoped in DEMO_IDP_MAPPINGS:
            sso_mapping_save(group=group, role=role, team=team, scoped=scoped, actor="demo")
        issuer = f"http://127.0.0.1:{idp_port}"
        env.update(GUARDWATCH_OIDC_ISSUER=issuer, GUARDWATCH_OIDC_CLIENT_ID="guardwatch-demo",
                   GUARDWATCH_OIDC_CLIENT_SECRET="guardwatch-demo-secret",  # noqa: S106 - the demo IdP's, published
                   GUARDWATCH_OIDC_NAME="the demo IdP")  # fmt: skip
        spawn("idp", [node, str(script), str(idp_port), str(config)])
        return issuer

    def _banner(self, port: int, endpoint: str, var: Path, idp_port: int | None = None, jira_url: str = "") -> None:
        sso = [
            f"  Demo IdP:   http://127.0.0.1:{idp_port}/ (OpenID Connect; any password) — sign in as:",
            *[f"    {login:<8} groups {', '.join(groups)} -> {role}" for login, groups, role in DEMO_IDP_USERS],
            f"    (team-payments also gives team {DEMO_TEAM}, scoped: pat sees only the {DEMO_TEAM}-* accounts)",
        ] if idp_port else []  # fmt: skip
        lines = [
            "",
            "GuardWatch demo is running.",
            f"  Dashboard:  http://127.0.0.1:{port}/",
            f"  Simulator:  {endpoint} (GuardDuty API stand-in; state in {var}/simulator.sqlite3)",
            "  EventBridge: the simulator pushes CloudTrail's GuardDuty calls to /ingest/eventbridge/ (tamper alarms)",
            f"  Jira:       {jira_url} (Jira Cloud stand-in, self-signed): \"Create ticket\" on a finding, open the"
            " issue, press Done; the next poll (15 s) resolves the finding",
            f"  Logs:       {var}/logs/{{simulator,jira,worker,web}}.log",
            "  Logins:",
            *[f"    {role.value:<8} {username} / {password}" for username, role, password in DEMO_USERS],
            *sso,
            "Press Ctrl-C to stop.",
            "",
        ]
        self.stdout.write("\n".join(lines))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    """Send `signum` to the process group `proc` leads (it and everything it started); gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


def _group_alive(proc: subprocess.Popen) -> bool:
    """Whether any process of the group `proc` leads is still running."""
    try:
        os.killpg(proc.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
