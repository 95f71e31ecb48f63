"""Team scoping leaks nothing: every page, fragment, export and API endpoint, walked as a team-scoped analyst
and a team-scoped manager, never shows the other team's account ids, finding ARNs, titles or account names.

Every URL name in the URLconf needs a case in `CASES` (and every path of docs/openapi.yaml resolves to one),
so a new page fails here until someone says how to walk it.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone

from accounts.models import EvidencePack, MemberAccount, Membership, ScopedUser, Team, TeamMembership
from accounts.services import coverage_alert_raise
from api.services import api_token_create
from gdsim.catalogue import build_attack_sequence
from guardwatch.core.models import Alert
from guardwatch.core.roles import Role
from guardwatch.core.services import user_create
from reports.models import ReportRun, ReportSubscription
from tests.api.support import token_of
from tests.findings.factories import DETECTOR, NOW, raw_finding
from tests.triage.support import store
from triage import exports
from triage.evidence import Target, evidence_file_add, evidence_note_add
from triage.models import BulkAction, SavedView

BLUE, BLUE_TAGGED, RED = "111111111111", "111111111122", "222222222222"
RED_NAME = "red-team-crown-jewels"
RED_PRINCIPAL = f"arn:aws:iam::{RED}:user/red-admin"
OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


@pytest.fixture
def world(db):
    """Two teams' accounts, findings and alerts; scoped Blue analyst and manager; an organisation-wide analyst."""
    blue = MemberAccount.objects.create(account_id=BLUE, email="blue@example.com", display_name="blue-main")
    tagged = MemberAccount.objects.create(account_id=BLUE_TAGGED, email="b2@example.com", display_name="blue-tagged",
                                          tags=["team=blue"])  # fmt: skip
    red = MemberAccount.objects.create(account_id=RED, email="red@example.com", display_name=RED_NAME,
                                       organizational_unit="ou-red1-abcdefgh", tags=["red-only-tag"])  # fmt: skip
    for account, status in ((blue, "Enabled"), (tagged, "Resigned"), (red, "Resigned")):
        Membership.objects.create(account=account, region="us-east-1", relationship_status=status)
        coverage_alert_raise(account=account, status="Resigned", regions=["us-east-1"])
    rng = random.Random(5)
    blue_findings = store([raw_finding(rng, finding_type="Recon:EC2/PortProbeUnprotectedPort", account_id=a, now=NOW)
                           for a in (BLUE, BLUE_TAGGED)])  # fmt: skip
    # Attack sequences: Blue's, which a Red finding also names (AssociatedAttackSequenceArn comes from the finding,
    # so from anyone), and Red's with its signals.
    blue_sequence, blue_signals = build_attack_sequence(rng, finding_type="AttackSequence:IAM/CompromisedCredentials",
                                                        account_id=BLUE, region="us-east-1", detector_id=DETECTOR, now=NOW)
    red_sequence, red_signals = build_attack_sequence(rng, finding_type="AttackSequence:S3/CompromisedData",
                                                      account_id=RED, region="us-east-1", detector_id=DETECTOR, now=NOW)
    red_raw = raw_finding(rng, finding_type="CryptoCurrency:EC2/BitcoinTool.B!DNS", account_id=RED, now=NOW)
    red_raw["AssociatedAttackSequenceArn"] = blue_sequence["Arn"]
    red_findings = store([red_raw])
    sequences = store([blue_sequence, *blue_signals, red_sequence, *red_signals])
    team_blue = Team.objects.create(name="Blue", account_ids=[BLUE], tags=["team=blue"])
    team_red = Team.objects.create(name="Red", organizational_units=["ou-red1-abcdefgh"])
    people = {
        "blue_analyst": user_create(username="blue_analyst", role=Role.ANALYST, password="x" * 20, validate=False),
        "blue_manager": user_create(username="blue_manager", role=Role.MANAGER, password="x" * 20, validate=False),
        "wide_analyst": user_create(username="wide_analyst", role=Role.ANALYST, password="x" * 20, validate=False),
        "red_analyst": user_create(username="red_analyst", role=Role.ANALYST, password="x" * 20, validate=False),
    }
    for name in ("blue_analyst", "blue_manager"):
        TeamMembership.objects.create(team=team_blue, user=people[name])
        ScopedUser.objects.create(user=people[name])
    TeamMembership.objects.create(team=team_red, user=people["red_analyst"])
    ScopedUser.objects.create(user=people["red_analyst"])
    # What an organisation-wide colleague leaves lying around: a shared view and a bulk action naming Red.
    SavedView.objects.create(owner=people["wide_analyst"], name="Red watch", query=f"account={RED}", shared=True)
    bulk = BulkAction.objects.create(actor=people["wide_analyst"], action="comment", query=f"account={RED}",
                                     total=1, finding_ids=[red_findings[0].pk])  # fmt: skip
    red_finding = red_findings[0]
    # An organisation-wide colleague's scheduled report of Red's OU, with its archived PDF.
    red_report = ReportSubscription.objects.create(owner=people["wide_analyst"], cadence="weekly", scope_kind="ou",
                                                   organizational_unit="ou-red1-abcdefgh")  # fmt: skip
    red_run = ReportRun.objects.create(subscription=red_report, period_start=NOW, period_end=NOW, due_at=NOW,
                                       next_attempt_at=NOW, state="sent", pdf=f"{RED} {RED_NAME}".encode())  # fmt: skip
    # Evidence about Red: a file on its finding, and a note on an entity in its account.
    red_file = evidence_file_add(target=Target(finding=red_finding), actor=people["wide_analyst"],
                                 upload=SimpleUploadedFile(f"{RED_NAME}.txt", RED_NAME.encode()))  # fmt: skip
    evidence_note_add(target=Target(entity_kind="principal", entity_value=RED_PRINCIPAL),
                      text=f"owned by {RED_NAME}", actor=people["wide_analyst"])  # fmt: skip
    # A ready evidence pack an organisation-wide Admin made: it names Red's account in its files.
    pack = EvidencePack.objects.create(requested_by_name="admin", period_start=NOW.date(), period_end=NOW.date(),
                                       state="ready", generated_at=NOW, json_file=f'{{"account": "{RED}"}}'.encode(),
                                       pdf_file=RED_NAME.encode(), expires_at=timezone.now() + timedelta(days=1))  # fmt: skip
    # And an export of Red's findings, written and ready to download (by its owner only).
    red_export = exports.finding_export_create(owner=people["wide_analyst"], query=f"account={RED}")
    exports.finding_export_run(export_id=red_export.pk)
    return {
        "people": people,
        "blue": blue_findings,
        "red": red_finding,
        "markers": [RED, red_finding.arn, red_finding.title, RED_NAME, "ou-red1-abcdefgh", "red-only-tag",
                    red_sequence["Arn"], red_sequence["Title"]],
        "sequences": {"blue": blue_sequence["Arn"], "red": red_sequence["Arn"]},
        "ids": {
            "finding": red_finding.pk,
            "red_sequence": sequences[len(blue_signals) + 1].pk,
            "blue_sequence": sequences[0].pk,
            "sequence_arns": [blue_sequence["Arn"], red_sequence["Arn"]],
            "blue_finding": blue_findings[0].pk,
            # Red's finding is about an instance and a domain: their entity pages must show Blue nothing of it.
            "red_entities": list(red_finding.entities.values_list("kind", "value")),
            "alert": Alert.objects.get(target_id=RED).pk,
            "bulk": bulk.pk,
            "evidence": red_file.pk,
            "export": red_export.pk,
            "view": SavedView.objects.get(name="Red watch").pk,
            "team": team_red.pk,
            "subscription": red_report.pk,
            "run": red_run.pk,
            "evidence_pack": pack.pk,
            "user": people["wide_analyst"].pk,
            # Someone else's token: revoking one's own mid-walk would leave the API walk unauthenticated.
            "token": api_token_create(name="wide", kind="personal", role="Analyst", days=30,
                                      actor=people["wide_analyst"])[0].pk,
        },
    }


