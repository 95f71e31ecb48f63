"""Sign-in through django-allauth: single sign-on's users and roles, the password and MFA forms under the
sign-in throttle, and the sign-in audit. See docs/sso.md.

At every single sign-on the user's IdP groups are read afresh and mapped to a role (`SsoGroupMapping`):
users are created at their first sign-in, their role follows their groups, and someone none of whose
groups is mapped any more is refused and loses their role. Their teams and team-scoped mark follow the same
mappings (`_teams_apply`): the memberships and mark single sign-on made, never those an Admin gave by hand.
"""

from __future__ import annotations

import logging

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.account.forms import ReauthenticateForm as AllauthReauthenticateForm
from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.core import context
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.mfa.base.forms import AuthenticateForm
from allauth.mfa.base.forms import ReauthenticateForm as MfaAllauthReauthenticateForm
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django import forms
from django.conf import settings
from django.shortcuts import render

from guardwatch.core.login import MFA_PREFIX, client_address, throttled_check
from guardwatch.core.roles import role_of
from guardwatch.core.scope import sso_teams_apply
from guardwatch.core.selectors import sso_role_for, sso_teams_for
from guardwatch.core.services import audit_record, user_roles_revoke, user_set_role

log = logging.getLogger(__name__)
SSO_ACTOR = "single sign-on"  # the audit log's actor for roles set from IdP groups
QUIET_MESSAGES = {"account/messages/logged_in.txt", "account/messages/logged_out.txt"}


# --- Groups from the identity provider --------------------------------------------------------------------


def sso_groups(*, extra_data: dict) -> list[str]:
    """The user's IdP groups from what the provider sent: an OpenID Connect claim (userinfo, else the ID
    token) or a SAML attribute, named by GUARDWATCH_SSO_GROUPS_CLAIMS (the first one present)."""
    sources = [extra_data.get("userinfo"), extra_data.get("id_token"), extra_data]
    for source in sources:
        if not isinstance(source, dict):
            continue
        for claim in settings.GUARDWATCH_SSO_GROUPS_CLAIMS:
            value = source.get(claim)
            if isinstance(value, str):
                return [value]
            if isinstance(value, list):
                return [str(group) for group in value]
    return []


# --- allauth adapters ---------------------------------------------------------------------------------


class AccountAdapter(DefaultAccountAdapter):
    """Local accounts: nobody signs themselves up (Admins add people, or single sign-on does)."""

    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "username_password_mismatch": "Your username and password didn't match. Please try again.",
    }

    def is_open_for_signup(self, request) -> bool:
        return False

    def add_message(self, request, level, message_template=None, message_context=None, extra_tags="", message=None):
        if message_template in QUIET_MESSAGES:  # "Signed in as …" says what the page already shows
            return
        super().add_message(request, level, message_template, message_context, extra_tags, message)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Single sign-on: created at first sign-in, role from the IdP's groups at every sign-in."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return True

    def pre_social_login(self, request, sociallogin) -> None:
        """Every single sign-on, new user or known: refuse anyone whose groups map to no role (a known user
        also loses their role), else bring a known user's role in line with their groups."""
        groups = sso_groups(extra_data=sociallogin.account.extra_data)
        role = sso_role_for(groups=groups)
        user = sociallogin.user if sociallogin.is_existing else None
        if role is None:
            label = user.get_username() if user else sociallogin.account.uid
            audit_record(actor=SSO_ACTOR, verb="auth.sso_refused",
                         target=user or ("auth.user", "", label[:255]),
                         details={"provider": sociallogin.account.provider, "groups": groups[:50],
                                  "address": client_address(request)})  # fmt: skip
            if user is not None:
                user_roles_revoke(user=user, actor=SSO_ACTOR)
            raise ImmediateHttpResponse(render(request, "account/sso_refused.html", status=403))
        if user is not None and role_of(user) != role:
            user_set_role(user=user, role=role, actor=SSO_ACTOR)
        if user is not None:
            _teams_apply(user=user, groups=groups)

    def save_user(self, request, sociallogin, form=None):
        """A user's first single sign-on creates them, with the role their groups map to."""
        user = super().save_user(request, sociallogin, form)
        user.set_unusable_password()  # they sign in at the IdP, never with a password here
        user.save(update_fields=["password"])
        groups = sso_groups(extra_data=sociallogin.account.extra_data)
        role = sso_role_for(groups=groups)
        audit_record(actor=SSO_ACTOR, verb="user.create", target=user,
                     details={"role": role.value if role else "", "provider": sociallogin.account.provider})  # fmt: skip
        if role is not None:
            user_set_role(user=user, role=role, actor=SSO_ACTOR)
        _teams_apply(user=user, groups=groups)
        return user


