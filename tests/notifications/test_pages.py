"""The Admin's notification pages: destinations with write-only secrets, test button, rules, access."""

from __future__ import annotations

import pytest

from guardwatch.core.models import AuditEntry
from notifications.models import Destination, RoutingRule

from .conftest import SIGNING_SECRET, webhook_make

pytestmark = pytest.mark.django_db

BASE = "/settings/notifications/"


def add_webhook(client, url: str, name: str = "SOC webhook"):
    return client.post(f"{BASE}destinations/new/?kind=webhook",
                       {"name": name, "enabled": "on", "url": url, "signing_secret": SIGNING_SECRET})  # fmt: skip


def test_admin_adds_a_webhook_and_never_sees_its_secrets_again(client_for, receiver):
    admin = client_for("admin")
    response = add_webhook(admin, receiver.url + "?token=abcdef123456")
    destination = Destination.objects.get()
    assert response.status_code == 302 and response.url == f"{BASE}destinations/{destination.pk}/"

    page = admin.get(response.url).content.decode()
    assert SIGNING_SECRET not in page and "token=abcdef123456" not in page
    assert "ends …3456" in page  # only a masked tail
    assert SIGNING_SECRET not in destination.secrets_encrypted
    assert destination.secrets()["signing_secret"] == SIGNING_SECRET
    entry = AuditEntry.objects.get(verb="notification_destination.create")
    assert SIGNING_SECRET not in str(entry.details) and entry.actor_name == "admin"


def test_saving_with_blank_secrets_keeps_them(client_for, receiver):
    admin = client_for("admin")
    add_webhook(admin, receiver.url)
    destination = Destination.objects.get()
    admin.post(f"{BASE}destinations/{destination.pk}/", {"name": "Renamed", "url": "", "signing_secret": ""})
    destination.refresh_from_db()
    assert destination.name == "Renamed" and not destination.enabled
    assert destination.secrets() == {"url": receiver.url, "signing_secret": SIGNING_SECRET}
    assert AuditEntry.objects.filter(verb="notification_destination.update").exists()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata host"),
        ("ftp://example.com/hook", "Only http:// and https://"),
        ("file:///etc/passwd", "Only http:// and https://"),
    ],
)
def test_urls_outside_http_or_pointing_at_metadata_are_refused(client_for, url, reason):
    response = add_webhook(client_for("admin"), url)
    assert response.status_code == 200 and reason in response.content.decode()
    assert not Destination.objects.exists()


