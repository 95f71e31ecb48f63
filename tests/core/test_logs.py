"""Request ids, the log context and redaction, in the process (tests/core/test_log_secrets.py runs them whole)."""

import io
import json
import logging

import pytest

from guardwatch.core.logs import ConsoleFormatter, ContextFilter, JsonFormatter, log_context, redact_text
from tests.core.test_settings import check_with


@pytest.fixture
def captured():
    """Lines logged meanwhile, as production writes them (JSON through the context filter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def test_a_request_gets_an_id_echoed_in_its_answer_and_on_its_lines_with_the_user(client_for, captured):
    response = client_for("analyst").get("/findings/")

    request_id = response["X-Request-ID"]
    line = next(line for line in captured() if line["logger"] == "guardwatch.request")
    assert len(request_id) == 32 and line["request_id"] == request_id
    assert (line["username"], line["path"], line["status"]) == ("analyst", "/findings/", 200)


def test_the_trusted_proxys_request_id_is_kept(client_for, settings):
    settings.GUARDWATCH_TRUSTED_PROXY_HOPS = 1
    response = client_for("analyst").get("/findings/", HTTP_X_REQUEST_ID="Root=1-6750a1b2-0123456789abcdef01234567")
    assert response["X-Request-ID"] == "Root=1-6750a1b2-0123456789abcdef01234567"


def test_without_a_trusted_proxy_a_client_cannot_choose_its_request_id(client_for):
    response = client_for("analyst").get("/findings/", HTTP_X_REQUEST_ID="chosen-by-the-client")
    assert response["X-Request-ID"] != "chosen-by-the-client"


def test_an_unreasonable_request_id_is_replaced(client_for, settings):
    settings.GUARDWATCH_TRUSTED_PROXY_HOPS = 1
    for bad in ("has space", "x" * 129, "<script>", "-leading-dash"):
        assert client_for("analyst").get("/findings/", HTTP_X_REQUEST_ID=bad)["X-Request-ID"] != bad


def test_task_context_is_on_every_line_logged_inside_it(captured):
    with log_context(task_id="abc", task_name="findings.tasks.findings_sync_region", region="eu-west-1"):
        logging.getLogger("findings.sync").warning("inside")
    logging.getLogger("findings.sync").warning("outside")

    inside, outside = captured()
    assert (inside["task_id"], inside["task_name"], inside["region"]) == ("abc", "findings.tasks.findings_sync_region",
                                                                           "eu-west-1")  # fmt: skip
    assert "task_id" not in outside


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://gw:s3cret-pw@db:5432/gw", "postgres://gw:[redacted]@db:5432/gw"),
        ("redis://:r3dis-pw@redis:6379/0", "redis://:[redacted]@redis:6379/0"),
        ("GET /x?page=2&token=abc123&q=y", "GET /x?page=2&token=[redacted]&q=y"),
        ("Authorization: Bearer gw_abc_def", "Authorization: Bearer [redacted]"),
        ("{'password': 'hunter22', 'username': 'ann'}", "{'password': '[redacted]', 'username': 'ann'}"),
        ("posted to https://hooks.slack.com/services/T0/B0/xyz", "posted to https://hooks.slack.com/[redacted]"),
        ("Jira issue key: SEC-12 in us-east-1", "Jira issue key: SEC-12 in us-east-1"),
    ],
)
def test_redaction_scrubs_secrets_by_their_shape(text, expected):
    assert redact_text(text) == expected


def test_fields_named_like_secrets_and_configured_secrets_are_scrubbed(captured, settings):
    logging.getLogger("x").warning(
        "key %s", settings.SECRET_KEY,
        extra={"password": "hunter22", "headers": {"Authorization": "Basic abc", "Cookie": "sessionid=zz"}, "n": 3},
    )  # fmt: skip

    (line,) = captured()
    assert line["message"] == "key [redacted]"
    assert line["password"] == "[redacted]"
    assert line["headers"] == {"Authorization": "[redacted]", "Cookie": "[redacted]"}
    assert line["n"] == 3


def test_the_console_format_is_one_readable_line_with_the_context():
    record = logging.LogRecord("findings.sync", logging.WARNING, __file__, 1, "Sync of %s failed", ("us-east-1",), None)
    with log_context(task_id="t1", region="us-east-1"):
        ContextFilter().filter(record)
    line = ConsoleFormatter().format(record)
    assert line.endswith(" WARNING findings.sync Sync of us-east-1 failed [task_id=t1 region=us-east-1]")


def test_an_unknown_log_format_is_refused():
    result = check_with({"GUARDWATCH_ENV": "test", "GUARDWATCH_LOG_FORMAT": "xml"})
    assert result.returncode != 0
    assert "GUARDWATCH_LOG_FORMAT='xml' must be json or console" in result.stderr
