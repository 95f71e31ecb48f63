"""Users and roles for Admins in the UI: create, set the role, deactivate, reset the password, last sign-in."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from guardwatch.core.models import AuditEntry
from guardwatch.core.roles import role_of

pytestmark = pytest.mark.django_db
STRONG = "Correct-Horse-Battery-9"


def user(name: str):
    return get_user_model().objects.get(username=name)


def messages_of(response) -> str:
    return response.content.decode()


def test_only_admins_see_and_use_the_users_page(client_for):
    assert client_for("analyst").get("/users/").status_code == 403
    assert client_for("manager").post("/users/", {"username": "x"}).status_code == 403
    page = client_for("admin").get("/users/").content.decode()
    assert 'href="/users/"' in page  # in the navigation
    assert "Add a user" in page


def test_an_admin_adds_a_user_who_can_then_sign_in_with_that_role(client_for):
    admin = client_for("admin")
    response = admin.post("/users/", {"username": "dana", "role": "Analyst", "email": "dana@example.com",
                                      "password": STRONG}, follow=True)  # fmt: skip
    assert "dana can sign in now, as Analyst." in messages_of(response)
    assert role_of(user("dana")).value == "Analyst"
    assert Client().login(username="dana", password=STRONG)
    assert AuditEntry.objects.filter(verb="user.create", target_label__contains="dana").exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": "bad name!", "password": STRONG}, "username", "Use letters, digits"),
        ({"username": "admin", "password": STRONG}, "username", "already exists"),
        ({"username": "erin", "password": "short"}, "password", "too short"),
    ],
)
def test_a_bad_form_answers_200_with_the_reason_and_creates_nothing(client_for, fields, field, message):
    admin = client_for("admin")
    before = get_user_model().objects.count()
    response = admin.post("/users/", {"role": "Manager", **fields})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert get_user_model().objects.count() == before


def test_the_role_changes_and_the_last_admin_keeps_admin(client_for, analyst):
    admin = client_for("admin")
    admin.post(f"/users/{analyst.pk}/role/", {"role": "Manager"})
    assert role_of(user("analyst")).value == "Manager"
    refused = admin.post(f"/users/{user('admin').pk}/role/", {"role": "Analyst"}, follow=True)
    assert "the last active Admin" in messages_of(refused)
    assert role_of(user("admin")).value == "Admin"


def test_a_deactivated_user_is_signed_out_and_cannot_sign_in(client_for, analyst):
    analyst.set_password(STRONG)
    analyst.save()
    theirs = Client()
    assert theirs.login(username="analyst", password=STRONG)
    assert theirs.get("/findings/").status_code == 200
    client_for("admin").post(f"/users/{analyst.pk}/active/", {"active": "0"})
    assert theirs.get("/findings/").status_code == 302  # signed out at the next request
    assert not Client().login(username="analyst", password=STRONG)
    assert AuditEntry.objects.filter(verb="user.deactivate").exists()
    client_for("admin").post(f"/users/{analyst.pk}/active/", {"active": "1"})
    assert Client().login(username="analyst", password=STRONG)


def test_an_admin_cannot_deactivate_themself(client_for):
    admin = client_for("admin")
    response = admin.post(f"/users/{user('admin').pk}/active/", {"active": "0"}, follow=True)
    assert "You cannot deactivate yourself" in messages_of(response)
    assert user("admin").is_active


def test_a_reset_password_is_shown_once_and_ends_their_sessions(client_for, analyst):
    analyst.set_password(STRONG)
    analyst.save()
    theirs = Client()
    assert theirs.login(username="analyst", password=STRONG)
    admin = client_for("admin")
    page = admin.post(f"/users/{analyst.pk}/password/", follow=True)
    assert page.redirect_chain == [("/users/", 302)]  # post, redirect, get
    shown = re.search(r'<code class="secret" id="new-password">([^<]+)</code>', page.content.decode()).group(1)
    assert page["Cache-Control"] == "no-store"
    assert shown not in admin.get("/users/").content.decode()  # a reload shows nothing
    assert theirs.get("/findings/").status_code == 302  # their session ended
    assert not Client().login(username="analyst", password=STRONG)
    assert Client().login(username="analyst", password=shown)
    assert AuditEntry.objects.filter(verb="user.password_reset").exists()


def test_the_page_shows_each_users_role_and_last_sign_in(client_for, analyst, manager):
    signed = timezone.now() - timedelta(days=2)
    get_user_model().objects.filter(pk=analyst.pk).update(last_login=signed)
    page = client_for("admin").get("/users/").content.decode()
    row = re.search(r'<tr data-user="analyst">.*?</tr>', page, re.S).group(0)
    assert signed.strftime("%Y-%m-%d %H:%M") in row and 'value="Analyst" selected' in row
    manager_row = re.search(r'<tr data-user="manager">.*?</tr>', page, re.S).group(0)
    assert "never" in manager_row and 'value="Manager" selected' in manager_row


def test_user_names_are_escaped(client_for):
    get_user_model().objects.create_user(username="x<b>y", password=STRONG)
    page = client_for("admin").get("/users/").content.decode()
    assert "x<b>y" not in page and "x&lt;b&gt;y" in page
