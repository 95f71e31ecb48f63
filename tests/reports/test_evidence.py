"""An auditor's evidence pack: what it says matches the database, its signature holds (and breaks on one changed
byte), the PDF shows the same, only Admins and Managers (organisation-wide) may ask for one, and a worker renders it."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.utils import timezone
from pypdf import PdfReader

from accounts.drift import drift_evaluate
from accounts.models import (
    CoveragePolicy,
    DeviationRecord,
    EvidencePack,
    MemberAccount,
    MemberOperation,
    MemberOperationResult,
    MemberProtection,
    Membership,
    RegionState,
)
from accounts.policies import policy_save
from guardwatch.core import signing
from guardwatch.core.models import AuditEntry
from reports import evidence
from tests.accounts.test_policies_drift import monitored
from tests.conftest import persona_create
from tests.reports.support import REGIONS
from tests.reports.test_report_downloads import _fill_colours

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
OU_A, OU_B = "ou-aa11-11111111", "ou-bb22-22222222"
POLICY = {"name": "baseline", "scope": CoveragePolicy.Scope.ORGANISATION, "scope_value": "", "scope_accounts": [],
          "regions": list(REGIONS), "plans": ["s3_data_events"], "runtime_agents": [], "s3_malware_bucket_tags": [],
          "finding_publishing_frequency": ""}  # fmt: skip


class QueuedPacks(list):
    """Evidence packs asked for (their ids) instead of sent to the broker; `run()` does what a worker does."""

    def delay(self, pack_id: int) -> None:
        self.append(pack_id)

    def run(self) -> list[str]:
        from reports import tasks

        done = []
        while self:
            done.append(tasks.evidence_pack_render(self.pop(0)))  # the task itself, as the worker calls it
        return done


@pytest.fixture(autouse=True)
def evidence_worker(request, monkeypatch, settings, tmp_path) -> QueuedPacks | None:
    from reports import tasks

    if request.node.get_closest_marker("worker"):
        return None  # the real worker renders (and signs with the key under var/ it shares with this process)
    settings.VAR_DIR = tmp_path  # this test's own demo signing key
    queued = QueuedPacks()
    monkeypatch.setattr(tasks.evidence_pack_render, "delay", queued.delay)
    return queued


@pytest.fixture
def estate(settings):
    """Three accounts under one audited policy; B not accepted in eu-west-1, C's S3 protection off then fixed."""
    for region in REGIONS:
        RegionState.objects.create(region=region, detector_id=f"det-{region}", account_enabled=True)
    admin = persona_create("admin")
    a = MemberAccount.objects.create(account_id="200000000001", email="a@example.com", organizational_unit=OU_A)
    b = MemberAccount.objects.create(account_id="200000000002", email="b@example.com", organizational_unit=OU_B)
    c = MemberAccount.objects.create(account_id="200000000003", email="c@example.com",
                                     display_name="<script>alert(1)</script>")  # fmt: skip
    policy = policy_save(data=POLICY, actor=admin)
    policy = policy_save(policy=policy, data={**POLICY, "finding_publishing_frequency": ""} | {"name": "baseline v2"},
                         actor=admin)  # fmt: skip
    for account in (a, b, c):
        monitored(account, "us-east-1", **({"s3_data_events": "DISABLED"} if account is c else {}))
    monitored(a, "eu-west-1")
    monitored(c, "eu-west-1")
    Membership.objects.create(account=b, region="eu-west-1", relationship_status="Invited")
    drift_evaluate()
    Membership.objects.filter(account=b, region="eu-west-1").update(relationship_status="EmailVerificationInProgress")
    drift_evaluate()  # B's cause changes
    operation = MemberOperation.objects.create(action=MemberOperation.Action.FEATURES, regions=["us-east-1"],
                                               drift_fix=True, detector_features=["S3_DATA_EVENTS"], created_by=admin,
                                               status=MemberOperation.Status.SUCCEEDED, total=1, done=1)  # fmt: skip
    MemberOperationResult.objects.create(operation=operation, account=c, region="us-east-1", outcome="succeeded")
    MemberProtection.objects.filter(membership__account=c, membership__region="us-east-1").update(
        s3_data_events="ENABLED"
    )
    drift_evaluate()  # C's deviation is fixed
    return {"admin": admin, "a": a, "b": b, "c": c, "policy": policy, "operation": operation}


