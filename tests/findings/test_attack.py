"""The ATT&CK table: every finding type mapped, every id real, sources named, bad rows refused at load."""

from __future__ import annotations

import re

import pytest

from findings import attack
from gdsim.catalogue import FINDING_TYPES
from triage.detail import PURPOSES

MAPPING_HEADER = "finding_type,tactic_ids,technique_ids,source,source_ref,note\n"
TECHNIQUES_HEADER = "technique_id,name,tactic_ids\n"


def test_every_catalogue_finding_type_is_in_the_table():
    missing = sorted(set(FINDING_TYPES) - set(attack.mapped_types()))
    assert missing == []


def test_every_mapped_type_has_tactics_and_a_named_source():
    for finding_type in attack.mapped_types():
        mapping = attack.mapping_for(finding_type)
        assert mapping.in_table
        assert mapping.tactics, finding_type
        assert mapping.source in {"aws-docs", "ctid", "reasoned"}, finding_type
        assert mapping.source_ref, finding_type
        assert mapping.note, f"{finding_type} says why it is mapped so"


def test_every_technique_used_is_in_the_bundled_list_with_its_attack_name():
    used = {t for finding_type in attack.mapped_types() for t in attack.mapping_for(finding_type).techniques}
    bundled = {t.id: t for t in attack.techniques()}
    for technique in used:
        assert re.fullmatch(r"T\d{4}(\.\d{3})?", technique.id)
        assert bundled[technique.id].name == technique.name and technique.name
    assert set(bundled) == {t.id for t in used}, "the bundled list holds only the techniques the table uses"


def test_tactics_follow_the_attack_kill_chain_from_reconnaissance_to_impact():
    ids = [tactic.id for tactic in attack.TACTICS]
    assert ids[0] == "TA0043" and ids[-1] == "TA0040"
    assert len(ids) == len(set(ids)) == 14
    assert attack.mapping_for("AttackSequence:S3/CompromisedData").tactics == (
        "TA0001",
        "TA0009",
        "TA0010",
        "TA0040",
    )


def test_attack_sequences_cite_aws_documentation_and_ctid_rows_cite_ctid():
    for finding_type in attack.mapped_types():
        mapping = attack.mapping_for(finding_type)
        if finding_type.startswith("AttackSequence:"):
            assert mapping.source == "aws-docs"
            assert mapping.source_ref.startswith(
                "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty-attack-sequence-finding-types.html#"
            )
        if mapping.source == "ctid":
            assert "center-for-threat-informed-defense/security-stack-mappings" in mapping.source_ref


def test_a_type_the_table_does_not_know_gets_its_threat_purposes_tactic_marked_as_such():
    mapping = attack.mapping_for("Exfiltration:S3/SomethingNewFromGuardDuty")
    assert not mapping.in_table
    assert mapping.tactics == ("TA0010",)
    assert mapping.techniques == ()
    assert mapping.source == "reasoned"
    assert attack.mapping_for("Nonsense").tactics == ()


def test_every_threat_purpose_the_product_knows_has_a_fallback():
    assert set(PURPOSES) <= set(attack.PURPOSE_TACTICS)
    for tactic_ids in attack.PURPOSE_TACTICS.values():
        assert all(tactic_id in attack.TACTICS_BY_ID for tactic_id in tactic_ids)


def test_types_for_a_tactic_and_for_a_technique_and_its_parent():
    assert "Recon:EC2/Portscan" in attack.finding_types_for_tactic("TA0043")
    assert "Recon:EC2/Portscan" not in attack.finding_types_for_tactic("TA0040")
    assert attack.finding_types_for_tactic("TA9999") == ()
    cloud_accounts = attack.finding_types_for_technique("T1078.004")
    assert "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B" in cloud_accounts
    # The parent technique covers its sub-techniques.
    assert set(cloud_accounts) < set(attack.finding_types_for_technique("T1078"))
    assert attack.finding_types_for_technique("T9999") == ()


def test_links_go_to_attack_mitre_org():
    technique = attack.technique("T1078.004")
    assert technique.url == "https://attack.mitre.org/techniques/T1078/004/"
    assert attack.TACTICS_BY_ID["TA0001"].url == "https://attack.mitre.org/tactics/TA0001/"


@pytest.mark.parametrize(
    ("row", "technique_rows", "message"),
    [
        ("Recon:EC2/Portscan,TA0099,T1046,ctid,https://x,n\n", "", "unknown tactic id TA0099"),
        ("Recon:EC2/Portscan,TA0007,T1234,ctid,https://x,n\n", "", "unknown technique id T1234"),
        ("Recon:EC2/Portscan,TA0040,T1046,ctid,https://x,n\n", "", "belongs to none of"),
        ("Recon:EC2/Portscan,TA0007,T1046,blog,https://x,n\n", "", "source must be one of"),
        ("Recon:EC2/Portscan,,T1046,ctid,https://x,n\n", "", "needs at least one tactic"),
        ("Recon:EC2/Portscan,TA0007,T1046,ctid,,n\n", "", "needs a source_ref"),
        ("Recon:EC2/Portscan,TA0007,T1046,ctid,https://x,n\n" * 2, "", "mapped twice"),
        ("Recon:EC2/Portscan,TA0007,T1046,ctid,https://x,n\n", "T1046,Again,TA0007\n", "listed twice"),
        ("Recon:EC2/Portscan,TA0007,,ctid,https://x,n\n", "X12,Bad,TA0007\n", "not an ATT&CK technique id"),
    ],
)
def test_a_wrong_row_refuses_to_load_and_names_its_line(tmp_path, row, technique_rows, message):
    mapping_file, techniques_file = tmp_path / "m.csv", tmp_path / "t.csv"
    mapping_file.write_text(MAPPING_HEADER + row)
    techniques_file.write_text(
        TECHNIQUES_HEADER + "T1046,Network Service Discovery,TA0007\n" + technique_rows
    )
    with pytest.raises(attack.AttackTableError, match=message) as error:
        attack.load_table(mapping_file, techniques_file)
    assert "line " in str(error.value)


def test_the_bundled_files_load_cleanly():
    table = attack.load_table()
    assert len(table.mappings) >= len(FINDING_TYPES)
