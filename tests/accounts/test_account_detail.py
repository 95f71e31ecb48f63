"""An account's page as the admin reads it: its trail in words, removal from GuardWatch, ids typed as the console shows them."""

import pytest

from accounts import operations, services
from accounts.models import MemberAccount, MemberOperationResult, Membership, MembershipStatusChange
from guardwatch.core.models import Alert, AuditEntry
from guardwatch.core.services import alert_raise

from .helpers import accounts_make

pytestmark = pytest.mark.django_db
REGIONS = ["us-east-1", "eu-west-1"]


@pytest.fixture(autouse=True)
def regions(settings):
    settings.GUARDWATCH_AWS_REGIONS = list(REGIONS)
    return REGIONS


def html_of(response) -> str:
    return response.content.decode()


# --- The trail ---------------------------------------------------------------------------------------


def test_the_accounts_trail_includes_invite_accept_stop_and_delete(client_for, admin):
    account, other = accounts_make(2)
    for action in ("invite", "accept", "stop", "delete"):
        operations.member_operation_start(action=action, accounts=[account], regions=REGIONS, actor=admin)
    unrelated = operations.member_operation_start(action="resend", accounts=[other], regions=REGIONS, actor=admin)

    html = html_of(client_for("manager").get(f"/accounts/{account.account_id}/"))

    trail = html.split('aria-label="Audit trail"')[1]
    for label in ("Invite #", "Accept on the member&#x27;s behalf #", "Stop monitoring #", "Delete member #"):
        assert label in trail
    assert "in us-east-1, eu-west-1" in trail
    assert f"Resend invitation #{unrelated.pk}" not in trail  # a run on another account is not this one's trail
    assert other.account_id not in trail  # the run's other accounts are not listed


def test_a_status_change_reads_as_words_in_the_trail(client_for, admin):
    (account,) = accounts_make(1)
    membership = Membership.objects.create(account=account, region="eu-west-1", relationship_status="Enabled")
    services.status_changes_apply([(membership, "Resigned")], source=MembershipStatusChange.Source.SYNC, actor="beat",
                                  audit=True)  # fmt: skip

    html = html_of(client_for("manager").get(f"/accounts/{account.account_id}/"))

    assert "Status changed" in html and "eu-west-1: Monitored → Resigned (seen by the sync)" in html


def test_the_audit_source_of_an_account_added_by_the_form_is_form(client_for):
    client_for("admin").post("/accounts/add/", {"account_id": "123456789012", "email": "root@example.com"})

    entry = AuditEntry.objects.get(verb="member.create")
    assert entry.details["source"] == "form"
    assert "source: form" in html_of(client_for("admin").get("/audit/"))


# --- Removing an account from GuardWatch -------------------------------------------------------------------


def test_admin_removes_an_account_after_a_confirmation_that_says_its_findings_stay(client_for):
    (account,) = accounts_make(1)
    Membership.objects.create(account=account, region="us-east-1", relationship_status="")  # deleted as a member
    alert_raise(kind="member.Resigned", title="left", target=("accounts.memberaccount", account.account_id, "x"),
                dedupe_key=f"member:{account.account_id}:Resigned")  # fmt: skip
    client = client_for("admin")

    confirm = client.get(f"/accounts/{account.account_id}/remove/")
    response = client.post(f"/accounts/{account.account_id}/remove/", {"confirmed": "yes"})

    assert confirm.status_code == 200 and "Its findings stay" in html_of(confirm)
    assert f'href="/findings/?account={account.account_id}"' in html_of(confirm)
    assert response.status_code == 302 and response["Location"] == "/accounts/"
    assert not MemberAccount.objects.exists() and not Membership.objects.exists()
    entry = AuditEntry.objects.get(verb="member.remove")
    assert entry.actor_name == "admin" and entry.details["account_id"] == account.account_id
    assert entry.details["findings"] == "kept" and entry.details["alerts_closed"] == 1
    assert Alert.objects.get().acknowledged_at is not None


def test_opening_the_confirmation_removes_nothing(client_for):
    (account,) = accounts_make(1)

    client_for("admin").get(f"/accounts/{account.account_id}/remove/")
    client_for("admin").post(f"/accounts/{account.account_id}/remove/", {})

    assert MemberAccount.objects.filter(pk=account.pk).exists()