def _ask(client, evidence_worker, **form) -> EvidencePack:
    asked = client.post("/accounts/evidence/", form)
    assert asked.status_code == 302, asked.content.decode()[:500]
    waiting = client.get(asked["Location"]).content.decode()
    assert 'data-testid="evidence-pending"' in waiting and 'hx-trigger="every 1s"' in waiting
    assert evidence_worker.run() == ["ready"]
    ready = client.get(asked["Location"], headers={"HX-Request": "true"}).content.decode()
    assert 'data-testid="evidence-ready"' in ready and "<html" not in ready  # the polled fragment
    return EvidencePack.objects.get(pk=int(asked["Location"].rstrip("/").rsplit("/", 1)[1]))


def _download(client, pack: EvidencePack, kind: str) -> bytes:
    response = client.get(f"/accounts/evidence/{pack.pk}/{kind}/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{pack.stem}.{kind}"'
    return response.content


def test_manager_gets_a_pack_whose_json_is_the_policies_compliance_and_deviation_history_in_the_database(
    client_for, estate, evidence_worker
):
    client = client_for("manager")
    pack = _ask(client, evidence_worker)
    doc = json.loads(_download(client, pack, "json"))["evidence"]

    today = timezone.now().date()
    assert doc["period"] == {"start": str(today - timedelta(days=89)), "end": str(today), "days": 90, "timezone": "UTC"}
    assert doc["requested_by"] == {"username": "manager", "role": "Manager"}
    assert doc["generator"]["product"] == "GuardWatch" and doc["generator"]["version"] == "0.1.0"
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", doc["generator"]["commit"])
    assert doc["generated_at"].endswith("Z") and doc["scope"]["kind"] == "all"
    # The policy as defined, with its audited history.
    (policy,) = doc["policies"]
    assert policy["name"] == "baseline v2" and policy["plans"] == ["s3_data_events"] and policy["regions"] == REGIONS
    assert [h["verb"] for h in policy["history"]] == ["policy.create", "policy.update"]
    assert policy["history"][1]["details"] == {"name": {"from": "baseline", "to": "baseline v2"}}
    # Every deviation of the period, as recorded: first seen, resolved, cause and its earlier one, fix runs.
    records = {(r.account_number, r.region): r for r in DeviationRecord.objects.all()}
    assert {(d["account_id"], d["region"]) for d in doc["deviations"]} == set(records) == {
        ("200000000002", "eu-west-1"), ("200000000003", "us-east-1")}  # fmt: skip
    by_account = {d["account_id"]: d for d in doc["deviations"]}
    fixed, waiting = by_account["200000000003"], by_account["200000000002"]
    assert fixed["resolved_at"] == records[("200000000003", "us-east-1")].resolved_at.isoformat().replace("+00:00", "Z")
    assert fixed["kind"] == "plan" and fixed["feature"] == "s3_data_events" and not fixed["open_at_end"]
    assert [(r["operation_id"], r["drift_fix"], r["started_by"], r["outcome"]) for r in fixed["fix_runs"]] == [
        (estate["operation"].pk, True, "admin", "succeeded")]  # fmt: skip
    assert waiting["resolved_at"] is None and waiting["open_at_end"] and waiting["fix_runs"] == []
    assert waiting["status"] == "EmailVerificationInProgress" and waiting["organizational_unit"] == OU_B
    assert [e["status"] for e in waiting["earlier"]] == ["Invited"] and "accepted" in waiting["earlier"][0]["cause"]
    # Compliance per day, overall and per policy: after the fix, 5 of the 6 account × region pairs.
    assert doc["compliance"]["overall"][-1] == {"day": str(today), "pairs": 6, "compliant": 5, "percent": 83.33}
    (scope,) = doc["compliance"]["per_scope"]
    assert scope["policy"] == "baseline v2" and scope["days"][-1]["pairs"] == 6
    assert doc["counts"] == {"deviations": 2, "open_at_end": 1, "resolved_in_period": 1}
    assert doc["pdf"]["sha256"] == pack.pdf_sha256


def test_a_pack_for_one_ou_holds_only_that_ous_deviations_and_compliance(client_for, estate, evidence_worker):
    client = client_for("admin")
    pack = _ask(client, evidence_worker, scope=f"ou:{OU_B}")
    doc = json.loads(_download(client, pack, "json"))["evidence"]

    assert doc["scope"] == {"kind": "ou", "value": OU_B, "label": f"OU: {OU_B}"}
    assert [d["account_id"] for d in doc["deviations"]] == ["200000000002"]
    assert doc["compliance"]["overall"][-1]["pairs"] == 2 and doc["compliance"]["overall"][-1]["compliant"] == 1


def test_the_signature_verifies_and_one_changed_byte_breaks_it(client_for, estate, evidence_worker):
    client = client_for("manager")
    pack = _ask(client, evidence_worker)
    data, pdf = _download(client, pack, "json"), _download(client, pack, "pdf")

    assert evidence.evidence_verify(json_bytes=data, pdf_bytes=pdf).ok
    signed = json.loads(data)
    assert signed["signature"]["public_key_fingerprint"] == signing.fingerprint(signing.signing_key())
    tampered = data.replace(b'"compliant": 5', b'"compliant": 6', 1)
    assert tampered != data and len(tampered) == len(data)
    result = evidence.evidence_verify(json_bytes=tampered)
    assert not result.ok and "changed after signing" in result.messages[-1]
    flipped = bytearray(pdf)
    flipped[len(pdf) // 2] ^= 0x01
    assert not evidence.evidence_verify(json_bytes=data, pdf_bytes=bytes(flipped)).ok
    other_key = signing.public_key_pem(Ed25519PrivateKey.generate())
    result = evidence.evidence_verify(json_bytes=data, public_pem=other_key.encode())
    assert not result.ok and "check with the key that signed it" in result.messages[-1]


def _pkcs8():
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()


def test_evidence_verify_command_says_verified_or_exits_with_what_does_not_match(
    client_for, estate, evidence_worker, tmp_path
):
    client = client_for("manager")
    pack = _ask(client, evidence_worker)
    (tmp_path / "pack.json").write_bytes(_download(client, pack, "json"))
    (tmp_path / "pack.pdf").write_bytes(_download(client, pack, "pdf"))
    out = io.StringIO()

    call_command("evidence_verify", str(tmp_path / "pack.json"), "--pdf", str(tmp_path / "pack.pdf"), stdout=out)

    assert "Signature valid" in out.getvalue() and "PDF matches" in out.getvalue() and "VERIFIED" in out.getvalue()
    (tmp_path / "pack.pdf").write_bytes(b"%PDF-1.7 something else")
    with pytest.raises(CommandError, match="NOT VERIFIED: The PDF's SHA-256 is not the signed one"):
        call_command("evidence_verify", str(tmp_path / "pack.json"), "--pdf", str(tmp_path / "pack.pdf"), stdout=out)


def _doc_openssl_script() -> str:
    text = (ROOT / "docs" / "evidence.md").read_text()
    block = text.split("<!-- evidence-openssl:begin -->")[1].split("<!-- evidence-openssl:end -->")[0]
    return block.split("```sh\n")[1].split("```")[0]


def test_the_openssl_steps_in_the_docs_verify_a_pack_and_reject_a_changed_one(
    client_for, estate, evidence_worker, tmp_path
):
    assert shutil.which("openssl")
    client = client_for("manager")
    pack = _ask(client, evidence_worker)
    (tmp_path / "pack.json").write_bytes(_download(client, pack, "json"))
    (tmp_path / "pack.pdf").write_bytes(_download(client, pack, "pdf"))
    (tmp_path / "guardwatch-evidence-public-key.pem").write_bytes(client.get("/accounts/evidence/public-key.pem").content)
    script = _doc_openssl_script()

    run = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert run.returncode == 0, run.stderr
    assert "Signature Verified Successfully" in run.stdout
    fingerprint = json.loads((tmp_path / "pack.json").read_bytes())["signature"]["public_key_fingerprint"]
    assert fingerprint.removeprefix("SHA256:") in run.stdout and pack.pdf_sha256 in run.stdout
    changed = (tmp_path / "pack.json").read_text().replace('"days": 90', '"days": 91', 1)
    (tmp_path / "pack.json").write_text(changed)
    failed = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0 and "Signature Verification Failure" in failed.stdout + failed.stderr


def test_the_pdf_shows_the_cover_chart_policies_and_deviations_on_their_own_pages(
    client_for, estate, evidence_worker
):
    client = client_for("manager")
    pack = _ask(client, evidence_worker)
    reader = PdfReader(io.BytesIO(_download(client, pack, "pdf")))
    pages = [" ".join(page.extract_text().split()) for page in reader.pages]
    text = " ".join(pages)

    assert len(pages) >= 4
    assert "Coverage evidence" in pages[0] and pack.key_fingerprint in pages[0].replace(" ", "")
    assert "Requested by manager (Manager)" in pages[0] and "version 0.1.0" in pages[0]
    compliance = next(p for p in pages if "Compliance per day" in p)
    today = timezone.now().date()
    assert "% compliant" in compliance and f"{today:%m-%d}" in compliance and f"{today} 5 6 83.33 %" in compliance
    assert any("Coverage policies (1)" in p and "baseline v2" in p and "policy.update" in p for p in pages)
    deviations = next(p for p in pages if "Deviations (2)" in p)
    assert "200000000003" in deviations and f"Operation #{estate['operation'].pk}" in deviations
    assert (6, 118, 71) in _fill_colours(reader)  # the compliance chart's points, in .line-resolved's #067647
    assert "Download" not in text and "Sign out" not in text


def test_packs_are_listed_with_who_when_period_and_hashes_and_asking_and_downloading_are_audited(
    client_for, estate, evidence_worker
):
    client = client_for("manager")
    pack = _ask(client, evidence_worker, start="2026-01-01", end=str(timezone.now().date()))
    _download(client, pack, "pdf")

    html = client.get("/accounts/evidence/").content.decode()
    row = re.search(rf'<tr data-pack="{pack.pk}">.*?</tr>', html, re.S).group(0)
    assert "manager" in row and "2026-01-01" in row and pack.json_sha256 in row and pack.pdf_sha256 in row
    assert signing.public_key_pem(signing.signing_key()).splitlines()[1] in html
    entries = AuditEntry.objects.filter(target_type="accounts.evidencepack", target_id=str(pack.pk))
    assert sorted(entries.values_list("verb", "actor_name")) == [
        ("evidence.download", "manager"), ("evidence.request", "manager")]  # fmt: skip
    assert entries.get(verb="evidence.download").details == {"file": "pdf", "sha256": pack.pdf_sha256}


@pytest.mark.parametrize("form, message", [
    ({"start": "2026-13-01"}, "YYYY-MM-DD"),
    ({"start": "2026-05-02", "end": "2026-05-01"}, "starts after it ends"),
    ({"end": "2999-01-01"}, "ends in the future"),
    ({"start": "2020-01-01", "end": "2026-01-01"}, "at most"),
    ({"scope": "policy:999999"}, "Choose a scope"),
])  # fmt: skip
def test_a_bad_period_or_scope_is_refused_with_what_to_do_and_no_pack(client_for, estate, form, message):
    response = client_for("admin").post("/accounts/evidence/", form)

    assert response.status_code == 400 and message in response.content.decode()
    assert not EvidencePack.objects.exists()


def test_analysts_and_team_scoped_managers_are_refused_and_managers_and_admins_allowed(client_for, estate):
    from accounts.models import ScopedUser

    for name in ("analyst", "outsider"):
        client = client_for(name)
        assert client.get("/accounts/evidence/").status_code == 403
        assert client.post("/accounts/evidence/", {}).status_code == 403
    scoped = client_for("manager")
    ScopedUser.objects.create(user=_user("manager"))
    assert scoped.get("/accounts/evidence/").status_code == 403
    assert not EvidencePack.objects.exists()
    assert client_for("admin").get("/accounts/evidence/").status_code == 200


def _user(name):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=name)


def test_production_without_a_signing_key_turns_evidence_off_and_says_how_to_turn_it_on(client_for, estate, settings):
    settings.PRODUCTION, settings.GUARDWATCH_EVIDENCE_SIGNING_KEY = True, ""
    client = client_for("admin")

    page = client.get("/accounts/evidence/").content.decode()
    refused = client.post("/accounts/evidence/", {})

    assert 'data-testid="evidence-unavailable"' in page and "GUARDWATCH_EVIDENCE_SIGNING_KEY_FILE" in page
    assert 'data-testid="evidence-form"' not in page
    assert refused.status_code == 400 and not EvidencePack.objects.exists()


def test_a_configured_key_signs_and_a_key_that_is_not_ed25519_stops_start_up(client_for, estate, settings,
                                                                               evidence_worker, tmp_path):
    pem = Ed25519PrivateKey.generate().private_bytes(*_pkcs8()).decode()
    settings.GUARDWATCH_EVIDENCE_SIGNING_KEY = pem
    pack = _ask(client_for("admin"), evidence_worker)
    assert pack.key_fingerprint == signing.fingerprint(signing.private_key_load(pem.encode()))
    assert not (tmp_path / signing.DEMO_KEY_NAME).exists()

    from tests.core.test_settings import check_with

    (tmp_path / "rsa.pem").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    result = check_with({"GUARDWATCH_ENV": "test", "GUARDWATCH_EVIDENCE_SIGNING_KEY_FILE": str(tmp_path / "rsa.pem")})
    assert result.returncode != 0 and "GUARDWATCH_EVIDENCE_SIGNING_KEY: not a PEM private key" in result.stderr


def test_a_pack_the_worker_could_not_render_says_why_and_running_the_task_twice_renders_once(
    client_for, estate, evidence_worker, monkeypatch
):
    from reports import pdf as report_pdf

    client = client_for("admin")
    good = _ask(client, evidence_worker)
    from reports import tasks

    assert tasks.evidence_pack_render(good.pk) == "ready"  # a re-delivered message: already done, nothing redone
    assert EvidencePack.objects.get(pk=good.pk).json_sha256 == good.json_sha256

    def broken(html, base_url):
        raise OSError("no fonts")

    monkeypatch.setattr(report_pdf, "pdf_layout", broken)
    asked = client.post("/accounts/evidence/", {})
    with pytest.raises(OSError):
        evidence_worker.run()
    page = client.get(asked["Location"]).content.decode()
    assert 'data-testid="evidence-failed"' in page and "OSError: no fonts" in page


def test_with_no_broker_the_request_renders_the_pack_itself(client_for, estate, monkeypatch):
    from reports import tasks

    def refused(pack_id):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.evidence_pack_render, "delay", refused)
    asked = client_for("admin").post("/accounts/evidence/", {})
    assert 'data-testid="evidence-ready"' in client_for("admin").get(asked["Location"]).content.decode()