# name -> list of (method, kwargs for reverse, query string or POST data). `pk` placeholders are filled from
# world["ids"]; every case is requested plainly and with HX-Request.
def _cases(ids: dict) -> dict[str, list[tuple[str, dict, dict | str]]]:
    finding = {"pk": ids["finding"]}
    red_filter = f"account={RED}"
    sequences = [f"sequence={arn}" for arn in ids["sequence_arns"]]  # as typed: a filter may echo what was typed
    return {
        "healthz": [("GET", {}, "")],
        "login": [("GET", {}, "")],
        "logout": [("POST", {}, {})],
        "ingest_eventbridge": [("POST", {}, {})],
        "hooks_jira": [("POST", {"pk": 1}, {})],
        "hooks_tickets": [("POST", {"pk": 1}, {})],
        "api_tokens": [("GET", {}, "")],
        "api_token_revoke": [("POST", {"pk": ids["token"]}, {})],
        "reports:dashboard": [("GET", {}, "")],
        "reports:findings": [("GET", {}, "period=7d"), *(("GET", {}, f"period=7d&export={e}")
                             for e in ("daily", "types", "accounts", "resources", "timing", "comparison"))],
        "reports:scheduled": [("GET", {}, ""), ("POST", {}, {"cadence": "weekly", "hour": "7",
                                                              "scope_kind": "organisation"})],
        "reports:scheduled_archive": [("GET", {"pk": ids["subscription"]}, "")],
        "reports:scheduled_delete": [("POST", {"pk": ids["subscription"]}, {})],
        "reports:scheduled_pdf": [("GET", {"pk": ids["run"]}, "")],
        "reports:coverage": [("GET", {}, ""), ("GET", {}, "fragment=matrix"), ("GET", {}, "gap=resigned"),
                             *(("GET", {}, f"export={e}") for e in ("regions", "matrix", "freshness", "resigned",
                                                                    "never_invited"))],
        # Evidence packs cover every account: organisation-wide pages (a scoped Manager gets 403).
        "reports:evidence": [("GET", {}, ""), ("POST", {}, {"scope": "ou:ou-red1-abcdefgh"})],
        "reports:evidence_pack": [("GET", {"pk": ids["evidence_pack"]}, "")],
        "reports:evidence_download": [("GET", {"pk": ids["evidence_pack"], "kind": kind}, "") for kind in ("json", "pdf")],
        "reports:evidence_public_key": [("GET", {}, "")],
        "findings:sync": [("GET", {}, "")],
        "findings:sync_now": [("POST", {}, {})],
        "findings:ingest_keys": [("GET", {}, "")],
        "findings:sla": [("GET", {}, ""), ("POST", {}, {"critical_hours": "1", "high_hours": "1", "medium_hours": "1", "low_hours": "1", "warn_percent": "50", "manager_after_hours": "1"})],
        "findings:ingest_key_revoke": [("POST", {"pk": 1}, {})],
        "core:audit": [("GET", {}, "")],
        "core:alerts": [("GET", {}, ""), ("GET", {}, "state=all")],
        "core:alert_acknowledge": [("POST", {"pk": ids["alert"]}, {})],
        "core:users": [("GET", {}, "")],
        "core:user_role": [("POST", {"pk": ids["user"]}, {"role": "Admin"})],
        "core:user_active": [("POST", {"pk": ids["user"]}, {"active": "0"})],
        "core:user_password": [("POST", {"pk": ids["user"]}, {})],
        "accounts:list": [("GET", {}, ""), ("GET", {}, "q=2222"), ("GET", {}, "status=Resigned")],
        "accounts:add": [("GET", {}, "")],
        "accounts:upload": [("GET", {}, "")],
        "accounts:upload_confirm": [("POST", {}, {})],
        "accounts:invite": [("GET", {}, f"accounts={RED}")],
        "accounts:bulk": [("POST", {}, {"ids": ["1"], "action": "invite"})],
        "accounts:refresh": [("POST", {}, {})],
        "accounts:operation": [("GET", {"pk": 1}, "")],
        "accounts:operation_retry": [("POST", {"pk": 1}, {})],
        "accounts:organization": [("GET", {}, "")],
        "accounts:organization_refresh": [("POST", {}, {})],
        "accounts:organization_auto_enable": [("POST", {}, {})],
        "accounts:teams": [("GET", {}, "")],
        "accounts:policies": [("GET", {}, "")],
        "accounts:policy_add": [("GET", {}, "")],
        "accounts:policy_edit": [("GET", {"pk": 1}, "")],
        "accounts:policy_delete": [("POST", {"pk": 1}, {})],
        "accounts:drift": [("GET", {}, ""), ("POST", {}, {})],
        "accounts:drift_fix": [("POST", {}, {"deviation": ["1"]})],
        "accounts:team_edit": [("GET", {"pk": ids["team"]}, "")],
        "accounts:team_delete": [("POST", {"pk": ids["team"]}, {})],
        "accounts:user_teams": [("GET", {"pk": ids["user"]}, "")],
        "accounts:detail": [("GET", {"account_id": RED}, "")],
        "accounts:edit": [("POST", {"account_id": RED}, {"display_name": "x"})],
        "accounts:action": [("POST", {"account_id": RED}, {"action": "invite"})],
        "accounts:recreate": [("POST", {"account_id": RED}, {})],
        "accounts:remove": [("GET", {"account_id": RED}, "")],
        "triage:list": [("GET", {}, ""), ("GET", {}, "status=open"), ("GET", {}, red_filter),
                        ("GET", {}, "q=bitcoin"), ("GET", {}, "sort=-last_seen"), ("GET", {}, "group=sequence"),
                        ("GET", {}, "sequence=any"), *(("GET", {}, query) for query in sequences),
                        *(("GET", {}, f"{query}&group=sequence") for query in sequences),
                        # The search box takes an entity: Red's are not offered nor opened for Blue.
                        *(("GET", {}, urlencode({"q": value})) for _kind, value in ids["red_entities"])],
        "triage:detail": [("GET", finding, ""), ("GET", {"pk": ids["blue_sequence"]}, "")],
        "triage:sequence": [("GET", {"pk": ids["red_sequence"]}, ""), ("GET", {"pk": ids["blue_sequence"]}, "")],
        "triage:entity": [("GET", {"kind": kind}, urlencode({"v": value})) for kind, value in ids["red_entities"]]
        + [("GET", {"kind": kind}, urlencode({"v": value, "after": "none_999999999"}))
           for kind, value in ids["red_entities"]],
        "triage:status": [("POST", finding, {"status": "acknowledged"})],
        "triage:assign": [("POST", finding, {"assignee": "me"})],
        "triage:comment": [("POST", finding, {"body": "mine now"})],
        "triage:feedback": [("POST", finding, {"feedback": "USEFUL"})],
        "triage:investigation_panel": [("GET", finding, "")],
        "triage:investigate": [("POST", finding, {})],
        "triage:account_investigation_panel": [("GET", {"account_id": RED}, "")],
        "triage:account_investigate": [("POST", {"account_id": RED}, {"region": "us-east-1"})],
        "triage:evidence_add": [("POST", finding, {"kind": "note", "text": "x"}),
                                ("POST", finding, {"kind": "link", "url": "https://example.com/"})],
        "triage:evidence_download": [("GET", {"pk": ids["evidence"]}, "")],
        "triage:evidence_remove": [("POST", {"pk": ids["evidence"]}, {})],
        "triage:entity_evidence": [("GET", {"kind": "principal"}, f"v={RED_PRINCIPAL}")],
        "triage:entity_evidence_add": [("POST", {"kind": "principal"}, {"v": RED_PRINCIPAL, "kind": "note",
                                                                        "text": "x"})],
        "triage:bulk": [("POST", {}, {"action": "comment", "comment": "x", "ids": [str(ids["finding"])]}),
                        ("POST", {}, {"action": "comment", "comment": "x", "scope": "all", "query": red_filter}),
                        ("POST", {}, {"action": "comment", "comment": "x", "scope": "all", "query": "",
                                      "confirmed": "yes"})],
        "triage:bulk_progress": [("GET", {"pk": ids["bulk"]}, "")],
        "triage:view_save": [("POST", {}, {"name": "peek", "query": red_filter})],
        "triage:view_delete": [("POST", {"pk": ids["view"]}, {})],
        "triage:view_default": [("POST", {"pk": ids["view"]}, {})],
        "triage:view_default_reset": [("POST", {}, {})],
        "triage:suppression": [("GET", {}, f"query={red_filter}")],
        "triage:suppression_create": [("POST", {}, {"query": red_filter, "name": "hide red"})],
        "triage:suppression_edit": [("GET", {"pk": 1}, "")],
        "triage:suppression_approve": [("POST", {"pk": 1}, {})],
        "triage:suppression_reject": [("POST", {"pk": 1}, {})],
        "triage:suppression_delete": [("POST", {"pk": 1}, {})],
        "triage:writeback_retry": [("POST", {"pk": 1}, {})],
        "triage:export_csv": [("GET", {}, ""), ("GET", {}, red_filter), ("GET", {}, "sequence=any"),
                              *(("GET", {}, query) for query in sequences)],
        "triage:export_json": [("GET", {}, ""), ("GET", {}, red_filter)],
        # Background exports: the list of one's own, a new one (of a filter naming Red: the worker applies the
        # owner's scope, test below), and someone else's export of Red's findings (404 for anyone but its owner).
        "triage:exports": [("GET", {}, ""), ("POST", {}, {"query": red_filter, "format": "csv"})],
        "triage:export_progress": [("GET", {"pk": ids["export"]}, "")],
        "triage:export_cancel": [("POST", {"pk": ids["export"]}, {})],
        "triage:export_download": [("GET", {"pk": ids["export"]}, "")],
        "notifications:destinations": [("GET", {}, "")],
        "notifications:destination_create": [("GET", {}, "")],
        "notifications:destination_edit": [("GET", {"pk": 1}, "")],
        "notifications:destination_delete": [("POST", {"pk": 1}, {})],
        "notifications:destination_test": [("POST", {"pk": 1}, {})],
        "notifications:delivery_log": [("GET", {"pk": 1}, "")],
        "notifications:rules": [("GET", {}, "")],
        "notifications:rule_create": [("GET", {}, "")],
        "notifications:rule_edit": [("GET", {"pk": 1}, "")],
        "notifications:rule_delete": [("POST", {"pk": 1}, {})],
        "notifications:teams": [("GET", {}, "")],
        "notifications:team_routing": [("GET", {"pk": ids["team"]}, ""), ("POST", {"pk": ids["team"]}, {})],
        "notifications:dead_letters": [("GET", {}, "")],
        "notifications:delivery_resend": [("POST", {"pk": 1}, {})],
        "notifications:ticket_create": [("POST", {"finding_pk": ids["finding"]}, {})],
        "notifications:ticket_panel": [("GET", {"finding_pk": ids["finding"]}, "")],
        # The API: a token acts as its user, so it is scoped as they are.
        "api:findings": [("GET", {}, ""), ("GET", {}, red_filter), ("GET", {}, "q=bitcoin"), ("GET", {}, "sequence=any"),
                         *(("GET", {}, query) for query in sequences)],
        "api:findings_bulk": [("POST", {}, {"action": "comment", "comment": "x", "ids": [ids["finding"]]}),
                              ("POST", {}, {"action": "comment", "comment": "x", "filters": red_filter})],
        "api:finding": [("GET", finding, "")],
        "api:finding_timeline": [("GET", finding, "")],
        "api:finding_status": [("POST", finding, {"status": "acknowledged"})],
        "api:finding_assign": [("POST", finding, {"assignee": "me"})],
        "api:finding_comment": [("POST", finding, {"body": "x"})],
        "api:finding_feedback": [("POST", finding, {"feedback": "USEFUL"})],
        "api:accounts": [("GET", {}, ""), ("GET", {}, "q=2222")],
        "api:accounts_import": [("POST", {}, {})],
        "api:accounts_invite": [("POST", {}, {"account_ids": [RED], "regions": ["us-east-1"]})],
        "api:account": [("GET", {"account_id": RED}, "")],
        "api:coverage": [("GET", {}, "")],
        "api:findings_figures": [("GET", {}, "")],
        "api:suppression_rules": [("GET", {}, "")],
        "api:alerts": [("GET", {}, ""), ("GET", {}, "state=all")],
        "api:alert_acknowledge": [("POST", {"pk": ids["alert"]}, {})],
        "api:audit": [("GET", {}, "")],
        "api:schema": [("GET", {}, "")],
        "api:docs": [("GET", {}, "")],
        "metrics": [("GET", {}, "")],  # off here (404); on, it takes a token, not a person
        "core:sso_mappings": [("GET", {}, "")],
        "core:sso_mapping_delete": [("POST", {"pk": 1}, {})],
        "triage:suppression_review": [("POST", {"pk": 1}, {"review_at": "2030-01-01"})],
        "triage:suppression_import": [("POST", {}, {})],
        "triage:suppression_adopt": [("POST", {"pk": 1}, {"reason": "x"})],
        # The signed-in person's own sign-in settings (allauth): nothing of any team's accounts.
        "mfa_index": [("GET", {}, "")],
        "mfa_list_webauthn": [("GET", {}, "")],
        "account_email": [("GET", {}, "")],
        "socialaccount_connections": [("GET", {}, "")],
    }