def test_an_account_guardduty_still_lists_is_not_removed_and_the_admin_is_told_why(client_for):
    (account,) = accounts_make(1)
    Membership.objects.create(account=account, region="eu-west-1", relationship_status="Resigned")
    operation = operations.member_operation_start(action="invite", accounts=[account], regions=["us-east-1"], actor=None)

    page = html_of(client_for("admin").get(f"/accounts/{account.account_id}/remove/"))
    response = client_for("admin").post(f"/accounts/{account.account_id}/remove/", {"confirmed": "yes"})

    assert "still in GuardDuty's member list in eu-west-1 (Resigned)." in page
    assert "Yes, remove" not in page
    assert response.status_code == 409 and "Delete it as a member" in html_of(response)
    assert MemberAccount.objects.filter(pk=account.pk).exists()
    assert MemberOperationResult.objects.filter(operation=operation).count() == 1
    assert not AuditEntry.objects.filter(verb="member.remove").exists()


@pytest.mark.parametrize("persona", ["analyst", "manager"])
def test_only_admin_may_remove_an_account(client_for, persona):
    (account,) = accounts_make(1)

    assert client_for(persona).post(f"/accounts/{account.account_id}/remove/", {"confirmed": "yes"}).status_code == 403
    assert MemberAccount.objects.filter(pk=account.pk).exists()


# --- Words ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "words"),
    [("delete", "delete</strong> 1 account from the administrator&#x27;s member list in us-east-1"),
     ("stop", "stop monitoring</strong> 1 account in us-east-1"),
     ("disassociate", "disassociate</strong> 1 account from the administrator in us-east-1")],
)  # fmt: skip
def test_the_bulk_confirmation_reads_as_english(client_for, action, words):
    (account,) = accounts_make(1)

    html = html_of(client_for("admin").post("/accounts/bulk/", {"account": [account.pk], "action": action, "region": "us-east-1"}))

    assert words in html
    assert "delete member 1 account" not in html.lower()


# --- Account ids typed as the console shows them -------------------------------------------------------------


def test_the_accounts_search_takes_an_id_typed_with_dashes(client_for):
    MemberAccount.objects.create(account_id="444455556666", email="a@example.com")
    MemberAccount.objects.create(account_id="123456789012", email="b@example.com")

    full = html_of(client_for("analyst").get("/accounts/", {"q": "4444-5555-6666"}))
    start = html_of(client_for("analyst").get("/accounts/", {"q": "4444-5555"}))

    for html in (full, start):
        assert 'data-account="444455556666"' in html and 'data-account="123456789012"' not in html


def test_the_findings_account_filter_takes_an_id_typed_with_dashes(client_for):
    from tests.findings.factories import raw_finding
    from tests.triage.support import store

    mine, elsewhere = store([raw_finding(account_id="444455556666"), raw_finding(account_id="123456789012")])

    html = html_of(client_for("analyst").get("/findings/", {"account": "4444-5555-6666"}))

    assert f'data-finding="{mine.pk}"' in html and f'data-finding="{elsewhere.pk}"' not in html
    assert "not a 12-digit" not in html


def test_a_routing_rule_takes_account_ids_typed_with_dashes():
    from notifications.forms import RoutingRuleForm

    form = RoutingRuleForm(data={"accounts": "4444-5555-6666, 1234 5678 9012"})
    form.is_valid()

    assert form.cleaned_data["accounts"] == ["444455556666", "123456789012"]


def test_the_coverage_matrix_search_takes_an_id_typed_with_dashes(client_for):
    MemberAccount.objects.create(account_id="444455556666", email="a@example.com", display_name="payments-prod")
    MemberAccount.objects.create(account_id="123456789012", email="b@example.com", display_name="web-dev")

    html = html_of(client_for("manager").get("/accounts/coverage/", {"q": "4444-5555-6666", "fragment": "matrix"},
                                             headers={"HX-Request": "true"}))  # fmt: skip

    assert "payments-prod" in html and "web-dev" not in html
