"""Run in a process of its own by tests/core/test_log_secrets.py: the paths that log, with known secrets set.

The environment (set by the test) holds the secrets: SECRET_KEY, GUARDWATCH_SECRETS_KEY, a password in
DATABASE_URL and REDIS_URL, AWS_SECRET_ACCESS_KEY. The rest come in as JSON on stdin (the admin's
password, a wrong password, a bad ingest key, a bearer token, a webhook URL with tokens, its signing
secret). Logs go to stderr as configured (GUARDWATCH_LOG_FORMAT=json); what the test needs to know
besides (the session cookie, echoed request ids) is printed as JSON on stdout.
"""

import json
import os
import sys
from unittest import mock

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guardwatch.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402

from findings.tasks import findings_sync_region  # noqa: E402
from guardwatch.core.roles import Role  # noqa: E402
from guardwatch.core.services import user_create  # noqa: E402
from notifications import services as notifications  # noqa: E402


def main() -> None:
    given = json.loads(sys.stdin.read())
    seen: dict[str, object] = {}
    admin = user_create(username="admin", role=Role.ADMIN, password=given["password"], validate=False)

    # Sign-in: a wrong password, then the right one (both posted in the form), then a page with the session.
    client = Client(HTTP_X_REQUEST_ID="proxy-given-id-0001")
    client.post("/login/", {"username": "admin", "password": given["wrong_password"]})
    signed_in = client.post("/login/", {"username": "admin", "password": given["password"]})
    seen["login_request_id"] = signed_in["X-Request-ID"]
    seen["session_cookie"] = client.cookies[settings.SESSION_COOKIE_NAME].value
    seen["csrf_cookie"] = client.cookies[settings.CSRF_COOKIE_NAME].value if settings.CSRF_COOKIE_NAME in client.cookies else ""
    page = client.get("/findings/?q=x&token=" + given["query_token"], HTTP_AUTHORIZATION=f"Bearer {given['bearer']}")
    seen["page_request_id"] = page["X-Request-ID"]

    # A push with a bad ingest key, in both the key header and the Authorization header.
    Client().post("/ingest/eventbridge/", data="{}", content_type="application/json",
                  HTTP_X_GUARDWATCH_KEY=given["ingest_key"])  # fmt: skip
    Client().post("/ingest/eventbridge/", data="{}", content_type="application/json",
                  HTTP_AUTHORIZATION=f"Bearer {given['ingest_key']}")  # fmt: skip

    # A webhook whose URL carries tokens, on a port nothing listens on: the delivery fails and is logged.
    destination = notifications.destination_create(
        name="SOC webhook", kind="webhook", enabled=True, config={},
        secrets={"url": given["webhook_url"], "signing_secret": given["signing_secret"]}, actor=admin,
    )  # fmt: skip
    delivery = notifications.destination_test(destination=destination, actor=admin)
    seen["delivery_status"] = delivery.status

    # An AWS error: the findings sync (as the worker runs it, task signals included) against no endpoint.
    seen["sync"] = findings_sync_region.apply(args=("us-east-1",)).get(propagate=False)

    # An unhandled exception whose message carries secrets (a library echoing its connection URL and headers).
    failing = Client(raise_request_exception=False)
    failing.force_login(admin)
    boom = RuntimeError(f"cannot reach {settings.CELERY_BROKER_URL} (Authorization: Bearer {given['bearer']}; "
                        f"url={given['webhook_url']})")  # fmt: skip
    with mock.patch("reports.views.dashboard_cards", side_effect=boom):
        seen["error_status"] = failing.get("/").status_code
    print(json.dumps(seen, default=str))


if __name__ == "__main__":
    main()