# allauth's sign-in, second-factor and identity-provider flows: each needs the state of a flow in progress (a
# key from an email, a pending sign-in, an IdP's answer) that a walk cannot make up, and each answers only
# about the person signing in (or redirects to the IdP); none reads findings, accounts, alerts or reports.
# The unnamed pattern is allauth's too. Signing up and password resets by email answer 404 (not_offered).
SIGN_IN_FLOWS = {
    "None", "account_change_password", "account_confirm_email", "account_confirm_login_code",
    "account_email_verification_sent", "account_inactive", "account_login", "account_logout",
    "account_reauthenticate", "account_reset_password", "account_reset_password_done",
    "account_reset_password_from_key", "account_reset_password_from_key_done", "account_set_password",
    "account_signup", "mfa_activate_totp", "mfa_add_webauthn", "mfa_authenticate", "mfa_deactivate_totp",
    "mfa_download_recovery_codes", "mfa_edit_webauthn", "mfa_generate_recovery_codes", "mfa_reauthenticate",
    "mfa_reauthenticate_webauthn", "mfa_remove_webauthn", "mfa_view_recovery_codes", "not_offered",
    "openid_connect_callback", "openid_connect_login", "saml_acs", "saml_finish_acs", "saml_login",
    "saml_metadata", "saml_sls", "socialaccount_login_cancelled", "socialaccount_login_error",
    "socialaccount_signup",
}  # fmt: skip


