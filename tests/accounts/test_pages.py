"""The accounts pages as each role sees them: table, filters, counts, add, upload, invite, actions."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import (
    MemberAccount,
    MemberOperation,
    MemberOperationResult,
    Membership,
    MembershipStatusChange,
    RegionState,
)
from accounts.services import account_regions_refresh
from guardwatch.core.models import AuditEntry

from .helpers import accounts_make

pytestmark = pytest.mark.django_db
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]


@pytest.fixture(autouse=True)
def regions(settings):
    settings.GUARDWATCH_AWS_REGIONS = list(REGIONS)
    return REGIONS


def member(account, region, status, **fields):
    made = Membership.objects.create(account=account, region=region, relationship_status=status, **fields)
    account_regions_refresh([account.pk])  # what every status writer keeps (the "not a member" filter reads it)
    return made


def html_of(response) -> str:
    return response.content.decode()


def test_analyst_sees_one_status_cell_per_region_with_monitored_for_enabled(client_for):
    account = accounts_make(1)[0]
    member(account, "us-east-1", "Enabled")
    member(account, "eu-west-1", "Invited")

    html = html_of(client_for("analyst").get("/accounts/"))

    assert f'data-account="{account.account_id}"' in html
    assert '<td data-region="us-east-1"><span class="badge status-Enabled">Monitored</span>' in html
    assert '<td data-region="eu-west-1"><span class="badge status-Invited">Invited</span>' in html
    assert '<td data-region="us-west-2"><span class="muted" title="Not a member">—</span>' in html


def test_an_unknown_status_is_shown_as_guardduty_reported_it_escaped(client_for):
    account = accounts_make(1)[0]
    member(account, "us-east-1", "Quarantined<b>")

    html = html_of(client_for("manager").get("/accounts/"))

    assert '<span class="badge status-other">Quarantined&lt;b&gt;</span>' in html


def test_counts_per_status_include_not_a_member(client_for):
    first, second = accounts_make(2)
    member(first, "us-east-1", "Enabled")
    member(second, "us-east-1", "Enabled")
    member(second, "eu-west-1", "Resigned")

    html = html_of(client_for("analyst").get("/accounts/"))

    assert 'data-status-count="Enabled">Monitored: <strong>2</strong>' in html
    assert 'data-status-count="Resigned">Resigned: <strong>1</strong>' in html
    assert 'data-status-count="none">Not a member: <strong>5</strong>' in html  # 2 accounts × 4 regions − 3


def test_filter_by_status_and_region(client_for):
    first, second, third = accounts_make(3)
    member(first, "us-east-1", "Enabled")
    member(second, "eu-west-1", "Enabled")
    member(third, "us-east-1", "Resigned")

    html = html_of(client_for("analyst").get("/accounts/?status=Enabled&region=us-east-1"))

    assert first.account_id in html
    assert second.account_id not in html and third.account_id not in html
    assert "<code>eu-west-1</code>" not in html  # only the filtered region's column


def test_filter_not_a_member_anywhere(client_for):
    first, second = accounts_make(2)
    member(first, "us-east-1", "Enabled")

    html = html_of(client_for("analyst").get("/accounts/?status=none"))

    assert second.account_id in html and first.account_id not in html


def test_text_filter_matches_id_prefix_email_and_name(client_for):
    first, second = accounts_make(2)
    first.display_name = "Payments prod"
    first.save()

    client = client_for("analyst")
    assert second.account_id not in html_of(client.get("/accounts/?q=payments"))
    assert first.account_id in html_of(client.get("/accounts/?q=payments"))
    assert second.account_id in html_of(client.get(f"/accounts/?q={second.account_id[:9]}"))
    assert first.account_id not in html_of(client.get(f"/accounts/?q={second.email}"))


def test_sort_by_email_descending(client_for):
    accounts = accounts_make(3)

    html = html_of(client_for("analyst").get("/accounts/?sort=-email"))

    positions = [html.index(f'data-account="{a.account_id}"') for a in accounts]
    assert positions == sorted(positions, reverse=True)


def test_htmx_filter_answers_with_the_results_fragment_only(client_for):
    accounts_make(1)

    response = client_for("analyst").get("/accounts/?status=Enabled", headers={"HX-Request": "true"})

    assert "<html" not in html_of(response) and 'class="account-results"' in html_of(response)
    assert "HX-Request" in response["Vary"]


def test_accounts_page_uses_the_same_number_of_queries_for_10_or_300_accounts(client_for, django_assert_max_num_queries):
    client = client_for("analyst")
    for account in accounts_make(10):
        for region in REGIONS:
            member(account, region, "Enabled")
    with CaptureQueriesContext(connection) as small:
        client.get("/accounts/")
    accounts = accounts_make(290, start=11)
    Membership.objects.bulk_create([Membership(account=a, region=r, relationship_status="Invited") for a in accounts for r in REGIONS])

    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get("/accounts/?page=2")
    assert response.status_code == 200


def test_pages_of_100_accounts(client_for):
    accounts_make(150)

    html = html_of(client_for("analyst").get("/accounts/"))

    assert html.count("data-account=") == 100
    assert "150 accounts · page 1 of 2" in html


def test_a_region_whose_sync_failed_shows_its_error(client_for):
    from django.utils import timezone

    RegionState.objects.create(region="eu-west-1", last_error="GuardDuty failed <here>", last_error_at=timezone.now())

    html = html_of(client_for("analyst").get("/accounts/"))

    assert 'data-region-error="eu-west-1"' in html and "GuardDuty failed &lt;here&gt;" in html


def test_detail_page_shows_memberships_history_failures_and_audit(client_for, admin):
    from django.utils import timezone

    from accounts import services

    account = services.member_account_create(account_id="123456789012", email="a@example.com", actor=admin)
    membership = member(account, "eu-west-1", "Invited", last_error="InviteMembers: nope", last_error_at=timezone.now())
    MembershipStatusChange.objects.create(membership=membership, from_status="Created", to_status="Invited", source="sync")

    html = html_of(client_for("manager").get("/accounts/123456789012/"))

    assert '<tr data-region="ap-southeast-2">' in html  # every configured region, member or not
    assert "InviteMembers: nope" in html
    assert "<td>Created</td><td>Invited</td>" in html
    assert "Added to GuardWatch" in html and "source: form" in html
    assert "Resend invitation" not in html  # a manager gets no buttons


# --- Add one account -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account_id", "email", "message"),
    [
        ("12345678901", "a@example.com", "exactly 12 digits"),
        ("1234567890123", "a@example.com", "exactly 12 digits"),
        ("12345678901x", "a@example.com", "exactly 12 digits"),
        ("123456789012", "not an email", "not a valid email"),
        ("123456789012", "a" * 60 + "@example.com", "at most 64"),
    ],
)
def test_admin_adding_a_bad_account_gets_a_message_on_the_field(client_for, account_id, email, message):
    response = client_for("admin").post("/accounts/add/", {"account_id": account_id, "email": email})

    assert response.status_code == 200  # the page again, with the message (400 is for API clients)
    assert message in html_of(response)
    assert MemberAccount.objects.count() == 0


def test_admin_adding_a_duplicate_is_refused_clearly(client_for):
    accounts_make(1)
    existing = MemberAccount.objects.get()

    response = client_for("admin").post("/accounts/add/", {"account_id": existing.account_id, "email": "x@example.com"})

    assert response.status_code == 200  # the page again, with the message (400 is for API clients)
    assert f"Account {existing.account_id} is already a member account" in html_of(response)


def test_admin_adds_an_account_and_goes_on_to_invite_it(client_for):
    response = client_for("admin").post(
        "/accounts/add/", {"account_id": "123456789012", "email": "root@example.com", "display_name": "Payments",
                           "tags": "prod, pci, prod"}  # fmt: skip
    )

    account = MemberAccount.objects.get()
    assert (account.display_name, account.tags) == ("Payments", ["prod", "pci"])
    assert response.status_code == 302 and response["Location"].startswith("/accounts/invite/?selection=")
    assert AuditEntry.objects.filter(verb="member.create", actor_name="admin", target_id=str(account.pk)).exists()


@pytest.mark.parametrize("typed", ["4444-5555-6666", "4444 5555 6666", " 444455556666 "])
def test_an_account_id_typed_as_the_console_shows_it_is_accepted(client_for, typed):
    response = client_for("admin").post("/accounts/add/", {"account_id": typed, "email": "root@example.com"})
    assert response.status_code == 302
    assert MemberAccount.objects.get().account_id == "444455556666"


@pytest.mark.parametrize("typed", ["4444-5555-666", "4444-55556666-", "٤٤٤٤-٥٥٥٥-٦٦٦٦"])  # short, misplaced, not ASCII
def test_an_account_id_with_dashes_in_the_wrong_places_is_still_refused(client_for, typed):
    response = client_for("admin").post("/accounts/add/", {"account_id": typed, "email": "root@example.com"})
    assert "must be exactly 12 digits" in response.content.decode()
    assert not MemberAccount.objects.exists()


# --- CSV upload ------------------------------------------------------------------------------------------


def upload(client, content: bytes, name="members.csv"):
    return client.post("/accounts/upload/", {"file": SimpleUploadedFile(name, content, content_type="text/csv")})


def test_admin_uploads_csv_and_sees_invalid_lines(client_for):
    accounts_make(1)
    existing = MemberAccount.objects.get().account_id
    content = f"Account ID,Email\n123456789012,a@example.com\nabc,b@example.com\n{existing},c@example.com\n".encode()

    html = html_of(upload(client_for("admin"), content))

    assert "1</strong> valid line, <strong>2</strong> invalid lines" in html
    assert "exactly 12 digits" in html and "already a member account" in html
    assert MemberAccount.objects.count() == 1  # nothing created yet


def test_admin_confirms_the_preview_and_only_valid_lines_are_created(client_for):
    client = client_for("admin")
    upload(client, b"123456789012,a@example.com\n12,b@example.com\n210987654321,c@example.com\n")

    response = client.post("/accounts/upload/confirm/")

    assert sorted(MemberAccount.objects.values_list("account_id", flat=True)) == ["123456789012", "210987654321"]
    assert response["Location"].startswith("/accounts/invite/?selection=")
    invite_page = html_of(client.get(response["Location"]))
    assert "<strong>2</strong> accounts" in invite_page
    assert AuditEntry.objects.filter(verb="member.create").count() == 2


def test_confirming_twice_creates_nothing_more(client_for):
    client = client_for("admin")
    upload(client, b"123456789012,a@example.com\n")
    client.post("/accounts/upload/confirm/")

    response = client.post("/accounts/upload/confirm/", follow=True)

    assert "no preview to confirm" in html_of(response)
    assert MemberAccount.objects.count() == 1


def test_an_oversized_csv_is_refused_with_the_limit(client_for):
    response = upload(client_for("admin"), b"1" * (1024 * 1024 + 1))

    assert response.status_code == 200  # the page again, with the message (400 is for API clients)
    assert "the limit is 1,048,576 bytes" in html_of(response)


def test_a_csv_with_too_many_rows_is_refused_with_the_limit(client_for):
    content = "\n".join(f"{100000000000 + i},a{i}@example.com" for i in range(5001)).encode()

    response = upload(client_for("admin"), content)

    assert response.status_code == 200  # the page again, with the message (400 is for API clients)
    assert "more than 5,000 accounts" in html_of(response)


# --- Invite and actions ----------------------------------------------------------------------------------


def test_invite_form_defaults_to_every_configured_region(client_for):
    client = client_for("admin")
    accounts_make(1)

    html = html_of(client.get("/accounts/invite/?scope=new"))

    for region in REGIONS:
        assert f'value="{region}"' in html and "checked" in html.split(f'value="{region}"')[1][:40]


def test_admin_starts_an_invite_with_regions_message_and_options(client_for, django_capture_on_commit_callbacks):
    client = client_for("admin")
    accounts = accounts_make(3)
    token_response = client.post("/accounts/bulk/", {"account": [a.pk for a in accounts], "action": "invite", "region": ""})
    url = token_response["Location"]
    token = url.split("selection=")[1]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url, {"selection": token, "regions": ["us-east-1", "eu-west-1"], "message": "Hi <team>",
                                     "disable_email_notification": "on"})  # fmt: skip

    operation = MemberOperation.objects.get()
    assert response["Location"] == f"/accounts/operations/{operation.pk}/"
    assert (operation.action, operation.regions, operation.message) == ("invite", ["us-east-1", "eu-west-1"], "Hi <team>")
    assert operation.disable_email_notification and operation.total == 6
    assert operation.results.filter(outcome="pending").count() == 6
    assert len(callbacks) == 1  # the Celery task is queued only after the commit


def test_invite_accounts_not_yet_members_takes_each_account_region_never_invited_as_coverage_counts_them(client_for):
    from reports.coverage import gap_counts

    client = client_for("admin")
    partly, fresh, everywhere, created = accounts_make(4)
    member(partly, "us-east-1", "Enabled")
    member(partly, "us-west-2", "Resigned")  # invited once: not "never invited"
    for region in REGIONS:
        member(everywhere, region, "Enabled")
    member(created, "us-east-1", "Created")  # CreateMembers alone is not an invitation

    page = html_of(client.get("/accounts/invite/?scope=new"))
    response = client.post("/accounts/invite/", {"scope": "new", "regions": REGIONS})

    assert "<strong>3</strong> accounts" in page and "<strong>10</strong> account × region pairs" in page
    operation = MemberOperation.objects.get()
    assert response["Location"] == f"/accounts/operations/{operation.pk}/"
    pairs = set(operation.results.values_list("account__account_id", "region"))
    assert pairs == {(partly.account_id, "eu-west-1"), (partly.account_id, "ap-southeast-2")} | {
        (account.account_id, region) for account in (fresh, created) for region in REGIONS
    }
    assert operation.total == len(pairs) == gap_counts(now=None)["never_invited"]


def test_invite_accounts_not_yet_members_in_a_region_where_all_are_invited_says_so(client_for):
    client = client_for("admin")
    (account,) = accounts_make(1)
    member(account, "us-east-1", "Invited")

    response = client.post("/accounts/invite/", {"scope": "new", "regions": ["us-east-1"]})

    assert "already invited in the chosen regions" in html_of(response)
    assert MemberOperation.objects.count() == 0


def test_invite_without_a_region_is_refused(client_for):
    client = client_for("admin")
    accounts_make(1)

    response = client.post("/accounts/invite/", {"scope": "new", "message": ""})

    assert response.status_code == 200  # the page again, with the message (400 is for API clients) and "Choose at least one region." in html_of(response)
    assert MemberOperation.objects.count() == 0


def test_progress_page_shows_each_accounts_result_and_polls_while_running(client_for):
    account = accounts_make(1)[0]
    operation = MemberOperation.objects.create(action="invite", regions=["us-east-1"], total=2, done=1, failed=1,
                                               status=MemberOperation.Status.RUNNING)  # fmt: skip
    MemberOperationResult.objects.create(operation=operation, account=account, region="us-east-1", outcome="failed",
                                         result="InviteMembers: The email address provided does not match")  # fmt: skip

    response = client_for("analyst").get(f"/accounts/operations/{operation.pk}/", headers={"HX-Request": "true"})

    html = html_of(response)
    assert 'hx-trigger="every 1s"' in html and "<html" not in html
    assert '<progress value="1" max="2"' in html
    assert "does not match" in html


def test_bulk_destructive_action_asks_for_confirmation_first(client_for):
    client = client_for("admin")
    accounts = accounts_make(2)

    response = client.post("/accounts/bulk/", {"account": [a.pk for a in accounts], "action": "delete", "region": "eu-west-1"})

    assert response.status_code == 200 and "are you sure?" in html_of(response)
    assert MemberOperation.objects.count() == 0
    response = client.post("/accounts/bulk/", {"account": [a.pk for a in accounts], "action": "delete",
                                               "region": "eu-west-1", "confirmed": "yes"})  # fmt: skip
    operation = MemberOperation.objects.get()
    assert (operation.action, operation.regions, operation.total) == ("delete", ["eu-west-1"], 2)


def test_destructive_buttons_on_the_detail_page_ask_in_the_browser(client_for):
    account = accounts_make(1)[0]
    member(account, "us-east-1", "Enabled")

    html = html_of(client_for("admin").get(f"/accounts/{account.account_id}/"))

    assert f'data-confirm="Disassociate {account.account_id} in us-east-1?"' in html
    assert f'data-confirm="Stop monitoring {account.account_id} in us-east-1?"' in html


# --- Roles ------------------------------------------------------------------------------------------------------


MUTATIONS = [
    ("/accounts/add/", {"account_id": "123456789012", "email": "a@example.com"}),
    ("/accounts/upload/confirm/", {}),
    ("/accounts/invite/", {"scope": "new", "regions": ["us-east-1"]}),
    ("/accounts/bulk/", {"account": ["1"], "action": "delete", "region": "", "confirmed": "yes"}),
    ("/accounts/refresh/", {}),
    ("/accounts/123456789012/action/", {"action": "delete", "region": ""}),
    ("/accounts/123456789012/recreate/", {"email": "b@example.com", "regions": ["us-east-1"]}),
    ("/accounts/123456789012/edit/", {"display_name": "x"}),
    ("/accounts/organization/", {"account": ["123456789012"]}),
    ("/accounts/organization/auto-enable/", {"region": "us-east-1", "value": "ALL"}),
    ("/accounts/operations/1/retry/", {}),
]


@pytest.mark.parametrize("persona", ["analyst", "manager", "outsider"])
@pytest.mark.parametrize(("url", "data"), MUTATIONS)
def test_only_admin_may_change_member_accounts(client_for, persona, url, data):
    MemberAccount.objects.create(account_id="123456789012", email="a@example.com")

    response = client_for(persona).post(url, data)

    assert response.status_code == 403
    assert MemberOperation.objects.count() == 0 and MemberAccount.objects.count() == 1


@pytest.mark.parametrize("persona", ["analyst", "manager"])
def test_read_only_roles_see_no_mutating_controls(client_for, persona):
    account = accounts_make(1)[0]
    member(account, "us-east-1", "Enabled")

    html = html_of(client_for(persona).get("/accounts/"))

    assert "Refresh now" not in html and "Add account" not in html and 'name="account"' not in html


def test_outsider_cannot_see_accounts(client_for):
    assert client_for("outsider").get("/accounts/").status_code == 403


def test_admin_edits_an_accounts_name_tags_notes_and_auto_accept(client_for):
    account = accounts_make(1)[0]

    client_for("admin").post(f"/accounts/{account.account_id}/edit/",
                             {"display_name": "Data lake", "tags": "prod, data", "notes": "Owner: data team",
                              "auto_accept": "on"})  # fmt: skip

    account.refresh_from_db()
    assert (account.display_name, account.tags, account.notes, account.auto_accept) == (
        "Data lake", ["prod", "data"], "Owner: data team", True)
    entry = AuditEntry.objects.get(verb="member.update")
    assert entry.details["display_name"] == "Data lake" and entry.actor_name == "admin"
