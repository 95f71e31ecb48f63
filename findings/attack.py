"""Finding types mapped to MITRE ATT&CK (Enterprise) tactics and techniques, from a table in the repo.

The table is `findings/data/attack_mapping.csv`, one row per GuardDuty finding type: its tactic ids, its
technique ids and where the row comes from (`source`): AWS's own documentation (attack sequences and
Custom Detection Rules, which AWS files under ATT&CK tactics), the Center for Threat-Informed Defense's
security-stack mapping of GuardDuty, or GuardWatch's reasoned mapping, marked as such. The techniques
it uses are listed with their names and tactics in `findings/data/attack_techniques.csv`. Both files are
read once and checked as they load: an unknown tactic or technique id, a technique filed under none of
its row's tactics, an unknown source or a repeated type refuses to load, naming the file and line
(docs/attack.md says how to change them).

A type that is not in the table (one GuardDuty added after it was written) gets its threat purpose's
tactic, marked `in_table=False`; filters and the report count only the table's types by technique, and
such findings under their purpose's tactic in the report only.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
MAPPING_FILE = DATA_DIR / "attack_mapping.csv"
TECHNIQUES_FILE = DATA_DIR / "attack_techniques.csv"
ATTACK_URL = "https://attack.mitre.org"
SOURCES = {
    "aws-docs": "AWS documentation",
    "ctid": "Center for Threat-Informed Defense security stack mappings",
    "reasoned": "GuardWatch's reasoned mapping",
}


@dataclass(frozen=True, slots=True)
class Tactic:
    """One ATT&CK Enterprise tactic (TA0001 Initial Access ...)."""

    id: str
    name: str

    @property
    def url(self) -> str:
        return f"{ATTACK_URL}/tactics/{self.id}/"


@dataclass(frozen=True, slots=True)
class Technique:
    """One ATT&CK technique or sub-technique (T1078, T1078.004)."""

    id: str
    name: str

    @property
    def url(self) -> str:
        return f"{ATTACK_URL}/techniques/{self.id.replace('.', '/')}/"

    @property
    def parent_id(self) -> str:
        return self.id.split(".", 1)[0]


# ATT&CK Enterprise's tactics in kill-chain order (https://attack.mitre.org/tactics/enterprise/); every
# one applies to the cloud (IaaS, SaaS, Identity Provider platforms).
TACTICS: tuple[Tactic, ...] = (
    Tactic("TA0043", "Reconnaissance"),
    Tactic("TA0042", "Resource Development"),
    Tactic("TA0001", "Initial Access"),
    Tactic("TA0002", "Execution"),
    Tactic("TA0003", "Persistence"),
    Tactic("TA0004", "Privilege Escalation"),
    Tactic("TA0005", "Defense Evasion"),
    Tactic("TA0006", "Credential Access"),
    Tactic("TA0007", "Discovery"),
    Tactic("TA0008", "Lateral Movement"),
    Tactic("TA0009", "Collection"),
    Tactic("TA0011", "Command and Control"),
    Tactic("TA0010", "Exfiltration"),
    Tactic("TA0040", "Impact"),
)
TACTICS_BY_ID: dict[str, Tactic] = {tactic.id: tactic for tactic in TACTICS}

# GuardDuty's threat purposes (the part of a type before ':'; GuardDuty User Guide, "GuardDuty finding
# format") and the tactic each one names, for a type the table does not know yet. Behavior, Policy and
# AttackSequence name no single tactic; PenTest tools are run to look around (Discovery); Object is
# Malware Protection for S3's "a malicious object was uploaded" (staging it, Resource Development).
PURPOSE_TACTICS: dict[str, tuple[str, ...]] = {
    "AttackSequence": (),
    "Backdoor": ("TA0011",),
    "Behavior": (),
    "CredentialAccess": ("TA0006",),
    "CryptoCurrency": ("TA0040",),
    "DefenseEvasion": ("TA0005",),
    "DefenseImpairment": ("TA0005",),
    "Discovery": ("TA0007",),
    "Execution": ("TA0002",),
    "Exfiltration": ("TA0010",),
    "Impact": ("TA0040",),
    "InitialAccess": ("TA0001",),
    "Object": ("TA0042",),
    "PenTest": ("TA0007",),
    "Persistence": ("TA0003",),
    "Policy": (),
    "PrivilegeEscalation": ("TA0004",),
    "Recon": ("TA0043",),
    "Stealth": ("TA0005",),
    "Trojan": ("TA0011",),
    "UnauthorizedAccess": ("TA0001",),
}


@dataclass(frozen=True, slots=True)
class AttackMapping:
    """A finding type's tactics (ids, kill-chain order) and techniques, and where that comes from."""

    finding_type: str
    tactics: tuple[str, ...]
    techniques: tuple[Technique, ...]
    source: str  # aws-docs | ctid | reasoned
    source_ref: str  # a URL, or a note for a fallback
    note: str = ""
    in_table: bool = True

    @property
    def tactic_list(self) -> tuple[Tactic, ...]:
        """The tactics themselves (names and links), in kill-chain order."""
        return tuple(TACTICS_BY_ID[tactic_id] for tactic_id in self.tactics)

    @property
    def source_label(self) -> str:
        return SOURCES[self.source]

    @property
    def source_is_url(self) -> bool:
        return self.source_ref.startswith("https://")