# EventBridge posts with an ingest key, Jira and ticket systems sign their status pushes: not as a person.
KEY_AUTHENTICATED = {"ingest_eventbridge", "hooks_jira", "hooks_tickets"}


def _url_names(patterns=None, namespace: str = "") -> list[str]:
    names = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            names += _url_names(pattern.url_patterns, pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern):
            names.append(f"{namespace}:{pattern.name}" if namespace else str(pattern.name))
    return names


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _request(client: Client, method: str, url: str, data, *, api: bool, htmx: bool):
    headers = {"HX-Request": "true"} if htmx else {}
    if method == "GET":
        return client.get(f"{url}?{data}" if data else url, headers=headers)
    if api:
        return client.post(url, data, content_type="application/json", headers=headers)
    return client.post(url, data, headers=headers)


def _walk(client: Client, api_client: Client, cases: dict, markers: list[str]) -> list[str]:
    leaks = []
    # Signing out ends the session the rest of the walk needs: it goes last.
    for name, requests in sorted(cases.items(), key=lambda item: item[0] == "logout"):
        if name.startswith("admin:"):
            continue
        for method, kwargs, data in requests:
            url = reverse(name, kwargs=kwargs)
            api = name.startswith("api:") and name not in ("api:schema", "api:docs")
            for htmx in (False, True):
                response = _request(api_client if api else client, method, url, data, api=api, htmx=htmx)
                body = _body(response)
                if response.status_code >= 500 or (response.status_code == 401 and name not in KEY_AUTHENTICATED):
                    leaks.append(f"{method} {url} {data!r}: {response.status_code}")
                if (response.status_code == 302 and response["Location"].startswith(reverse("login"))
                        and name != "logout"):  # fmt: skip
                    leaks.append(f"{method} {url} {data!r}: signed out, the walk would read nothing")
                # What the person typed (a filter naming Red's account) may be echoed back; nothing else may.
                found = [m for m in markers if m and m in body and m not in str(data)]
                if found:
                    leaks.append(f"{method} {url} {data!r} (htmx={htmx}): shows {found}")
    return leaks


