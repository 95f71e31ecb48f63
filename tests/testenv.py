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