class AttackTableError(ValueError):
    """The mapping table or the technique list is wrong; the message names the file and line."""


@dataclass(frozen=True)
class _Table:
    techniques: dict[str, Technique]
    technique_tactics: dict[str, frozenset[str]]
    mappings: dict[str, AttackMapping]
    # Indexes built at load, so a lookup by an id from a query string is a dict read (nothing cached per input).
    by_tactic: dict[str, tuple[str, ...]] = field(default_factory=dict)
    by_technique: dict[str, tuple[str, ...]] = field(default_factory=dict)  # parents cover their subs


def _ids(raw: str) -> list[str]:
    return [part for part in raw.replace(",", " ").split() if part]


def _ordered_tactics(ids: list[str]) -> tuple[str, ...]:
    order = {tactic.id: index for index, tactic in enumerate(TACTICS)}
    return tuple(sorted(dict.fromkeys(ids), key=order.__getitem__))


def _read_rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != columns:
            raise AttackTableError(
                f"{path.name}: the header must be {','.join(columns)}, not {reader.fieldnames}"
            )
        return [
            (reader.line_num, {key: (value or "").strip() for key, value in row.items()}) for row in reader
        ]


def load_table(mapping_file: Path = MAPPING_FILE, techniques_file: Path = TECHNIQUES_FILE) -> _Table:
    """Read and check both files; raises AttackTableError on the first thing wrong."""
    techniques: dict[str, Technique] = {}
    technique_tactics: dict[str, frozenset[str]] = {}
    for line, row in _read_rows(techniques_file, ("technique_id", "name", "tactic_ids")):
        where = f"{techniques_file.name} line {line}"
        technique_id, name, tactic_ids = row["technique_id"], row["name"], _ids(row["tactic_ids"])
        if not technique_id.startswith("T") or not technique_id[1:].replace(".", "").isdigit():
            raise AttackTableError(
                f"{where}: “{technique_id}” is not an ATT&CK technique id (T1078, T1078.004)"
            )
        if technique_id in techniques:
            raise AttackTableError(f"{where}: technique {technique_id} is listed twice")
        if not name:
            raise AttackTableError(f"{where}: technique {technique_id} needs its ATT&CK name")
        unknown = [tactic for tactic in tactic_ids if tactic not in TACTICS_BY_ID]
        if unknown or not tactic_ids:
            raise AttackTableError(
                f"{where}: technique {technique_id} needs known tactic ids, not {unknown or 'none'}"
            )
        techniques[technique_id] = Technique(technique_id, name)
        technique_tactics[technique_id] = frozenset(tactic_ids)

    mappings: dict[str, AttackMapping] = {}
    columns = ("finding_type", "tactic_ids", "technique_ids", "source", "source_ref", "note")
    for line, row in _read_rows(mapping_file, columns):
        where = f"{mapping_file.name} line {line}"
        finding_type = row["finding_type"]
        if ":" not in finding_type:
            raise AttackTableError(
                f"{where}: “{finding_type}” is not a GuardDuty finding type (Purpose:Resource/Family)"
            )
        if finding_type in mappings:
            raise AttackTableError(f"{where}: {finding_type} is mapped twice")
        tactic_ids = _ids(row["tactic_ids"])
        unknown = [tactic for tactic in tactic_ids if tactic not in TACTICS_BY_ID]
        if unknown:
            raise AttackTableError(f"{where}: unknown tactic id {', '.join(unknown)} for {finding_type}")
        if not tactic_ids:
            raise AttackTableError(f"{where}: {finding_type} needs at least one tactic")
        row_techniques = []
        for technique_id in dict.fromkeys(_ids(row["technique_ids"])):
            if technique_id not in techniques:
                raise AttackTableError(
                    f"{where}: unknown technique id {technique_id} for {finding_type}; add it to {techniques_file.name}"
                )
            if not technique_tactics[technique_id] & set(tactic_ids):
                raise AttackTableError(
                    f"{where}: technique {technique_id} belongs to none of {finding_type}'s tactics {' '.join(tactic_ids)}"
                )
            row_techniques.append(techniques[technique_id])
        if row["source"] not in SOURCES:
            raise AttackTableError(
                f"{where}: source must be one of {', '.join(SOURCES)}, not “{row['source']}”"
            )
        if not row["source_ref"]:
            raise AttackTableError(f"{where}: {finding_type} needs a source_ref (a URL or a note)")
        mappings[finding_type] = AttackMapping(
            finding_type=finding_type,
            tactics=_ordered_tactics(tactic_ids),
            techniques=tuple(row_techniques),
            source=row["source"],
            source_ref=row["source_ref"],
            note=row["note"],
        )
    by_tactic: dict[str, list[str]] = {}
    by_technique: dict[str, list[str]] = {}
    for finding_type, mapping in mappings.items():
        for tactic_id in mapping.tactics:
            by_tactic.setdefault(tactic_id, []).append(finding_type)
        for technique_id in {key for t in mapping.techniques for key in (t.id, t.parent_id)}:
            by_technique.setdefault(technique_id, []).append(finding_type)
    return _Table(
        techniques,
        technique_tactics,
        mappings,
        by_tactic={key: tuple(sorted(types)) for key, types in by_tactic.items()},
        by_technique={key: tuple(sorted(types)) for key, types in by_technique.items()},
    )