def _teams_apply(*, user, groups: list[str]) -> None:
    """The teams the user's mapped groups name, and team-scoped if any of those mappings says so."""
    teams, scoped = sso_teams_for(groups=groups)
    sso_teams_apply(user=user, teams=teams, scoped=scoped, actor=SSO_ACTOR)


# --- Forms: local passwords and MFA codes under the sign-in throttle ---------------------------------------


class LoginForm(AllauthLoginForm):
    """allauth's sign-in form under GuardWatch's throttle; the fields keep their names (`username`,
    `password`), and it refuses everyone while local sign-in is off (GUARDWATCH_LOCAL_SIGN_IN=0)."""

    def __init__(self, *args, **kwargs):
        data = kwargs.get("data")
        if data is not None and "login" not in data and "username" in data:
            data = data.copy()
            data["login"] = data["username"]
            kwargs["data"] = data
        super().__init__(*args, **kwargs)

    def clean(self):
        if not settings.GUARDWATCH_LOCAL_SIGN_IN:
            raise forms.ValidationError("Sign-in with a password is turned off: use single sign-on.", code="off")
        username = (self.data.get("login") or "").strip()
        if not (username and self.data.get("password")):
            return super().clean()  # a missing field is reported, nothing counted
        with throttled_check(username=username, address=client_address(self.request)):
            super().clean()
            if self.errors:  # allauth reports a wrong password on the form, not by raising
                raise forms.ValidationError(self.non_field_errors() or "Your username and password didn't match.")
        return self.cleaned_data


class ReauthenticateForm(AllauthReauthenticateForm):
    """"Confirm your password" (before adding or removing a second factor), under the same throttle."""

    def clean_password(self) -> str:
        with throttled_check(username=self.user.get_username(), address=client_address(context.request)):
            return super().clean_password()


class _ThrottledCode:
    """A second-factor code (TOTP or a recovery code) throttled like a password: its own budgets per user
    name and address, so a right password does not give the codes their attempts back."""

    def clean_code(self) -> str:
        address = client_address(context.request)
        with throttled_check(username=f"{MFA_PREFIX}{self.user.get_username()}", address=address):
            return super().clean_code()


class MfaAuthenticateForm(_ThrottledCode, AuthenticateForm):
    """The code asked for after the password."""


class MfaReauthenticateForm(_ThrottledCode, MfaAllauthReauthenticateForm):
    """The code asked for to confirm it is still you."""


# --- The sign-in audit ------------------------------------------------------------------------------------


def sign_in_audit(sender, request, user, **_kwargs) -> None:
    """Every sign-in (Django's `user_logged_in`): how — password or which single sign-on — and with which
    second factor, from which address."""
    if request is None:
        return
    methods = request.session.get(AUTHENTICATION_METHODS_SESSION_KEY, [])
    first = next((m for m in methods if m.get("method") in {"password", "socialaccount"}), {})
    mfa = next((m.get("type", "") for m in methods if m.get("method") == "mfa"), "")
    details = {"method": "sso" if first.get("method") == "socialaccount" else "password",
               "address": client_address(request)}  # fmt: skip
    if first.get("provider"):
        details["provider"] = first["provider"]
    if mfa:
        details["mfa"] = mfa
    audit_record(actor=user, verb="auth.sign_in", target=user, details=details)