def test_every_url_and_api_path_has_a_scope_case(world):
    cases = _cases(world["ids"])
    names = {n for n in _url_names() if not n.startswith("admin:")}  # the Django admin: staff only, below
    assert sorted(names - set(cases) - SIGN_IN_FLOWS) == [], "walk these URLs as a team-scoped user in CASES"
    assert names >= SIGN_IN_FLOWS, "an entry of SIGN_IN_FLOWS no longer names a URL"
    paths = yaml.safe_load(OPENAPI.read_text())["paths"]
    for path in paths:
        sample = path.replace("{id}", "1").replace("{account_id}", RED).replace("{pk}", "1")
        match = resolve(sample)
        assert f"{match.namespace}:{match.url_name}" in cases, path


@pytest.mark.parametrize("persona", ["blue_analyst", "blue_manager"])
def test_a_team_scoped_user_sees_nothing_of_the_other_team_anywhere(world, persona, settings):
    settings.GUARDWATCH_API_RATE_PER_MINUTE = 10_000
    user = world["people"][persona]
    client = Client()
    client.force_login(user)
    api_client = Client(HTTP_AUTHORIZATION=f"Bearer {token_of(user)}")
    assert client.get("/findings/").status_code == 200  # signed in: the walk reads what the person sees
    leaks = _walk(client, api_client, _cases(world["ids"]), world["markers"])
    assert not leaks, "\n".join(leaks)
    # The Django admin is for staff; a scoped user is sent to its sign-in.
    assert client.get("/django-admin/auth/user/").status_code in (302, 404)


