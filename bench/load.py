"""Load test of the web tier as production runs it: analysts looping through the findings pages.

What runs (all on this machine, like the 2-core box the targets are for):
- gunicorn exactly as the Dockerfile starts it (3 workers x 4 threads, gunicorn.conf.py, access log on)
  with production settings (GUARDWATCH_ENV=production, a random SECRET_KEY, Redis cache, collectstatic's
  manifest), bound to loopback;
- a stand-in for the TLS-terminating proxy (`--proxy` mode of this script, a separate process): it adds
  X-Forwarded-Proto: https and X-Forwarded-For as a load balancer does; gunicorn believes the scheme
  because the proxy is on 127.0.0.1 (FORWARDED_ALLOW_IPS' default), and GUARDWATCH_TRUSTED_PROXY_HOPS=1
  reads the client's address from X-Forwarded-For;
- the load client (this process): one thread per user, each with its own cookie jar. A user signs in
  through the real form (GET /login/, the CSRF token from it, POST with Origin, as a browser does), then
  loops with no think time through one round of:
    list_open        GET  /findings/?status=open                  (full page)
    severity_filter  HTMX the filter form with High ticked        (#results partial)
    next_page        HTMX the partial's own "Next page" link      (#results partial)
    search_rare      HTMX the filter form searching a rare word   (a resource id: tens of findings)
    search_common    HTMX the filter form searching a common word (thousands of findings)
    detail           GET  /findings/<pk>/ of a finding on the page it paged to (full page)
    ticket_panel     HTMX the request that page sends on load     (notifications ticket panel)
  HTMX requests carry what htmx 2 sends (HX-Request, HX-Current-URL, HX-Target/HX-Trigger where the
  element has an id) and the form's fields as htmx serialises them.

Per level of concurrent users (default 1, 5, 20, 50): per request kind req/s, p50/p95/p99 and errors,
and the CPU of gunicorn (master + workers) and of the PostgreSQL backends serving this database, from
/proc. Then one more user exports every open finding as the page does while 20 others loop, and their
p95 is compared with the 20-user level's: from the list page it POSTs the Export CSV form (CSRF token and
the filter as the page has them), opens the Exports page, polls its row's progress partial every second
as htmx does, and downloads the file when done (Accept-Encoding gzip, as a browser). The export is
written by an exports worker started as docker-compose.yml's `worker-exports` command runs it (nice 19,
concurrency 1, its own queue). The 20 users' window is the export's whole life (queued to downloaded),
capped at 3 x --seconds: a capped export is reported with how far it got, then cancelled.

The database is BENCH_DATABASE_URL (default gw_bench_load), seeded by bench/seed_findings.py when it
holds fewer than --findings findings (its users sign in under production's password hasher).

    flock /tmp/gw-bench.lock .venv/bin/python bench/load.py [--users 1,5,20,50] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import http.cookiejar
import ipaddress
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/gw_bench_load"
USERS = ["analyst", "ana", "bram", "chen", "dita"]  # seed_findings.ANALYSTS
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - seed_findings.ANALYST_PASSWORD
KINDS = (
    "list_open",
    "severity_filter",
    "next_page",
    "search_rare",
    "search_common",
    "detail",
    "ticket_panel",
)
# What analysts paste in an incident (one instance's id: tens of findings) and a word of many titles.
COMMON_WORD = "bitcoin"
TIMEOUT = 60


# --- The stand-in TLS-terminating proxy (a process of its own) ------------------------------------------

_HOP_HEADERS = {b"connection", b"keep-alive", b"proxy-connection", b"x-forwarded-for", b"x-forwarded-proto",
                b"x-forwarded-host", b"forwarded"}  # fmt: skip


async def _proxy_handle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: tuple[str, int]
):
    """One request per connection: add the forwarded headers, pass the answer through as it streams."""
    up_writer = None
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        headers = [line for line in lines[1:] if line.split(b":", 1)[0].strip().lower() not in _HOP_HEADERS]
        length = next((int(line.split(b":", 1)[1]) for line in headers
                       if line.split(b":", 1)[0].strip().lower() == b"content-length"), 0)  # fmt: skip
        body = await reader.readexactly(length) if length else b""
        client = writer.get_extra_info("peername")[0]
        headers += [f"X-Forwarded-For: {client}".encode(), b"X-Forwarded-Proto: https", b"Connection: close"]
        up_reader, up_writer = await asyncio.open_connection(*upstream)
        up_writer.write(b"\r\n".join([lines[0], *headers]) + b"\r\n\r\n" + body)
        await up_writer.drain()
        while chunk := await up_reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        for w in (up_writer, writer):
            if w is not None:
                w.close()


def proxy_main(listen_port: int, upstream_port: int) -> None:
    async def serve():
        server = await asyncio.start_server(
            lambda r, w: _proxy_handle(r, w, ("127.0.0.1", upstream_port)),
            "127.0.0.1",
            listen_port,
            limit=65536,
        )
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


# --- A browser's cookie jar and forms, in the standard library ---------------------------------------------


class LoopbackSecurePolicy(http.cookiejar.DefaultCookiePolicy):
    """Send Secure cookies to loopback over http, as browsers do (localhost is a secure context): the
    client talks http to the stand-in proxy, while the site sees https and marks its cookies Secure."""

    def return_ok_secure(self, cookie, request):
        host = urllib.parse.urlsplit(request.get_full_url()).hostname or ""
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        return loopback or super().return_ok_secure(cookie, request)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a redirect is an answer to measure (the sign-in page would hide an ended session)


class FormParser(HTMLParser):
    """The fields of one form (by id) as a browser (and htmx) submits them, and the CSRF token."""

    def __init__(self, form_id: str | None = None):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.in_form = False
        self.fields: list[list] = []  # [name, value, kind]
        self._select: list | None = None
        self._select_first: str | None = None
        self.csrf: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.form_id and a.get("id") == self.form_id:
            self.in_form = True
        if tag == "input" and a.get("name") == "csrfmiddlewaretoken":
            self.csrf = a.get("value")
        if not self.in_form:
            return
        name = a.get("name")
        if tag == "input" and name and "disabled" not in a:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.append([name, a.get("value", "on"), kind])
                else:
                    self.fields.append([name, a.get("value", "on"), "unchecked"])
            elif kind not in ("submit", "button", "reset", "file", "image"):
                self.fields.append([name, a.get("value", ""), kind])
        elif tag == "select" and name:
            self._select = [name, None, "select"]
            self._select_first = None
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in a:
                self._select[1] = value

    def handle_endtag(self, tag):
        if tag == "select" and self._select is not None:
            if self._select[1] is None:
                self._select[1] = self._select_first or ""
            self.fields.append(self._select)
            self._select = None
        if tag == "form" and self.in_form:
            self.in_form = False

    def query(self, **changes) -> str:
        """The form's submission with `changes`: a name to a value (text, select) or to True/False (a box)."""
        pairs = []
        for name, value, kind in self.fields:
            if kind in ("checkbox", "radio", "unchecked"):
                want = changes.get(f"{name}={value}", kind != "unchecked")
                if want:
                    pairs.append((name, value))
            else:
                pairs.append((name, changes.get(name, value)))
        return urllib.parse.urlencode(pairs)


