"""What the accounts pages do with hostile or mangled input: refuse it with a reason, never crash."""

import pytest
from django.urls import reverse

from accounts.csvimport import parse_member_csv
from accounts.models import MemberOperation

from .helpers import accounts_make

pytestmark = pytest.mark.django_db
ARABIC_INDIC_ACCOUNT_ID = "١٢٣٤٥٦٧٨٩٠١٢"  # twelve digits to Python's \d, not to AWS


def test_uploaded_account_id_in_non_ascii_digits_is_an_invalid_line():
    preview = parse_member_csv(f"{ARABIC_INDIC_ACCOUNT_ID},root@example.com\n".encode())

    assert preview.valid_lines == []
    assert "12 digits" in preview.lines[0].error


def test_account_added_by_hand_in_non_ascii_digits_is_refused(client_for):
    response = client_for("admin").post(
        reverse("accounts:add"), {"account_id": ARABIC_INDIC_ACCOUNT_ID, "email": "root@example.com"}
    )

    assert response.status_code == 200  # the page again, with the message (400 is for API clients)
    assert "12 digits" in response.content.decode()


def test_bulk_action_with_a_mangled_account_checkbox_asks_again_instead_of_failing(client_for):
    response = client_for("admin").post(
        reverse("accounts:bulk"), {"account": ["²", "9" * 40], "action": "start", "region": ""}, follow=True
    )

    assert response.status_code == 200
    assert "Select at least one account." in response.content.decode()
    assert not MemberOperation.objects.exists()


def test_bulk_confirmation_over_https_cancels_back_to_https_only(client_for):
    account = accounts_make(1)[0]

    response = client_for("admin").post(
        reverse("accounts:bulk"),
        {
            "account": [account.pk],
            "action": "delete",
            "region": "",
            "next": "http://testserver/accounts/?q=1",
        },
        secure=True,
    )

    html = response.content.decode()
    assert 'href="http://testserver/accounts/?q=1"' not in html
    assert f'<a href="{reverse("accounts:list")}" class="button">Cancel</a>' in html