def test_the_markers_are_there_for_an_organisation_wide_analyst(world):
    """The walk would see a leak: the same pages show Red's markers to someone who may see them."""
    client = Client()
    client.force_login(world["people"]["wide_analyst"])
    assert RED in _body(client.get("/findings/?status=open"))
    assert world["red"].arn in _body(client.get("/findings/export.csv"))
    assert RED_NAME in _body(client.get("/accounts/"))
    assert RED in _body(client.get("/alerts/"))
    assert world["red"].title in _body(client.get(f"/findings/{world['ids']['blue_sequence']}/sequence/"))
    assert world["markers"][-1] in _body(client.get("/findings/?group=sequence"))  # Red's sequence, by title


def test_a_scoped_analyst_sees_and_acts_on_their_teams_findings(world):
    user = world["people"]["blue_analyst"]
    client = Client()
    client.force_login(user)
    listed = _body(client.get("/findings/?status=open"))
    assert all(f.arn in listed or f.title in listed for f in world["blue"])
    assert BLUE_TAGGED in _body(client.get("/findings/export.csv"))  # by the team's tag rule
    assert client.get(f"/findings/{world['ids']['blue_finding']}/").status_code == 200
    assert client.get(f"/findings/{world['ids']['finding']}/").status_code == 404
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token_of(user)}")
    results = api.get("/api/v1/findings/").json()["results"]
    assert {r["account_id"] for r in results} == {BLUE, BLUE_TAGGED}
    # Bulk "all matching" acts on their findings only.
    response = client.post("/findings/bulk/", {"action": "status", "status": "acknowledged", "scope": "all",
                                               "query": "", "confirmed": "yes"})  # fmt: skip
    assert response.status_code == 302
    world["red"].refresh_from_db()
    assert world["red"].status == "new"
    assert {f.account_id for f in type(world["red"]).objects.filter(status="acknowledged")} == {BLUE, BLUE_TAGGED}