def parse(text: str, form_id: str | None = None) -> FormParser:
    parser = FormParser(form_id)
    parser.feed(text)
    return parser


# The load client shares the 2 cores with the server, so after a user's first page (parsed whole, for
# its filter form) it finds the few things it follows with regular expressions (values unescaped once).
_TAG = re.compile(r"<(?:a|div|section)\b[^>]*>")
_HX_GET = re.compile(r'hx-get="([^"]*)"')
_FINDING_ROW = re.compile(r'<tr data-finding="(\d+)"')


def next_link(page: str) -> str | None:
    """The hx-get of the page's own "Next page" link (rel="next")."""
    for tag in _TAG.findall(page):
        if 'rel="next"' in tag and (found := _HX_GET.search(tag)):
            return html.unescape(found.group(1))
    return None


def load_request(page: str) -> str | None:
    """What an element with hx-trigger="load" asks for as the page loads."""
    for tag in _TAG.findall(page):
        if 'hx-trigger="load"' in tag and (found := _HX_GET.search(tag)):
            return html.unescape(found.group(1))
    return None


def finding_ids(page: str) -> list[int]:
    return [int(pk) for pk in _FINDING_ROW.findall(page)]


# --- One user ----------------------------------------------------------------------------------------------


@dataclass
class Sample:
    kind: str
    started: float
    seconds: float
    status: int
    size: int


