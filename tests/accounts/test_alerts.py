"""Coverage alerts: raised once per condition, listed, acknowledged by an admin, handed to the hook."""

import pytest

from guardwatch.core.models import Alert, AuditEntry
from guardwatch.core.services import alert_acknowledge, alert_raise
from guardwatch.core.signals import alert_raised

pytestmark = pytest.mark.django_db


def raise_resigned(account="123456789012"):
    return alert_raise(kind="member.Resigned", title=f"Member {account} is Resigned in eu-west-1",
                       message="It left.", target=("accounts.memberaccount", account, f"{account} in eu-west-1"),
                       dedupe_key=f"membership:{account}:eu-west-1:Resigned", severity="high")  # fmt: skip


def test_raising_the_same_open_alert_twice_counts_a_sighting(django_capture_on_commit_callbacks):
    received = []
    alert_raised.connect(receiver := lambda sender, alert, **kw: received.append(alert.pk))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            first, created = raise_resigned()
            again, created_again = raise_resigned()
    finally:
        alert_raised.disconnect(receiver)

    assert created and not created_again and first.pk == again.pk
    assert Alert.objects.get().occurrences == 2
    assert received == [first.pk]


def test_the_hook_is_not_called_when_the_transaction_rolls_back(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        raise_resigned()
    assert len(callbacks) == 1  # deferred to commit, never sent inline


def test_after_acknowledging_the_condition_can_alert_again(admin):
    alert, _ = raise_resigned()
    alert_acknowledge(alert=alert, actor=admin)

    fresh, created = raise_resigned()

    assert created and fresh.pk != alert.pk
    assert AuditEntry.objects.filter(verb="alert.acknowledge", actor_name="admin").count() == 1


def test_analyst_sees_open_alerts_linked_to_the_account(client_for):
    raise_resigned()

    html = client_for("analyst").get("/alerts/").content.decode()

    assert "Member 123456789012 is Resigned in eu-west-1" in html
    assert 'href="/accounts/123456789012/"' in html
    assert "Acknowledge</button>" not in html  # read-only role


def test_admin_acknowledges_an_alert_and_it_leaves_the_open_list(client_for):
    alert, _ = raise_resigned()
    client = client_for("admin")

    response = client.post(f"/alerts/{alert.pk}/acknowledge/", {"next": "/alerts/"}, follow=True)

    assert "Acknowledged: Member 123456789012" in response.content.decode()
    assert "is Resigned in eu-west-1</strong>" not in client.get("/alerts/").content.decode()
    assert "is Resigned in eu-west-1</strong>" in client.get("/alerts/?state=acknowledged").content.decode()
    assert Alert.objects.get().acknowledged_by.username == "admin"


@pytest.mark.parametrize("persona", ["analyst", "manager"])
def test_only_admin_may_acknowledge(client_for, persona):
    alert, _ = raise_resigned()

    assert client_for(persona).post(f"/alerts/{alert.pk}/acknowledge/").status_code == 403
    assert Alert.objects.get().acknowledged_at is None


def test_alerts_page_has_a_bounded_number_of_queries(client_for, django_assert_max_num_queries):
    client = client_for("admin")
    for n in range(60):
        raise_resigned(f"{100000000000 + n}")

    with django_assert_max_num_queries(12):
        assert client.get("/alerts/").status_code == 200


def test_alerts_are_in_the_navigation_for_every_role_that_sees_members(client_for):
    for persona in ("admin", "analyst", "manager"):
        assert '<a href="/alerts/"' in client_for(persona).get("/").content.decode()


def test_a_failing_notification_receiver_does_not_break_raising(django_capture_on_commit_callbacks):
    def broken(sender, alert, **kwargs):
        raise RuntimeError("webhook down")

    alert_raised.connect(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            alert, created = raise_resigned()
    finally:
        alert_raised.disconnect(broken)

    assert created and Alert.objects.filter(pk=alert.pk).exists()
