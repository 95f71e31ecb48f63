"""The simulator's world: accounts, detectors, members, filters and findings per (account, region).

`SimulatorState` is shared by the HTTP server's threads (one re-entrant lock guards it) and is
also the Python API tests and scenarios use in-process: register accounts and root emails, move
the clock, accept an invitation on a member's behalf, make a member resign, generate findings.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import catalogue
from .auth import account_in_access_key
from .cloudtrail import EventTarget
from .criteria import Criteria
from .faults import FaultInjector
from .findings import RegionFindings, StoredFinding, home_region
from .records import (
    OPTIONAL_FEATURES,
    RUNTIME_ADDITIONAL,
    Account,
    AccountRegion,
    Detector,
    iso,
)

if TYPE_CHECKING:
    from .live import LiveTicker

RETENTION = timedelta(days=90)
# GuardDuty's limit of members per administrator (organization delegated administrator).
MEMBER_ACCOUNT_LIMIT = 50_000
# How long GuardDuty's check of a member's root email takes after InviteMembers (see
# relationships.invite_members). In-process the default is 0: the check ends before the next request,
# although InviteMembers itself still answers first. `python -m gdsim` (the demo) waits a few seconds.
EMAIL_VERIFICATION_SECONDS = 0.0
# How long a simulated GuardDuty investigation runs before it completes. AWS gives no duration: the launch
# documentation says GuardDuty "produces the analysis in minutes" (GuardDuty Investigation, user guide); the
# control API (/_sim/investigations) sets it, 0 completing an investigation at its first read.
INVESTIGATION_SECONDS = 90.0


class CallCounts:
    """How many requests the simulator received, per operation and per (operation, account, region).

    `counts["ListFindings"]` and `counts[("ListFindings", "111111111111", "us-east-1")]` read a
    count (0 when never called); `reset()` starts over.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.by_operation: Counter[str] = Counter()
        self.by_scope: Counter[tuple[str, str | None, str | None]] = Counter()

    def record(self, operation: str, account: str | None, region: str | None) -> None:
        """Count one request."""
        with self._lock:
            self.by_operation[operation] += 1
            self.by_scope[(operation, account, region)] += 1

    def __getitem__(self, key: str | tuple[str, str | None, str | None]) -> int:
        with self._lock:
            if isinstance(key, tuple):
                return self.by_scope[key]
            return self.by_operation[key]

    @property
    def total(self) -> int:
        """Every request counted since the last reset."""
        with self._lock:
            return sum(self.by_operation.values())

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self.by_operation.clear()
            self.by_scope.clear()

    def snapshot(self) -> dict[str, Any]:
        """The counts as JSON (the control API's /_sim/calls)."""
        with self._lock:
            return {
                "total": sum(self.by_operation.values()),
                "by_operation": dict(sorted(self.by_operation.items())),
                "by_operation_account_region": [
                    {"operation": operation, "account": account, "region": region, "count": count}
                    for (operation, account, region), count in sorted(
                        self.by_scope.items(), key=lambda item: tuple(str(part) for part in item[0]))
                ],
            }


def default_features(account_id: str) -> dict[str, str]:
    """Protection plans of a detector the simulated estate already had: most on, a few off, fixed per account.

    Only for detectors the simulator makes itself (seeded scenarios, a simulated member enabling GuardDuty):
    a CreateDetector call gets what AWS documents for it (`operations.detectors.CREATE_DEFAULTS`).
    """
    digest = int(hashlib.sha256(account_id.encode()).hexdigest(), 16)
    return {
        name: "DISABLED" if (digest >> (index * 2)) & 3 == 0 else "ENABLED"
        for index, name in enumerate(OPTIONAL_FEATURES)
    }