def test_a_scoped_persons_background_export_holds_only_their_teams_findings(world):
    user = world["people"]["blue_analyst"]
    client = Client()
    client.force_login(user)
    for query, expected in (("", {BLUE, BLUE_TAGGED}), (f"account={RED}", set())):
        client.post("/findings/exports/", {"query": query, "format": "csv"})
        export = exports.finding_export_list(user=user)[0]
        exports.finding_export_run(export_id=export.pk)
        body = _body(client.get(f"/findings/exports/{export.pk}/download/"))
        assert {line.split(",")[3] for line in body.splitlines()[1:]} == expected
        assert not [m for m in world["markers"] if m in body]
    # The organisation-wide owner's export of the same filter does hold Red's findings (the check can fail).
    other = Client()
    other.force_login(world["people"]["wide_analyst"])
    assert world["red"].arn in _body(other.get(f"/findings/exports/{world['ids']['export']}/download/"))
    assert client.get(f"/findings/exports/{world['ids']['export']}/download/").status_code == 404


def test_a_team_defined_by_ou_scopes_its_member_to_that_ou(world):
    client = Client()
    client.force_login(world["people"]["red_analyst"])
    body = _body(client.get("/findings/export.csv"))
    assert world["red"].arn in body and BLUE not in body


def test_a_scoped_analyst_cannot_download_remove_or_add_to_another_teams_evidence(world):
    from triage.models import Evidence

    client = Client()
    client.force_login(world["people"]["blue_analyst"])
    red_file = world["ids"]["evidence"]
    assert client.get(f"/findings/evidence/{red_file}/download/").status_code == 404
    assert client.post(f"/findings/evidence/{red_file}/remove/").status_code == 404
    assert client.post(f"/findings/{world['ids']['finding']}/evidence/", {"kind": "link",
                       "url": "https://example.com/"}).status_code == 404  # fmt: skip
    assert client.get("/findings/entity/principal/evidence/", {"v": RED_PRINCIPAL}).status_code == 404
    assert Evidence.objects.filter(removed_at__isnull=True).count() == 2
    assert Evidence.objects.count() == 2
    # Their own team's finding takes evidence.
    blue = world["ids"]["blue_finding"]
    assert client.post(f"/findings/{blue}/evidence/", {"kind": "link", "url": "https://example.com/"}).status_code == 302
    assert Evidence.objects.filter(finding_id=blue).count() == 1
