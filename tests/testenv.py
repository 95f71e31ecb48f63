"""Loaded with `-p tests.testenv` before Django settings: the suite's environment, in one place.

Each test session gets its own Celery queue so concurrent runs on one Redis never take each
other's tasks; everything else points at the real local Postgres and Redis.
"""

import os
import uuid

os.environ.setdefault("GUARDWATCH_ENV", "test")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/1")
os.environ.setdefault("GUARDWATCH_CELERY_QUEUE", f"gw-test-{uuid.uuid4().hex[:12]}")
# Playwright's sync API runs an event loop in the test thread; Django's ORM calls from that
# thread are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# No test may reach real AWS: boto3 must never find real credentials on a developer's machine.
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_var, None)
os.environ["AWS_ACCESS_KEY_ID"] = "AKIA111111111111"
os.environ["AWS_SECRET_ACCESS_KEY"] = "guardwatch-test-secret"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

# Every process the tests start inherits this mark (a demo, a Celery worker and its beat, a simulator,
# a browser); at the end of the session none may be left running (see pytest_sessionfinish below).
RUN_MARK = "GUARDWATCH_TEST_RUN"
os.environ[RUN_MARK] = uuid.uuid4().hex
LEFTOVER_GRACE_SECONDS = float(os.environ.get("GUARDWATCH_TEST_LEFTOVER_GRACE", "15"))


def marked_processes(mark: str = RUN_MARK) -> dict[int, str]:
    """Live processes (not zombies, not this one) started under this session's mark: pid -> command line."""
    needle = f"{mark}={os.environ[mark]}".encode() + b"\0"
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as environ:
                if needle not in environ.read() + b"\0":
                    continue
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                if stat.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                    continue  # exited, waiting to be reaped by its parent
            with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                found[int(entry.name)] = cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def pytest_sessionfinish(session, exitstatus):
    """No process started by the tests outlives them: left ones are listed, killed, and fail the run."""
    import contextlib
    import signal
    import time

    if not os.path.isdir("/proc"):
        return
    deadline = time.monotonic() + LEFTOVER_GRACE_SECONDS
    left = marked_processes()
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = marked_processes()
    if not left:
        return
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    lines = "\n".join(f"  {pid}: {command[:200]}" for pid, command in sorted(left.items()))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = f"{len(left)} process(es) started by the tests were still running after them (now killed):\n{lines}"
    if reporter is not None:
        reporter.write_line(message, red=True)
    else:
        print(message)
    session.exitstatus = 1