def test_expired_packs_are_purged_and_no_longer_listed_or_downloadable(client_for, estate, evidence_worker):
    client = client_for("admin")
    pack = _ask(client, evidence_worker)
    EvidencePack.objects.filter(pk=pack.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert client.get(f"/accounts/evidence/{pack.pk}/json/").status_code == 404
    assert f'data-pack="{pack.pk}"' not in client.get("/accounts/evidence/").content.decode()
    from reports import tasks

    assert tasks.evidence_packs_purge() == 1 and not EvidencePack.objects.exists()


def test_the_signature_is_over_the_canonical_bytes_of_the_document(client_for, estate, evidence_worker):
    pack = _ask(client_for("admin"), evidence_worker)
    signed = json.loads(EvidencePack.objects.get(pk=pack.pk).json_file)
    canonical = json.dumps(signed["evidence"], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    public = signing.signing_key().public_key()
    public.verify(base64.b64decode(signed["signature"]["value"]), canonical)  # raises if not


def test_a_pdf_of_many_deviations_lists_the_first_ones_sums_them_all_and_says_the_json_holds_every_one(
    client_for, estate, evidence_worker, monkeypatch
):
    monkeypatch.setattr(evidence, "PDF_DEVIATIONS", 1)
    client = client_for("admin")
    pack = _ask(client, evidence_worker)
    reader = PdfReader(io.BytesIO(_download(client, pack, "pdf")))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)

    assert "The first 1 deviations by first seen are listed below; the signed JSON holds all 2." in text
    assert "baseline v2 Protection plan off 1 0 1" in text and "baseline v2 Not monitored 1 1 0" in text
    listed = text.split("are listed below")[1]
    assert ("200000000002" in listed) != ("200000000003" in listed)  # one row of the two


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_renders_and_signs_the_pack_a_manager_asked_for(
    celery_worker_process, estate, client_for, monkeypatch
):
    from tests.support.waiting import wait_for

    def not_here(*, pack_id):
        raise AssertionError("the web process rendered the pack: it was never queued")

    monkeypatch.setattr(evidence, "evidence_pack_render", not_here)  # only the worker process may render it
    client = client_for("manager")
    asked = client.post("/accounts/evidence/", {"scope": f"ou:{OU_B}"})
    pack_id = int(asked["Location"].rstrip("/").rsplit("/", 1)[1])

    wait_for(lambda: EvidencePack.objects.filter(pk=pack_id, state="ready").exists(), timeout=90,
             what="the worker to render and sign the evidence pack")  # fmt: skip
    pack = EvidencePack.objects.get(pk=pack_id)
    assert 'data-testid="evidence-ready"' in client.get(asked["Location"]).content.decode()
    data, pdf = _download(client, pack, "json"), _download(client, pack, "pdf")
    assert evidence.evidence_verify(json_bytes=data, pdf_bytes=pdf).ok
    assert [d["account_id"] for d in json.loads(data)["evidence"]["deviations"]] == ["200000000002"]


def test_a_pack_no_worker_started_or_finished_says_so_and_stops_polling(client_for, estate, evidence_worker):
    client = client_for("admin")
    asked = client.post("/accounts/evidence/", {})
    pack = EvidencePack.objects.get()
    EvidencePack.objects.filter(pk=pack.pk).update(requested_at=timezone.now() - timedelta(minutes=3))
    page = client.get(asked["Location"]).content.decode()
    assert 'data-testid="evidence-stalled"' in page and "No worker has started" in page and "hx-trigger" not in page

    EvidencePack.objects.filter(pk=pack.pk).update(state="rendering")
    assert "hx-trigger" in client.get(asked["Location"]).content.decode()  # rendering for 3 minutes: still waiting
    EvidencePack.objects.filter(pk=pack.pk).update(requested_at=timezone.now() - timedelta(minutes=16))
    page = client.get(asked["Location"]).content.decode()
    assert "may have stopped" in page and "hx-trigger" not in page