class SimulatorState:
    """Everything the simulator knows, plus the clock, faults, call counts and recorded errors."""

    def __init__(self, *, seed: int = 0, persist_path: str | Path | None = None, strict_responses: bool = False,
                 access_keys: dict[str, str] | None = None, now: datetime | None = None,
                 email_verification_seconds: float = EMAIL_VERIFICATION_SECONDS):
        self.lock = threading.RLock()
        self.default_email_verification_seconds = float(email_verification_seconds)
        self.email_verification_seconds = self.default_email_verification_seconds
        self.seed = seed
        self.strict_responses = strict_responses
        # How ListFindings NextTokens page: "snapshot" (a cached result) or "offset" (a position in the
        # current result; see findings.py). Tests and the control API choose.
        self.listing_tokens = "snapshot"
        # A test's hook, called as hook(operation, params, result) under the lock after each GuardDuty
        # operation is answered: lets a test change findings between one page and the next.
        self.after_call: Callable[[str, dict[str, Any], dict[str, Any]], None] | None = None
        self.configured_access_keys = dict(access_keys or {})
        self.call_counts = CallCounts()
        self.faults = FaultInjector(seed)
        self.errors: list[str] = []
        self.member_account_limit = MEMBER_ACCOUNT_LIMIT
        self.investigation_seconds = INVESTIGATION_SECONDS
        self.investigation_failure = ""  # when set, new investigations end FAILED with this error (control API)
        # Eventual consistency of the member list: a member just added is left out of this many reads of
        # GetMembers/ListMembers (0: listed at once). Terraform's aws_guardduty_member waits for a new member to
        # appear and reports "member missing from response" when it does not
        # (aws-samples/amazon-guardduty-for-aws-organizations-with-terraform#6).
        self.new_member_hidden_reads = 0
        self.live: LiveTicker | None = None  # live mode's ticker, when one runs (its health is reported)
        self._frozen: datetime | None = now.astimezone(UTC) if now else None
        self._offset = timedelta()
        self._tracking = False
        self._clear()
        self.persistence = None
        if persist_path is not None:
            from .persistence import Persistence

            self.persistence = Persistence(Path(persist_path))
            self.persistence.load(self)

    def _clear(self) -> None:
        # The one random stream of this world: scenarios, the live tick, the control API and the
        # operations all draw from it, so none replays what another already drew (see add_new_finding).
        self.rng = random.Random(self.seed)
        self.accounts: dict[str, Account] = {}
        self.scopes: dict[tuple[str, str], AccountRegion] = {}
        self.findings: dict[str, RegionFindings] = {}
        self.management_account_id: str | None = None
        self.delegated_admins: dict[str, str] = {}
        self.sessions: dict[str, dict[str, str]] = {}
        # CloudTrail's events of GuardDuty write calls, delivered to a target set by the control API (cloudtrail.py).
        self.event_target = EventTarget()
        # (role ARN, SourceIdentity) of every AssumeRole that carried one, in order: what CloudTrail would show.
        self.source_identities: list[tuple[str, str]] = []
        # Opt-in regions each account enabled (EC2 DescribeRegions); the default regions are always enabled.
        self.opted_in_regions: dict[str, set[str]] = {}
        self.outbox: list[dict[str, Any]] = []
        # (administrator, region, member) whose email verification is under way (derived from the members).
        self.verifying: set[tuple[str, str, str]] = set()

    def reset(self, *, seed: int | None = None, clock: bool = False) -> None:
        """Forget all accounts, detectors, members and findings; clear faults, counts and errors.

        The clock is kept (a scenario is built at the time set before it) unless `clock`: then it runs
        at real time again, as credentials and invitations of the next user expect.
        """
        with self.lock:
            if clock:
                self._frozen, self._offset = None, timedelta()
            if seed is not None:
                self.seed = seed
            self._clear()
            self.member_account_limit = MEMBER_ACCOUNT_LIMIT
            self.new_member_hidden_reads = 0
            self.email_verification_seconds = self.default_email_verification_seconds
            self.investigation_seconds = INVESTIGATION_SECONDS
            self.investigation_failure = ""
            self.listing_tokens = "snapshot"
            self.after_call = None
            self.event_target.configure("")
            if self.persistence is not None:
                self.persistence.clear()
            self.faults.configure([], seed=self.seed)
            self.call_counts.reset()
            self.errors.clear()

    # ------------------------------------------------------------------------------------
    # Clock

    @property
    def clock_frozen(self) -> bool:
        """Whether the clock stands still until moved (set_clock's default) or runs."""
        return self._frozen is not None

    def now(self) -> datetime:
        """The simulator's current time (aware UTC)."""
        if self._frozen is not None:
            return self._frozen
        return datetime.now(UTC) + self._offset

    def set_clock(self, moment: datetime, *, frozen: bool = True) -> None:
        """Set the time; frozen (the default) until moved again, else running from there."""
        with self.lock:
            moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
            if frozen:
                self._frozen, self._offset = moment, timedelta()
            else:
                self._frozen, self._offset = None, moment - datetime.now(UTC)
            self.purge_expired()
            self.settle_invitations()

    def advance_clock(self, seconds: float) -> datetime:
        """Move the time forward (a frozen clock stays frozen); returns the new time."""
        with self.lock:
            if self._frozen is not None:
                self._frozen += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)
            self.purge_expired()
            self.settle_invitations()
            return self.now()

    def purge_expired(self) -> int:
        """Drop findings not updated for 90 days, as GuardDuty does; returns how many."""
        cutoff = int((self.now() - RETENTION).timestamp() * 1000)
        dropped = 0
        with self.lock:
            for store in self.findings.values():
                for finding_id in store.older_than(cutoff):
                    store.remove(finding_id)
                    dropped += 1
        return dropped

    # ------------------------------------------------------------------------------------
    # Accounts and credentials

    def account_for_access_key(self, access_key_id: str) -> str | None:
        """The account an access key id acts as: configured map, STS sessions, else its 12 digits."""
        if access_key_id in self.configured_access_keys:
            return self.configured_access_keys[access_key_id]
        session = self.sessions.get(access_key_id)
        if session is not None:
            return session["account"]
        return account_in_access_key(access_key_id)

    def register_account(self, account_id: str, email: str | None = None, *, name: str | None = None,
                         organization: bool = False, parent_id: str | None = None) -> Account:
        """Make an account known (its root email decides email verification of invitations).

        `organization=True` adds it to the organization, which auto-enables it as a member where a
        delegated administrator chose NEW or ALL.
        """
        with self.lock:
            account = self.accounts.get(account_id) or Account(account_id=account_id)
            if email is not None:
                account.email = email
            if name is not None:
                account.name = name
            if parent_id is not None:
                account.parent_id = parent_id
            self.accounts[account_id] = account
            if organization and not account.in_organization:
                account.in_organization = True
                account.joined_at = iso(self.now())
                from .relationships import auto_enable_new_account

                auto_enable_new_account(self, account_id)
            return account

    def set_organization(self, management_account_id: str, accounts: Iterable[str] = ()) -> None:
        """Create the organization with its management account (and other member accounts)."""
        with self.lock:
            self.management_account_id = management_account_id
            self.register_account(management_account_id, organization=True)
            for account_id in accounts:
                self.register_account(account_id, organization=True)

    def organization_accounts(self) -> list[Account]:
        """Accounts in the organization, by id."""
        return sorted((account for account in self.accounts.values() if account.in_organization),
                      key=lambda account: account.account_id)

    # ------------------------------------------------------------------------------------
    # Detectors

    def scope(self, account_id: str, region: str) -> AccountRegion:
        """The (account, region) record, created empty on first use."""
        key = (account_id, region)
        found = self.scopes.get(key)
        if found is None:
            found = self.scopes[key] = AccountRegion(account_id=account_id, region=region)
        return found

    def region_findings(self, region: str) -> RegionFindings:
        """The finding store of a region."""
        store = self.findings.get(region)
        if store is None:
            store = self.findings[region] = RegionFindings(region)
            store.tracking = self._tracking
        return store

    def track_changes(self) -> None:
        """Record which findings change from now on (persistence writes only those)."""
        self._tracking = True
        for store in self.findings.values():
            store.tracking = True

    def create_detector(self, account_id: str, region: str, *, features: dict[str, str] | None = None,
                        finding_publishing_frequency: str = "SIX_HOURS", enable: bool = True,
                        tags: dict[str, str] | None = None) -> Detector:
        """A new detector for the account in the region (the caller checks there is none yet)."""
        with self.lock:
            scope = self.scope(account_id, region)
            scope.detector_generation += 1
            stamp = iso(self.now())
            detector_id = hashlib.sha256(
                f"{account_id}:{region}:{scope.detector_generation}:{self.seed}".encode()).hexdigest()[:32]
            chosen = default_features(account_id)
            chosen.update(features or {})
            runtime = chosen.get("RUNTIME_MONITORING", "DISABLED")
            scope.detector = Detector(
                detector_id=detector_id, created_at=stamp, updated_at=stamp,
                status="ENABLED" if enable else "DISABLED",
                finding_publishing_frequency=finding_publishing_frequency,
                features=chosen, additional=dict.fromkeys(RUNTIME_ADDITIONAL, runtime), tags=dict(tags or {}),
            )
            return scope.detector

    def ensure_detector(self, account_id: str, region: str, **options: Any) -> str:
        """The account's detector id in the region, creating the detector if there is none."""
        with self.lock:
            scope = self.scope(account_id, region)
            if scope.detector is None:
                self.create_detector(account_id, region, **options)
            return scope.detector.detector_id

    def detector_id(self, account_id: str, region: str) -> str | None:
        """The account's detector id in the region, or None."""
        scope = self.scopes.get((account_id, region))
        return scope.detector.detector_id if scope and scope.detector else None

    # ------------------------------------------------------------------------------------
    # Relationships (Python API over the same logic the operations use)

    def administrator_of(self, account_id: str, region: str) -> str | None:
        """The administrator a member is Enabled (or Disabled) with in the region, or None."""
        scope = self.scopes.get((account_id, region))
        if scope and scope.administrator and scope.administrator.relationship_status in ("Enabled", "Disabled"):
            return scope.administrator.account_id
        return None

    def visible_accounts(self, account_id: str, region: str) -> frozenset[str]:
        """Accounts whose findings the account sees in the region: its own, plus Enabled members'."""
        scope = self.scopes.get((account_id, region))
        accounts = {account_id}
        if scope is not None:
            accounts.update(member.account_id for member in scope.members.values()
                            if member.relationship_status == "Enabled")
        return frozenset(accounts)

    def settle_invitations(self) -> int:
        """End the email verifications that are due by now (relationships.settle_invitations).

        Called before every request and whenever the clock moves, so what a caller reads is what
        GuardDuty would show at the simulator's current time.
        """
        from .relationships import settle_invitations

        with self.lock:
            return settle_invitations(self)

    def index_verifications(self) -> None:
        """Rebuild `verifying` from the members (after loading a saved state)."""
        self.verifying = {
            (scope.account_id, scope.region, member.account_id)
            for scope in self.scopes.values() for member in scope.members.values()
            if member.relationship_status == "EmailVerificationInProgress"
        }

    def member_status(self, administrator_id: str, member_id: str, region: str) -> str | None:
        """The member's RelationshipStatus in the administrator's list, or None."""
        self.settle_invitations()
        scope = self.scopes.get((administrator_id, region))
        member = scope.members.get(member_id) if scope else None
        return member.relationship_status if member else None

    def accept_invitation(self, member_id: str, region: str, administrator_id: str | None = None) -> None:
        """Accept a pending invitation on the member's behalf (creating its detector if needed)."""
        from .relationships import accept_invitation

        with self.lock:
            self.settle_invitations()
            scope = self.scope(member_id, region)
            if administrator_id is None:
                if not scope.invitations:
                    raise ValueError(f"{member_id} has no pending invitation in {region}")
                administrator_id = next(iter(scope.invitations))
            invitation = scope.invitations.get(administrator_id)
            if invitation is None:
                raise ValueError(f"{administrator_id} has not invited {member_id} in {region}")
            self.ensure_detector(member_id, region)
            accept_invitation(self, member_id, region, administrator_id, invitation.invitation_id)

    def resign(self, member_id: str, region: str) -> None:
        """The member disassociates itself (its administrator then lists it Resigned)."""
        from .relationships import disassociate_from_administrator

        with self.lock:
            disassociate_from_administrator(self, member_id, region)

    # ------------------------------------------------------------------------------------
    # Findings

    def add_new_finding(self, data: dict[str, Any], rng: random.Random | None = None) -> StoredFinding:
        """Store a finding just built, under an Id no finding of its region has yet.

        GuardDuty's finding `Id` is "The ID of the finding." and the `Arn` built from it identifies
        one finding (botocore guardduty service-2.json, shape `Finding`; API reference
        https://docs.aws.amazon.com/guardduty/latest/APIReference/API_Finding.html): a new finding
        never takes the Id of another one. add_finding would overwrite (same account) or refuse
        (another account) such a finding, so a drawn Id that is already taken (a caller's own rng,
        or a stream replayed from an older state file) is drawn again from `rng`.
        """
        rng = rng or self.rng
        with self.lock:
            store = self.region_findings(home_region(data))
            taken = data["Id"]
            if store.get(taken) is not None:
                fresh = taken
                while store.get(fresh) is not None:
                    fresh = f"{rng.getrandbits(128):032x}"
                data["Id"] = fresh
                data["Arn"] = data["Arn"].removesuffix(taken) + fresh
            return self.add_finding(data)

    def add_finding(self, data: dict[str, Any]) -> StoredFinding:
        """Store a finding; a new one is archived at once if an ARCHIVE filter matches it."""
        with self.lock:
            store = self.region_findings(home_region(data))
            is_new = store.get(data["Id"]) is None
            stored = store.put(data)
            if is_new and not stored.archived and self._suppressed(stored):
                store.settle_results()
                stored.data["Service"]["Archived"] = True
                store.touch(stored)
            return stored

    def _suppressed(self, stored: StoredFinding) -> bool:
        """Whether an ARCHIVE filter of the owner or of its administrator matches the finding."""
        owners = [stored.account_id]
        scope = self.scopes.get((stored.account_id, stored.region))
        if scope and scope.administrator and scope.administrator.relationship_status == "Enabled":
            owners.append(scope.administrator.account_id)
        for owner in owners:
            owner_scope = self.scopes.get((owner, stored.region))
            if owner_scope is None:
                continue
            for saved in owner_scope.filters.values():
                if saved.action == "ARCHIVE" and Criteria(saved.criteria).matches(stored):
                    return True
        return False

    def generate_findings(self, account_id: str, region: str, count: int = 1, *,
                          finding_types: list[str] | None = None, created_at: datetime | None = None,
                          spread: timedelta | None = None, sample: bool = False,
                          rng: random.Random | None = None) -> list[str]:
        """`count` new findings for an account with a detector; returns their ids.

        Types are drawn from the catalogue's usual mix unless given (cycled in order). With
        `spread`, each finding is created at a random moment within that span before now and has
        been updated since; otherwise it is created now (or at `created_at`).
        """
        rng = rng or self.rng
        with self.lock:
            detector_id = self.detector_id(account_id, region)
            if detector_id is None:
                raise ValueError(f"{account_id} has no detector in {region}")
            now = self.now()
            ids: list[str] = []
            index = 0
            while len(ids) < count:
                finding_type = (finding_types[index % len(finding_types)] if finding_types
                                else catalogue.random_finding_type(rng))
                index += 1
                moment, created = now, created_at
                if spread is not None:
                    created = now - timedelta(seconds=rng.uniform(0, spread.total_seconds()))
                    moment = min(now, created + timedelta(seconds=rng.uniform(0, 3 * 86400)))
                signal_types = catalogue.sequence_signal_types(finding_type)
                if signal_types and not sample and count - len(ids) > len(signal_types):
                    # An attack sequence correlates findings of the account (add_attack_sequence): they are among
                    # the `count` findings asked for, so a caller still gets exactly `count`. Where fewer places
                    # are left (a single finding asked for), and for CreateSampleFindings' fictitious samples,
                    # the sequence's signals name findings the simulator does not hold.
                    ids.extend(self.add_attack_sequence(account_id, region, finding_type,
                                                        now=created or moment, rng=rng))
                    continue
                data = catalogue.build_finding(rng, finding_type=finding_type, account_id=account_id, region=region,
                                               detector_id=detector_id, now=moment, sample=sample, created_at=created)
                ids.append(self.add_new_finding(data, rng).id)
            return ids

    def add_attack_sequence(self, account_id: str, region: str, finding_type: str, *, now: datetime | None = None,
                            rng: random.Random | None = None) -> list[str]:
        """An attack-sequence finding at `now` (default: the clock) with the findings it correlated, stored;
        returns the sequence's id, then its signal findings' (see catalogue.build_attack_sequence).

        Ids are made unique as add_new_finding does, before anything is stored, so the sequence's signals
        and its findings' AssociatedAttackSequenceArn name the ARNs the findings are stored under.
        """
        rng = rng or self.rng
        with self.lock:
            detector_id = self.detector_id(account_id, region)
            if detector_id is None:
                raise ValueError(f"{account_id} has no detector in {region}")
            sequence, members = catalogue.build_attack_sequence(
                rng, finding_type=finding_type, account_id=account_id, region=region, detector_id=detector_id,
                now=now or self.now())
            store = self.region_findings(region)
            taken = {sequence["Id"]}
            for finding in (sequence, *members):
                old_arn = finding["Arn"]
                while store.get(finding["Id"]) is not None or (finding is not sequence and finding["Id"] in taken):
                    fresh = f"{rng.getrandbits(128):032x}"
                    finding["Arn"] = finding["Arn"].removesuffix(finding["Id"]) + fresh
                    finding["Id"] = fresh
                taken.add(finding["Id"])
                if finding is sequence:
                    for member in members:
                        member["AssociatedAttackSequenceArn"] = sequence["Arn"]
                else:
                    for signal in sequence["Service"]["Detection"]["Sequence"]["Signals"]:
                        if signal["Uid"] == old_arn:
                            signal["Uid"] = finding["Arn"]
            stored = [self.add_finding(member) for member in members]
            return [self.add_finding(sequence).id, *(finding.id for finding in stored)]

    def repeat_finding(self, region: str, finding_id: str, *, rng: random.Random | None = None) -> dict[str, Any]:
        """A repeat occurrence of a stored finding: same Id, Count up, UpdatedAt now."""
        with self.lock:
            store = self.region_findings(region)
            stored = store.get(finding_id)
            if stored is None:
                raise KeyError(f"no finding {finding_id} in {region}")
            data = catalogue.repeat_occurrence(stored.data, now=self.now(), rng=rng or self.rng)
            return store.put(data).data

    def findings_of(self, account_id: str, region: str) -> list[dict[str, Any]]:
        """The account's own findings in the region (boto3 spelling), newest update first."""
        with self.lock:
            store = self.region_findings(region)
            found = store.account_findings(account_id)
            return [stored.data for stored in sorted(found, key=lambda stored: -stored.updated_ms)]

    def finding_count(self) -> int:
        """Findings stored across every region."""
        return sum(len(store) for store in self.findings.values())

    # ------------------------------------------------------------------------------------
    # Scenarios and persistence

    def seed_scenario(self, name: str = "demo", seed: int | None = None) -> dict[str, Any]:
        """Reset, then build a named scenario (see scenarios.py); returns its summary."""
        from .scenarios import run_scenario

        return run_scenario(self, name, seed=self.seed if seed is None else seed)

    def tick(self, *, rng: random.Random | None = None) -> dict[str, Any]:
        """One step of the live scenario: new findings and repeat occurrences."""
        from .scenarios import live_tick

        return live_tick(self, rng=rng)

    def save(self) -> None:
        """Write pending changes to the SQLite file, if persistence is on."""
        if self.persistence is not None:
            with self.lock:
                self.persistence.save(self)

    def close(self) -> None:
        """Save and release the SQLite file (the state stays usable in memory)."""
        if self.persistence is not None:
            self.save()
            self.persistence.close()
            self.persistence = None

    def autosave(self) -> None:
        """Called after every request: persists what changed (a no-op without persistence)."""
        if self.persistence is not None:
            self.save()