@functools.cache
def _table() -> _Table:
    return load_table()


def mapping_for(finding_type: str) -> AttackMapping:
    """The type's row in the table; for a type it does not know, its threat purpose's tactic (no techniques)."""
    mapping = _table().mappings.get(finding_type)
    if mapping is not None:
        return mapping
    purpose = finding_type.partition(":")[0]
    return AttackMapping(
        finding_type=finding_type,
        tactics=PURPOSE_TACTICS.get(purpose, ()),
        techniques=(),
        source="reasoned",
        source_ref="Not in GuardWatch's ATT&CK table: tactic from the type's threat purpose",
        in_table=False,
    )


def mapped_types() -> tuple[str, ...]:
    """Every finding type the table maps, in table order."""
    return tuple(_table().mappings)


def techniques() -> tuple[Technique, ...]:
    """Every technique the table uses, by id."""
    return tuple(sorted(_table().techniques.values(), key=lambda technique: technique.id))


def technique(technique_id: str) -> Technique | None:
    return _table().techniques.get(technique_id)


def finding_types_for_tactic(tactic_id: str) -> tuple[str, ...]:
    """The table's types mapped to the tactic (empty for an unknown id), sorted."""
    return _table().by_tactic.get(tactic_id, ())


def finding_types_for_technique(technique_id: str) -> tuple[str, ...]:
    """The table's types mapped to the technique, or to one of its sub-techniques when given a parent (T1078)."""
    return _table().by_technique.get(technique_id, ())


def known_technique_id(technique_id: str) -> bool:
    """Whether the table uses the technique, or sub-techniques of it."""
    return bool(finding_types_for_technique(technique_id)) or technique_id in _table().techniques


def technique_tactics(technique_id: str) -> frozenset[str]:
    """The tactics ATT&CK files the technique under (as bundled); empty for one the table does not use."""
    return _table().technique_tactics.get(technique_id, frozenset())


# --- The heatmap: finding counts by type (one GROUP BY in SQL) spread over tactics in Python -------------


@dataclass
class HeatmapRow:
    """One tactic: its findings by severity band and the techniques they were mapped to, most first."""

    tactic: Tactic
    by_band: dict[str, int]
    techniques: list[tuple[Technique, int]]
    # (band, findings, shade 0-5 relative to the heatmap's largest cell) for the page's cells.
    cells: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.by_band.values())


@dataclass
class Heatmap:
    """Tactics × severity bands. A finding whose type has two tactics counts in both rows, so the rows
    add up to more than `findings`; `unmapped` counts findings whose type names no tactic."""

    bands: tuple[str, ...]
    rows: list[HeatmapRow]
    findings: int
    unmapped: int

    @property
    def peak(self) -> int:
        """The largest cell, which the page's shading is relative to."""
        return max((count for row in self.rows for count in row.by_band.values()), default=0)


def heatmap(counts: Iterable[tuple[str, str, int]], *, bands: tuple[str, ...]) -> Heatmap:
    """The heatmap of (finding type, severity band, findings) counts, every tactic in kill-chain order."""
    cells = {tactic.id: dict.fromkeys(bands, 0) for tactic in TACTICS}
    by_technique: dict[str, dict[str, int]] = {tactic.id: {} for tactic in TACTICS}
    findings = unmapped = 0
    for finding_type, band, count in counts:
        findings += count
        mapping = mapping_for(finding_type)
        if not mapping.tactics:
            unmapped += count
        for tactic_id in mapping.tactics:
            if band in cells[tactic_id]:
                cells[tactic_id][band] += count
            for item in mapping.techniques:
                if tactic_id in technique_tactics(item.id):
                    by_technique[tactic_id][item.id] = by_technique[tactic_id].get(item.id, 0) + count
    rows = [
        HeatmapRow(
            tactic=tactic,
            by_band=cells[tactic.id],
            techniques=[
                (_table().techniques[technique_id], count)
                for technique_id, count in sorted(
                    by_technique[tactic.id].items(), key=lambda item: (-item[1], item[0])
                )
            ],
        )
        for tactic in TACTICS
    ]
    result = Heatmap(bands=bands, rows=rows, findings=findings, unmapped=unmapped)
    peak = result.peak
    for row in rows:
        row.cells = [
            (band, count, -(-5 * count // peak) if peak else 0) for band, count in row.by_band.items()
        ]
    return result
