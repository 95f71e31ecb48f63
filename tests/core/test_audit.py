"""The audit log: every mutation recorded; Admins read and filter it."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from guardwatch.core.models import AuditEntry
from guardwatch.core.services import audit_record


def test_audit_record_keeps_actor_verb_target_and_details(admin, analyst):
    entry = audit_record(actor=admin, verb="member.invite", target=analyst, details={"regions": ["us-east-1"]})
    entry.refresh_from_db()
    assert entry.actor == admin and entry.actor_name == "admin"
    assert (entry.target_type, entry.target_id, entry.target_label) == ("auth.user", str(analyst.pk), "analyst")
    assert entry.details == {"regions": ["us-east-1"]}


def test_system_work_is_audited_under_its_own_name(db):
    entry = audit_record(actor="beat", verb="members.sync", target=("region", "eu-west-1", "eu-west-1"))
    assert entry.actor is None and entry.actor_name == "beat"
    assert entry.target_type == "region"


def test_admin_filters_audit_log_by_actor_and_verb(client_for, admin, analyst):
    audit_record(actor=admin, verb="member.invite", target=("account", "123456789012", "123456789012"))
    audit_record(actor=analyst, verb="finding.status", target=("finding", "f1", "finding one"))
    client = client_for("admin")
    page = client.get(reverse("core:audit"), {"actor": "analyst"}).content.decode()
    assert "finding one" in page and "123456789012" not in page
    page = client.get(reverse("core:audit"), {"verb": "member."}).content.decode()
    assert "123456789012" in page and "finding one" not in page


def test_audit_filter_by_date_range(client_for, admin):
    old = audit_record(actor=admin, verb="member.delete", target=("account", "1", "old-account"))
    AuditEntry.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    audit_record(actor=admin, verb="member.delete", target=("account", "2", "new-account"))
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    page = client_for("admin").get(reverse("core:audit"), {"since": since}).content.decode()
    assert "new-account" in page and "old-account" not in page


def test_audit_bad_date_range_is_explained(client_for):
    response = client_for("admin").get(reverse("core:audit"), {"since": "2026-02-01", "until": "2026-01-01"})
    assert "must be on or before" in response.content.decode()


def test_htmx_filter_returns_only_the_results_fragment(client_for, admin):
    audit_record(actor=admin, verb="member.invite", target=("account", "1", "acct"))
    response = client_for("admin").get(reverse("core:audit"), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert "<table" in body and "<html" not in body
    assert "HX-Request" in response["Vary"]


def test_create_user_command_gives_one_role_and_audits_it(db, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-passphrase\n"))
    call_command("create_user", "carol", role="Analyst", password_stdin=True, stdout=io.StringIO())
    from django.contrib.auth import get_user_model

    carol = get_user_model().objects.get(username="carol")
    assert [g.name for g in carol.groups.all()] == ["Analyst"]
    assert carol.check_password("a-long-enough-passphrase")
    assert AuditEntry.objects.filter(verb="user.create", target_id=str(carol.pk)).exists()


def test_create_user_command_rejects_weak_password(db, monkeypatch):
    import io

    from django.core.management.base import CommandError

    monkeypatch.setattr("sys.stdin", io.StringIO("password\n"))
    with pytest.raises(CommandError, match="too short|too common"):
        call_command("create_user", "dave", role="Manager", password_stdin=True)