@dataclass
class Recorder:
    """Samples of every user, kept only inside the measured window."""

    samples: list[Sample] = field(default_factory=list)
    window: tuple[float, float] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        window = self.window
        if window and window[0] <= sample.started and sample.started + sample.seconds <= window[1]:
            with self.lock:
                self.samples.append(sample)


class User:
    """One browser: a cookie jar, no redirects followed, the site's https origin in Origin/Referer."""

    def __init__(self, base: str, username: str, rare_words: list[str], index: int):
        self.base = base
        self.origin = "https://" + urllib.parse.urlsplit(base).netloc  # what the browser's address bar shows
        self.username = username
        self.rare_words = rare_words
        self.index = index
        self.jar = http.cookiejar.CookieJar(policy=LoopbackSecurePolicy())
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())
        self.round = 0
        self.form: FormParser | None = None

    def request(self, path: str, *, data: bytes | None = None, headers: dict | None = None, stream=False):
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})  # noqa: S310 - loopback
        req.add_header("User-Agent", "guardwatch-load/1")
        try:
            response = self.opener.open(req, timeout=TIMEOUT)
        except urllib.error.HTTPError as error:
            body = error.read()
            return error.code, body.decode("utf-8", "replace"), len(body)
        if stream:
            size = 0
            while chunk := response.read(1 << 18):
                size += len(chunk)
            response.close()
            return response.status, "", size
        body = response.read()
        return response.status, body.decode("utf-8", "replace"), len(body)

    def sign_in(self) -> None:
        status, page, _ = self.request("/login/")
        token = parse(page).csrf
        if status != 200 or not token:
            raise RuntimeError(f"sign-in page answered {status}")
        data = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token, "username": self.username, "password": PASSWORD, "next": ""}
        ).encode()
        status, body, _ = self.request(
            "/login/", data=data, headers={"Origin": self.origin, "Referer": self.origin + "/login/",
                                           "Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        if status != 302:
            raise RuntimeError(f"{self.username} could not sign in ({status}): {body[:300]}")

    def timed(self, recorder: Recorder, kind: str, path: str, headers: dict | None = None, stream=False):
        started = time.time()
        t0 = time.perf_counter()
        try:
            status, body, size = self.request(path, headers=headers, stream=stream)
        except (OSError, urllib.error.URLError) as error:
            status, body, size = 599, str(error), 0
        recorder.add(Sample(kind, started, time.perf_counter() - t0, status, size))
        return status, body

    def htmx(self, current: str, target: str | None = None, trigger: str | None = None) -> dict:
        headers = {"HX-Request": "true", "HX-Current-URL": self.origin + current}
        if target:
            headers["HX-Target"] = target
        if trigger:
            headers["HX-Trigger"] = trigger
        return headers

    def one_round(self, recorder: Recorder) -> None:
        self.round += 1
        list_path = "/findings/?status=open"
        status, page = self.timed(recorder, "list_open", list_path)
        if status != 200:
            return
        if self.form is None:  # the same form every round
            self.form = parse(page, "filters")
        form = self.form
        list_hx = self.htmx(list_path, "results", "filters")
        query = form.query(**{"band=high": True})
        status, partial = self.timed(recorder, "severity_filter", f"/findings/?{query}", list_hx)
        if status != 200:
            return
        current = f"/findings/?{query}"
        link = next_link(partial)
        if link:
            next_path = urllib.parse.urljoin(current, link)  # relative to the page
            status, next_partial = self.timed(recorder, "next_page", next_path, self.htmx(current, "results"))
            if status == 200:
                partial = next_partial
        ids = finding_ids(partial)
        rare = self.rare_words[(self.index + self.round) % len(self.rare_words)]
        self.timed(recorder, "search_rare", "/findings/?" + form.query(q=rare), list_hx)
        self.timed(recorder, "search_common", "/findings/?" + form.query(q=COMMON_WORD), list_hx)
        if not ids:
            return
        pk = ids[(self.index * 7 + self.round) % len(ids)]
        detail_path = f"/findings/{pk}/"
        status, page = self.timed(recorder, "detail", detail_path)
        if status != 200:
            return
        panel = load_request(page)
        if panel:
            panel_path = urllib.parse.urljoin(detail_path, panel)
            self.timed(recorder, "ticket_panel", panel_path, self.htmx(detail_path))


# --- Processes and /proc --------------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[int, int, int] | None:
    """(parent pid, CPU ticks used, start time in ticks since boot) of a process, or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[19])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat and stat[0] == pid:
                found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds of gunicorn (master + workers), of this database's PostgreSQL backends, and of the
    load client and proxy, over a window. Backends come and go (CONN_MAX_AGE): the set is sampled every
    half second, and a backend's time counts from its start when it started inside the window."""

    def __init__(
        self, gunicorn_pid: int, proxy_pid: int, database: str, dsn: str, worker_pid: int | None = None
    ):
        import psycopg

        self.gunicorn_pid, self.proxy_pid, self.database = gunicorn_pid, proxy_pid, database
        self.worker_pid = worker_pid
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.own_backend = self.conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        self.stop = threading.Event()
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.boot_ticks = 0

    def _backends(self) -> list[int]:
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
            [self.database, self.own_backend],
        ).fetchall()
        return [row[0] for row in rows]

    def _web_ticks(self) -> int:
        pids = [self.gunicorn_pid, *_children(self.gunicorn_pid)]
        return sum((_proc_stat(pid) or (0, 0, 0))[1] for pid in pids)

    def _worker_ticks(self) -> int:
        if self.worker_pid is None:
            return 0
        pids = [self.worker_pid, *_children(self.worker_pid)]
        return sum((_proc_stat(pid) or (0, 0, 0))[1] for pid in pids)

    def _sample(self, start_ticks: float) -> None:
        for pid in self._backends():
            stat = _proc_stat(pid)
            if stat is None:
                continue
            if pid not in self.first:
                self.first[pid] = stat[1] if stat[2] < start_ticks else 0
            self.last[pid] = stat[1]

    def __enter__(self):
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        start_ticks = uptime * CLOCK_TICKS
        self.web0 = self._web_ticks()
        self.worker0 = self._worker_ticks()
        self.proxy0 = (_proc_stat(self.proxy_pid) or (0, 0, 0))[1]
        self.client0 = os.times()
        self.first, self.last = {}, {}
        self._sample(start_ticks)
        self.started = time.time()

        def loop():
            while not self.stop.wait(0.5):
                self._sample(start_ticks)

        self.stop.clear()
        self.thread = threading.Thread(target=loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        self._sample(uptime * CLOCK_TICKS + 1)
        self.seconds = time.time() - self.started
        client = os.times()
        self.web = (self._web_ticks() - self.web0) / CLOCK_TICKS
        self.worker = (self._worker_ticks() - self.worker0) / CLOCK_TICKS
        self.pg = sum(self.last[pid] - self.first[pid] for pid in self.last) / CLOCK_TICKS
        self.client = client.user + client.system - self.client0.user - self.client0.system
        self.client += ((_proc_stat(self.proxy_pid) or (0, 0, 0))[1] - self.proxy0) / CLOCK_TICKS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310 - loopback
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {seconds:.0f} s")


def production_env(db_url: str, redis_url: str) -> dict:
    env = dict(os.environ)
    for name in list(env):
        if name.startswith(("GUARDWATCH_", "DJANGO_")) or name in ("DEBUG", "SECURE_SSL_REDIRECT"):
            env.pop(name)
    env.update(
        GUARDWATCH_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(64),
        GUARDWATCH_SECRETS_KEY=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        GUARDWATCH_TRUSTED_PROXY_HOPS="1",
        GUARDWATCH_CELERY_QUEUE=f"load-bench-{os.getpid()}",  # nothing the web queues reaches a real worker
        LOG_LEVEL="WARNING",
    )
    return env


def exports_worker_command(env: dict, venv_bin: Path) -> list[str]:
    """docker-compose.yml's `worker-exports` command as production runs it (nice 19, its own queue), with
    this run's queue prefix and the virtualenv's celery; a hostname to ping it by."""
    import yaml

    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker-exports"][
        "command"
    ]
    command = [
        part.replace("${GUARDWATCH_CELERY_QUEUE:-guardwatch}", env["GUARDWATCH_CELERY_QUEUE"])
        for part in command
    ]
    command[command.index("celery")] = str(venv_bin / "celery")
    return [*command, "--hostname", f"exports-bench-{os.getpid()}@%h"]


def exports_worker_start(env: dict, venv_bin: Path) -> tuple[subprocess.Popen, Path]:
    """Start the exports worker and return once it answers a ping."""
    log = tempfile.NamedTemporaryFile("w", prefix="gw-load-worker-", suffix=".log", delete=False)  # noqa: SIM115
    worker = subprocess.Popen(exports_worker_command(env, venv_bin), cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    log.close()
    # As docker-compose.yml's cpu_shares does for its container: the worker is a session of its own, so the
    # kernel schedules it as a group of its own (autogroup), and inside the group nice 19 ranks only its own
    # processes; the group's nice (its weight against the web's group) is set to 19 too.
    with contextlib.suppress(OSError):
        Path(f"/proc/{worker.pid}/autogroup").write_text("19")
    name = f"exports-bench-{os.getpid()}@{socket.gethostname()}"
    deadline = time.time() + 90
    while time.time() < deadline and worker.poll() is None:
        ping = subprocess.run([str(venv_bin / "celery"), "-A", "guardwatch", "inspect", "ping", "-d", name,
                               "--timeout", "2"], cwd=ROOT, env=env, capture_output=True)  # fmt: skip
        if ping.returncode == 0:
            return worker, Path(log.name)
    worker.kill()
    raise RuntimeError(f"the exports worker did not start; see {log.name}")


# --- The database -----------------------------------------------------------------------------------------


def ensure_seeded(db_url: str, findings: int) -> None:
    import psycopg

    name = urllib.parse.urlsplit(db_url).path.lstrip("/")
    have = 0
    try:
        with psycopg.connect(db_url, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE relname = 'findings_finding'"
            ).fetchone()
            have = int(row[0]) if row else 0
    except psycopg.OperationalError:
        pass
    if have < findings * 0.95:
        print(f"seeding {name} with {findings:,} findings (it has {have:,})", flush=True)
        env = dict(os.environ, BENCH_DATABASE_URL=db_url, BENCH_KEEP_DB="1", GUARDWATCH_ENV="test")
        subprocess.run([sys.executable, str(BENCH / "seed_findings.py"), str(findings)], env=env, check=True)


def data_facts(db_url: str) -> dict:
    """Words to search for, and the sizes the report states."""
    import psycopg

    with psycopg.connect(db_url) as conn:
        total = conn.execute("SELECT count(*) FROM findings_finding").fetchone()[0]
        open_ = conn.execute(
            "SELECT count(*) FROM findings_finding WHERE status IN ('new', 'acknowledged', 'in_progress')"
        ).fetchone()[0]
        # One instance's id each: what an analyst pastes in an incident (tens of findings).
        rare = [r[0] for r in conn.execute(
            "SELECT resource_id FROM findings_finding WHERE resource_id LIKE 'i-%' AND id % 997 = 0"
            " ORDER BY id LIMIT 20"
        ).fetchall()]  # fmt: skip
        rare_matches = conn.execute(
            "SELECT count(*) FROM findings_findingsearch WHERE text LIKE %s", ["%" + rare[0].lower() + "%"]
        ).fetchone()[0]
        common_open = conn.execute(
            "SELECT count(*) FROM findings_findingsearch s JOIN findings_finding f ON f.id = s.finding_id"
            " WHERE s.text LIKE %s AND f.status IN ('new', 'acknowledged', 'in_progress')",
            ["%" + COMMON_WORD + "%"],
        ).fetchone()[0]
    return {
        "total": total,
        "open": open_,
        "rare": rare,
        "rare_matches": rare_matches,
        "common_open": common_open,
    }


# --- Running a level ----------------------------------------------------------------------------------------


@dataclass
class Level:
    name: str
    users: int
    seconds: float
    samples: list[Sample]
    cpu: CpuSeconds
    load: tuple[float, float]
    export: dict | None = None


@dataclass(frozen=True)
class CpuSeconds:
    web: float
    pg: float
    client: float
    worker: float = 0.0  # the exports worker (nice 19); its queries count as PostgreSQL's


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def run_level(name: str, users: list[User], meter: CpuMeter, *, warmup: float, seconds: float,
              exporter: User | None = None) -> Level:  # fmt: skip
    recorder = Recorder()
    stop = threading.Event()
    export: dict = {}

    def loop(user: User):
        while not stop.is_set():
            try:
                user.one_round(recorder)
            except Exception as error:  # noqa: BLE001 - a broken round is counted, and the user goes on
                recorder.add(Sample("client_error", time.time(), 0.0, 598, 0))
                print(f"client error: {error!r}", file=sys.stderr, flush=True)

    def export_once():
        export_as_the_page_does(exporter, export, limit=seconds * 3)

    threads = [threading.Thread(target=loop, args=(u,), daemon=True) for u in users]
    for thread in threads:
        thread.start()
    try:
        time.sleep(warmup)
        load0 = os.getloadavg()[0]
        recorder.window = (time.time(), float("inf"))
        with meter:
            if exporter is not None:  # the window is the export's own duration
                export_thread = threading.Thread(target=export_once, daemon=True)
                export_thread.start()
                export_thread.join()
            else:
                time.sleep(seconds)
            recorder.window = (recorder.window[0], time.time())
    finally:
        stop.set()
    for thread in threads:
        thread.join(TIMEOUT + 5)
    cpu = CpuSeconds(meter.web, meter.pg, meter.client, meter.worker)
    level = Level(name, len(users), meter.seconds, list(recorder.samples), cpu, (load0, os.getloadavg()[0]))
    if exporter is not None:
        level.export = export
    return level


_EXPORT_FORM = re.compile(r'<form method="post" action="/findings/exports/".*?</form>', re.S)
_EXPORT_ROW = re.compile(r'<tr id="export-(\d+)" data-status="(\w+)"')
_EXPORT_ROWS = re.compile(r'data-testid="export-rows">([\d,]+)')


def export_as_the_page_does(user: User, export: dict, *, limit: float) -> None:
    """Export CSV from the list as a browser does, follow it on the Exports page, download it when done.

    `export` gets: state, rows (written), seconds (queued to downloaded, or to the cap), seconds_to_done,
    polls, download status and MB (gzip, as sent). An export still running at `limit` is cancelled.
    """
    t0 = time.perf_counter()
    list_path = "/findings/?status=open"
    status, page, _ = user.request(list_path)
    form = _EXPORT_FORM.search(page)
    if status != 200 or not form:
        export.update(state=f"list page {status}, no export form", seconds=time.perf_counter() - t0)
        return
    fields = parse(form.group(0))
    query = html.unescape(re.search(r'name="query" value="([^"]*)"', form.group(0)).group(1))
    posted = {"Origin": user.origin, "Referer": user.origin + list_path,
              "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    data = urllib.parse.urlencode({"csrfmiddlewaretoken": fields.csrf, "query": query, "format": "csv"})
    status, body, _ = user.request("/findings/exports/", data=data.encode(), headers=posted)
    if status != 302:
        export.update(state=f"export POST {status}: {body[:200]}", seconds=time.perf_counter() - t0)
        return
    status, page, _ = user.request("/findings/exports/")
    row = _EXPORT_ROW.search(page)
    if status != 200 or not row:
        export.update(state=f"exports page {status}, no export row", seconds=time.perf_counter() - t0)
        return
    pk, state = row.group(1), row.group(2)
    headers = user.htmx("/findings/exports/", f"export-{pk}", f"export-{pk}")
    polls = 0
    rows = "0"
    while state in ("queued", "running") and time.perf_counter() - t0 < limit:
        time.sleep(1)  # hx-trigger="every 1s": the next poll a second after the last answer
        status, partial, _ = user.request(f"/findings/exports/{pk}/", headers=headers)
        polls += 1
        if status == 200 and (row := _EXPORT_ROW.search(partial)):
            state = row.group(2)
            rows = (_EXPORT_ROWS.search(partial) or row).group(1)
    export.update(
        state=state, rows=int(rows.replace(",", "")), polls=polls, seconds_to_done=time.perf_counter() - t0
    )
    if state == "done":
        browser = {
            "Accept-Encoding": "gzip, deflate, br, zstd",
            "Referer": user.origin + "/findings/exports/",
        }
        status, _, size = user.request(f"/findings/exports/{pk}/download/", headers=browser, stream=True)
        export.update(download_status=status, mb=size / 1e6)
    elif state in ("queued", "running"):  # capped: stop the worker's work, as the person would
        status, page, _ = user.request("/findings/exports/")
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": parse(page).csrf}).encode()
        posted["Referer"] = user.origin + "/findings/exports/"
        user.request(f"/findings/exports/{pk}/cancel/", data=data, headers=posted)
    export["seconds"] = time.perf_counter() - t0


def level_rows(level: Level) -> list[str]:
    rows = []
    by_kind: dict[str, list[Sample]] = defaultdict(list)
    for sample in level.samples:
        by_kind[sample.kind].append(sample)
    everything = level.samples
    for kind in (*KINDS, "all"):
        samples = everything if kind == "all" else by_kind.get(kind, [])
        ok = [s.seconds * 1000 for s in samples if s.status == 200]
        errors = sum(1 for s in samples if s.status != 200)
        label = "**all (the mix)**" if kind == "all" else kind
        rows.append(
            f"| {level.name} | {label} | {len(samples) / level.seconds:,.1f} | {pct(ok, 50):,.0f} | "
            f"{pct(ok, 95):,.0f} | {pct(ok, 99):,.0f} | {errors} |"
        )
    return rows


def level_summary(level: Level) -> str:
    n = len(level.samples)
    cpu = level.cpu
    per_request = f"{(cpu.web + cpu.pg) / n * 1000:,.1f} ms" if n else "-"
    return (
        f"| {level.name} | {n / level.seconds:,.1f} | {cpu.web / level.seconds * 100:,.0f} % | "
        f"{cpu.pg / level.seconds * 100:,.0f} % | {cpu.worker / level.seconds * 100:,.0f} % | "
        f"{cpu.client / level.seconds * 100:,.0f} % | {per_request} | "
        f"{level.load[0]:.2f} → {level.load[1]:.2f} |"
    )


def errors_detail(level: Level) -> str:
    statuses: dict[tuple[str, int], int] = defaultdict(int)
    for sample in level.samples:
        if sample.status != 200:
            statuses[(sample.kind, sample.status)] += 1
    return ", ".join(f"{kind} {status} ×{count}" for (kind, status), count in sorted(statuses.items()))


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", default="1,5,20,50", help="levels of concurrent users, comma-separated")
    parser.add_argument("--seconds", type=float, default=60, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=10, help="seconds before each level's window")
    parser.add_argument(
        "--findings", type=int, default=1_000_000, help="seed this many when the DB has fewer"
    )
    parser.add_argument("--export-users", type=int, default=20, help="users beside the export (0: no export)")
    parser.add_argument("--proxy", nargs=2, type=int, metavar=("LISTEN", "UPSTREAM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.proxy:
        proxy_main(*args.proxy)
        return 0

    signal.signal(signal.SIGTERM, _interrupted)  # a run stopped with kill still stops its servers
    db_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    levels = [int(x) for x in args.users.split(",") if x.strip()]
    ensure_seeded(db_url, args.findings)
    facts = data_facts(db_url)
    env = production_env(db_url, redis_url)
    venv_bin = Path(sys.executable).parent
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"], cwd=ROOT, env=env,
                   check=True)  # fmt: skip
    web_port, proxy_port = _free_port(), _free_port()
    log = tempfile.NamedTemporaryFile("w", prefix="gw-load-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115
    # The Dockerfile's command, on loopback instead of 0.0.0.0:8000.
    gunicorn = subprocess.Popen(
        [str(venv_bin / "gunicorn"), "guardwatch.wsgi:application", "--bind", f"127.0.0.1:{web_port}",
         "--workers", "3", "--threads", "4", "--access-logfile", "-"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    proxy = subprocess.Popen([sys.executable, __file__, "--proxy", str(proxy_port), str(web_port)])
    base = f"http://127.0.0.1:{proxy_port}"
    worker = None
    try:
        _wait_http(base + "/healthz")
        if args.export_users:
            worker, worker_log = exports_worker_start(env, venv_bin)
            group = Path(f"/proc/{worker.pid}/autogroup")
            group = group.read_text().strip() if group.exists() else "no autogroup"
            print(f"exports worker {worker.pid} ready (nice {os.getpriority(os.PRIO_PROCESS, worker.pid)}, "
                  f"{group}), log {worker_log}", flush=True)  # fmt: skip
        most = max([*levels, args.export_users + 1 if args.export_users else 0])
        print(f"signing in {most} users through the form", flush=True)
        users = [User(base, USERS[i % len(USERS)], facts["rare"], i) for i in range(most)]
        # Password hashing (PBKDF2) makes each sign-in cost about a second of CPU: a few at a time.
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(User.sign_in, users))

        meter = CpuMeter(gunicorn.pid, proxy.pid, urllib.parse.urlsplit(db_url).path.lstrip("/"), db_url,
                         worker_pid=worker.pid if worker else None)  # fmt: skip
        results = []
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()  # fmt: skip
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        for n in levels:
            level = run_level(f"{n} users", users[:n], meter, warmup=args.warmup, seconds=args.seconds)
            results.append(level)
            print(level_summary(level), errors_detail(level), *level_rows(level), sep="\n", flush=True)
        export_level = None
        if args.export_users:
            try:
                export_level = run_level(
                    f"{args.export_users} users + export", users[: args.export_users], meter,
                    warmup=args.warmup, seconds=args.seconds, exporter=users[args.export_users],
                )  # fmt: skip
            except KeyboardInterrupt:  # the levels' figures are still worth their table
                print("export phase interrupted", flush=True)
            else:
                results.append(export_level)
                print(level_summary(export_level), f"export: {export_level.export}", sep="\n", flush=True)
        report(results, facts, started, commit, args, export_level)
    finally:
        processes = [p for p in (proxy, gunicorn, worker) if p is not None]
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        if worker is not None:  # its pool's child too (a session of its own)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
        log.close()
    return 0


def report(results: list[Level], facts: dict, started: str, commit: str, args, export_level: Level | None):
    print()
    print(f"Run {started}, commit {commit}; {facts['total']:,} findings, {facts['open']:,} open; "
          f"rare word e.g. {facts['rare'][0]!r} ({facts['rare_matches']} findings), "
          f"common word {COMMON_WORD!r} ({facts['common_open']:,} open findings).")  # fmt: skip
    print()
    print("| users | kind | req/s | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for level in results:
        for row in level_rows(level):
            print(row)
    print()
    print(
        "| users | req/s (mix) | web CPU | PostgreSQL CPU | exports worker CPU | client + proxy CPU "
        "| web + PG CPU per request | load average (1 min) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for level in results:
        print(level_summary(level))
    errors = {level.name: errors_detail(level) for level in results if errors_detail(level)}
    if errors:
        print("\nErrors:", errors)
    if export_level is not None:
        base = next((lv for lv in results if lv.users == args.export_users and lv.export is None), None)
        export = export_level.export
        finished = (
            "" if export.get("state") == "done" else f" (capped at {args.seconds * 3:,.0f} s: cancelled)"
        )
        print(f"\nExport (background, as the page does it): {export.get('state')}{finished}, "
              f"{export.get('rows', 0):,} of {facts['open']:,} open findings written in "
              f"{export.get('seconds_to_done', 0):,.1f} s ({export.get('polls', 0)} progress polls); "
              f"download {export.get('download_status', '-')} {export.get('mb', 0):,.1f} MB gzip; "
              f"{export.get('seconds', 0):,.1f} s from Export to the file")  # fmt: skip
        if base is not None:
            before = pct([s.seconds for s in base.samples if s.status == 200], 95) * 1000
            during = pct([s.seconds for s in export_level.samples if s.status == 200], 95) * 1000
            print(f"p95 of the {args.export_users} users' mix: {before:,.0f} ms alone, {during:,.0f} ms beside "
                  f"the export ({(during / before - 1) * 100:+.1f} %)")  # fmt: skip
    saturated = max(results, key=lambda lv: len(lv.samples) / lv.seconds)
    print(f"Most throughput: {len(saturated.samples) / saturated.seconds:,.1f} req/s at {saturated.name}")


if __name__ == "__main__":
    sys.exit(main())