def test_send_test_message_shows_the_result_inline_and_escaped(client_for, receiver_factory, fast_notify):
    receiver = receiver_factory(status=400, answer=b'<script>alert("x")</script> bad payload')
    admin = client_for("admin")
    add_webhook(admin, receiver.url)
    destination = Destination.objects.get()

    response = admin.post(f"{BASE}destinations/{destination.pk}/test/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html  # the fragment only
    assert 'data-testid="test-result"' in html and "Test message failed" in html and "HTTP 400" in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html and "<script>" not in html
    assert response.headers["Vary"].count("HX-Request") == 1
    assert receiver.requests[0].json()["test"] is True
    assert AuditEntry.objects.filter(verb="notification_destination.test").exists()


def test_a_successful_test_message_appears_in_the_delivery_log(client_for, receiver, fast_notify):
    admin = client_for("admin")
    add_webhook(admin, receiver.url)
    destination = Destination.objects.get()
    html = admin.post(
        f"{BASE}destinations/{destination.pk}/test/", headers={"HX-Request": "true"}
    ).content.decode()
    assert "Test message delivered — HTTP 200" in html

    log = admin.get(f"{BASE}destinations/{destination.pk}/deliveries/").content.decode()
    assert "GuardWatch test message from admin" in log and "Sent" in log


def test_admin_adds_edits_and_deletes_a_routing_rule(client_for, fast_notify):
    admin = client_for("admin")
    destination = webhook_make("http://127.0.0.1:9/hook")
    response = admin.post(f"{BASE}rules/new/", {
        "name": "High to SOC", "enabled": "on", "destination": destination.pk,
        "event_kinds": ["new_finding", "severity_raised"], "min_band": "high", "type_prefix": "Backdoor:, Recon:",
        "accounts": "222222222222", "regions": "us-east-1 eu-west-1", "min_count": "0",
        "throttle": "window", "throttle_minutes": "60",
    })  # fmt: skip
    assert response.status_code == 302
    rule = RoutingRule.objects.get()
    assert rule.event_kinds == ["new_finding", "severity_raised"] and rule.type_prefix == "Backdoor:,Recon:"
    assert rule.regions == ["us-east-1", "eu-west-1"] and rule.accounts == ["222222222222"]
    assert "High to SOC" in admin.get(f"{BASE}rules/").content.decode()

    admin.post(f"{BASE}rules/{rule.pk}/", {"name": "High to SOC", "destination": destination.pk,
               "event_kinds": ["new_finding"], "min_band": "critical", "min_count": "0", "throttle": "none",
               "throttle_minutes": "60"})  # fmt: skip
    rule.refresh_from_db()
    assert rule.min_band == "critical" and not rule.enabled

    admin.post(f"{BASE}rules/{rule.pk}/delete/")
    assert not RoutingRule.objects.exists()
    verbs = set(AuditEntry.objects.values_list("verb", flat=True))
    assert {"notification_rule.create", "notification_rule.update", "notification_rule.delete"} <= verbs


def test_a_rule_with_a_bad_account_id_is_refused(client_for, fast_notify):
    destination = webhook_make("http://127.0.0.1:9/hook")
    response = client_for("admin").post(f"{BASE}rules/new/", {"name": "x", "destination": destination.pk,
        "event_kinds": ["new_finding"], "accounts": "12345", "min_count": "0", "throttle": "none",
        "throttle_minutes": "60"})  # fmt: skip
    assert response.status_code == 200 and "Not 12-digit account ids: 12345" in response.content.decode()


@pytest.mark.parametrize("persona", ["analyst", "manager", "outsider"])
def test_only_admins_reach_notification_settings(client_for, persona):
    client = client_for(persona)
    assert client.get(BASE).status_code == 403
    assert client.get(f"{BASE}dead-letters/").status_code == 403
    assert "Notifications" not in client.get("/").content.decode()


def test_admins_see_the_notifications_link(client_for):
    html = client_for("admin").get("/").content.decode()
    assert f'href="{BASE}"' in html


def test_a_receivers_html_answer_and_a_hostile_title_are_shown_escaped_in_the_delivery_log(
    client_for, receiver_factory, fast_notify
):
    from dataclasses import replace

    from findings.upsert import findings_upsert
    from notifications.models import Delivery
    from notifications.services import delivery_attempt

    from .conftest import parsed_finding, rule_make

    receiver = receiver_factory(
        status=500, answer=b'<script>alert("body")</script><img src=x onerror=alert(2)>'
    )
    destination = webhook_make(receiver.url)
    rule_make(destination)
    hostile = replace(parsed_finding(), title='Bucket <img src=x onerror=alert("title")> is public')
    findings_upsert(findings=[hostile], source="pull")
    delivery_attempt(delivery_id=Delivery.objects.get().pk)

    admin = client_for("admin")
    for page in (f"{BASE}destinations/{destination.pk}/deliveries/", f"{BASE}destinations/{destination.pk}/"):
        html = admin.get(page).content.decode()
        assert "&lt;script&gt;alert(&quot;body&quot;)&lt;/script&gt;" in html, page
        assert "Bucket &lt;img src=x onerror=alert(&quot;title&quot;)&gt; is public" in html, page
        assert "<script>alert" not in html and "<img src=x" not in html, page


def jira_form(base_url: str, api_token: str = "") -> dict[str, str]:
    return {"name": "Jira SEC", "enabled": "on", "base_url": base_url, "email": "bot@example.com",
            "api_token": api_token, "project_key": "SEC", "issue_type": "Task"}  # fmt: skip


def test_repointing_jira_elsewhere_needs_the_api_token_typed_again(client_for, fake_jira_factory):
    """An Admin who never knew the token cannot collect it by pointing the site at a listener of theirs."""
    jira, receiver, destination = fake_jira_factory()
    listener = f"https://localhost:{receiver.port}"  # another host name, as a listener of one's own would be
    admin = client_for("admin")

    response = admin.post(f"{BASE}destinations/{destination.pk}/", jira_form(listener))

    assert response.status_code == 200
    assert "The address changed (scheme, host or port): type this secret again" in response.content.decode()
    destination.refresh_from_db()
    assert destination.config["base_url"] == receiver.url.removesuffix("/hook")  # nothing saved
    # Same site, another path or case: the token stays; a new token with the new site is accepted.
    admin.post(f"{BASE}destinations/{destination.pk}/", jira_form(receiver.url.removesuffix("/hook").upper() + "/"))
    destination.refresh_from_db()
    assert destination.secrets()["api_token"] == "tok-123456789"
    assert admin.post(f"{BASE}destinations/{destination.pk}/", jira_form(listener, "tok-new-987654321")).status_code == 302
    destination.refresh_from_db()
    assert destination.config["base_url"] == listener and destination.secrets()["api_token"] == "tok-new-987654321"


@pytest.mark.parametrize("change", ["scheme", "port", "host"])
def test_repointing_a_webhook_elsewhere_needs_the_signing_secret_again(client_for, receiver, change):
    admin = client_for("admin")
    add_webhook(admin, receiver.url)
    destination = Destination.objects.get()
    new_url = {
        "scheme": f"https://127.0.0.1:{receiver.port}/hook",
        "port": f"http://127.0.0.1:{receiver.port + 1}/hook",
        "host": f"http://localhost:{receiver.port}/hook",
    }[change]

    response = admin.post(f"{BASE}destinations/{destination.pk}/", {"name": "SOC webhook", "url": new_url})

    assert response.status_code == 200 and "type this secret again" in response.content.decode()
    destination.refresh_from_db()
    assert destination.secrets()["url"] == receiver.url


def test_jira_is_refused_over_plain_http(client_for):
    response = client_for("admin").post(f"{BASE}destinations/new/?kind=jira",
                                        jira_form("http://jira.example.com", "tok-123456789"))  # fmt: skip
    assert response.status_code == 200
    assert "Jira is reached over https:// only" in response.content.decode()
    assert not Destination.objects.exists()


def test_the_service_refuses_a_changed_address_without_its_secret_too(receiver):
    from notifications import services

    destination = webhook_make(receiver.url)
    with pytest.raises(services.DestinationInvalid, match="type this secret again"):
        services.destination_update(destination=destination, name=destination.name, enabled=True, config={},
                                    secrets={"url": "http://10.9.9.9/hook", "signing_secret": ""}, actor=None)  # fmt: skip


def test_a_jira_destination_saved_over_http_before_the_rule_sends_nothing(receiver, fast_notify):
    from .conftest import jira_make

    destination = jira_make(f"https://127.0.0.1:{receiver.port}")
    Destination.objects.filter(pk=destination.pk).update(
        config={**destination.config, "base_url": f"http://127.0.0.1:{receiver.port}"}  # as an older version saved it
    )
    destination.refresh_from_db()

    from notifications import services

    delivery = services.destination_test(destination=destination, actor=None)

    assert delivery.status == "failed" and "Jira is reached over https:// only" in delivery.error
    assert receiver.requests == []  # the token never crossed the network
