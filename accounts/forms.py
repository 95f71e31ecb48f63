"""Member account forms: validation with one message per field; the services decide, forms only parse."""

import re

from django import forms
from django.conf import settings

from accounts.csvimport import MAX_BYTES, MAX_ROWS, account_id_normalize, account_id_problem, email_problem
from accounts.models import (
    ADDITIONAL_CONFIGURATION_LABELS,
    DETECTOR_FEATURES,
    PROTECTION_PLANS,
    PUBLISHING_FREQUENCIES,
    RUNTIME_AGENTS,
    CoveragePolicy,
    MemberOperation,
)

Action = MemberOperation.Action


def region_choices() -> list[tuple[str, str]]:
    return [(region, region) for region in settings.GUARDWATCH_AWS_REGIONS]


def parse_tags(text: str) -> list[str]:
    """`prod, payments` → ["prod", "payments"] (trimmed, deduplicated, order kept)."""
    seen: list[str] = []
    for part in text.split(","):
        tag = part.strip()[:50]
        if tag and tag not in seen:
            seen.append(tag)
    return seen[:20]


class AccountAddForm(forms.Form):
    """Add one account by hand."""

    account_id = forms.CharField(label="Account ID", max_length=40, strip=True,
                                 widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}))  # fmt: skip
    email = forms.CharField(label="Root email", max_length=254, strip=True,
                            help_text="The account's root email (GuardDuty verifies it); at most 64 characters.")  # fmt: skip
    display_name = forms.CharField(label="Display name", max_length=128, required=False)
    tags = forms.CharField(label="Tags", max_length=500, required=False, help_text="Comma-separated.")
    notes = forms.CharField(label="Notes", required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_account_id(self) -> str:
        value = account_id_normalize(self.cleaned_data["account_id"])  # 4444-5555-6666, as the console shows it
        if problem := account_id_problem(value):
            raise forms.ValidationError(problem)
        return value

    def clean_email(self) -> str:
        value = self.cleaned_data["email"]
        if problem := email_problem(value):
            raise forms.ValidationError(problem)
        return value

    def clean_tags(self) -> list[str]:
        return parse_tags(self.cleaned_data.get("tags", ""))


class AccountEditForm(forms.Form):
    """What GuardWatch keeps about an account."""

    display_name = forms.CharField(label="Display name", max_length=128, required=False)
    tags = forms.CharField(label="Tags", max_length=500, required=False, help_text="Comma-separated.")
    notes = forms.CharField(label="Notes", required=False, widget=forms.Textarea(attrs={"rows": 3}))
    organizational_unit = forms.RegexField(
        label="Organizational unit", regex=r"^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$", max_length=68,
        required=False, help_text="The AWS Organizations OU (ou-…) the account is in; teams can be defined by OU.",
        error_messages={"invalid": "An OU id looks like ou-ab12-cdef3456 (or a root, r-ab12)."},
    )
    auto_accept = forms.BooleanField(
        label="Auto-accept invitations through the member role", required=False,
        help_text="GuardWatch assumes GUARDWATCH_MEMBER_ROLE_NAME in the account, enables GuardDuty if needed and "
        "accepts the invitation.",
    )  # fmt: skip

    def clean_tags(self) -> list[str]:
        return parse_tags(self.cleaned_data.get("tags", ""))


class CsvUploadForm(forms.Form):
    """The console's CSV: `Account ID,Email` per line."""

    file = forms.FileField(label="CSV file", help_text=f"At most {MAX_ROWS:,} accounts and {MAX_BYTES // 1024:,} KB.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size:,} bytes; the limit is {MAX_BYTES:,} bytes. Split it into smaller files."
            )
        return upload


# How the invite form names each plan of DETECTOR_FEATURES (GuardDuty console's words).
_PLAN_NAMES = {
    "S3_DATA_EVENTS": "S3 Protection",
    "EKS_AUDIT_LOGS": "EKS Protection (audit logs)",
    "EBS_MALWARE_PROTECTION": "Malware Protection for EC2",
    "RDS_LOGIN_EVENTS": "RDS Protection",
    "LAMBDA_NETWORK_LOGS": "Lambda Protection",
    "RUNTIME_MONITORING": "Runtime Monitoring",
    "AI_PROTECTION": "AI Protection",
}
DETECTOR_FEATURE_CHOICES = [(name, _PLAN_NAMES.get(name, name)) for name in DETECTOR_FEATURES]


class RegionsField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        super().__init__(choices=region_choices, **kwargs)


class InviteForm(forms.Form):
    """Where and how to invite: regions (all by default), message, email switch, detector creation."""

    regions = RegionsField(label="Regions", error_messages={"required": "Choose at least one region."})
    message = forms.CharField(label="Message in the invitation email", required=False, max_length=1000,
                              widget=forms.Textarea(attrs={"rows": 3}))  # fmt: skip
    disable_email_notification = forms.BooleanField(
        label="Do not send the invitation email (the member sees it in its GuardDuty console)", required=False
    )
    create_detectors = forms.BooleanField(
        label="Create the administrator's detector where a region has none (enables GuardDuty there, which is billed)",
        required=False,
    )
    detector_features = forms.MultipleChoiceField(
        label="Protection plans to enable in detectors GuardWatch creates (each is billed; the others are turned off)",
        choices=DETECTOR_FEATURE_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("regions", [region for region, _ in region_choices()])


BULK_ACTIONS = [
    (Action.INVITE, "Invite…"),
    (Action.RESEND, "Resend invitation"),
    (Action.START, "Start monitoring"),
    (Action.STOP, "Stop monitoring"),
    (Action.DISASSOCIATE, "Disassociate"),
    (Action.DELETE, "Delete member"),
    (Action.ACCEPT, "Accept on the member's behalf"),
]
DESTRUCTIVE = {Action.STOP, Action.DISASSOCIATE, Action.DELETE}
# How the confirmation says each destructive action: "This will <verb> 3 accounts<after> in …".
CONFIRM_WORDS = {
    Action.STOP: ("stop monitoring", ""),
    Action.DISASSOCIATE: ("disassociate", " from the administrator"),
    Action.DELETE: ("delete", " from the administrator's member list"),
}


class BulkActionForm(forms.Form):
    """An action on the selected accounts, in one region or in all."""

    action = forms.ChoiceField(choices=BULK_ACTIONS)
    region = forms.ChoiceField(choices=lambda: [("", "All regions"), *region_choices()], required=False)

    def regions(self) -> list[str]:
        region = self.cleaned_data.get("region")
        return [region] if region else [r for r, _ in region_choices()]


class AccountActionForm(forms.Form):
    """An action on one account, in one region or in all."""

    action = forms.ChoiceField(choices=[(a, label) for a, label in BULK_ACTIONS if a != Action.INVITE]
                               + [(Action.INVITE, "Invite"), (Action.ORG_ADD, "Add (organization)")])  # fmt: skip
    region = forms.ChoiceField(choices=lambda: [("", "All regions"), *region_choices()], required=False)

    def regions(self) -> list[str]:
        region = self.cleaned_data.get("region")
        return [region] if region else [r for r, _ in region_choices()]


class RecreateForm(forms.Form):
    """Delete + create + invite with a corrected email, in the regions where EmailVerificationFailed."""

    email = forms.CharField(label="Corrected root email", max_length=254, strip=True)
    regions = RegionsField(label="Regions", error_messages={
        "required": "Choose at least one region.",
        "invalid_choice": "%(value)s is not a region where email verification failed.",
    })  # fmt: skip

    def __init__(self, *args, regions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["regions"].choices = [(region, region) for region in regions]

    def clean_email(self) -> str:
        value = self.cleaned_data["email"]
        if problem := email_problem(value):
            raise forms.ValidationError(problem)
        return value


class AutoEnableForm(forms.Form):
    """Organizations mode: AutoEnableOrganizationMembers in one region."""

    region = forms.ChoiceField(choices=region_choices)
    value = forms.ChoiceField(label="Auto-enable",
                              choices=[("NEW", "New accounts: added as they join"),
                                       ("ALL", "All accounts: every account is kept a member"),
                                       ("NONE", "None: add by hand")])  # fmt: skip


# --- Coverage policies ---------------------------------------------------------------------------

OU_PATTERN = r"^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})\Z"
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d\Z")


def _words(text: str) -> list[str]:
    """`a, b c` → ["a", "b", "c"] (commas, spaces or lines; deduplicated, order kept)."""
    return list(dict.fromkeys(part for part in re.split(r"[\s,]+", text.strip()) if part))


class CoveragePolicyForm(forms.Form):
    """An Admin's coverage policy: scope, required regions, protection plans, agents, publishing frequency."""

    name = forms.CharField(max_length=128, strip=True)
    scope = forms.ChoiceField(choices=CoveragePolicy.Scope.choices)
    scope_value = forms.CharField(label="OU id or tag", max_length=128, required=False, strip=True,
                                  widget=forms.TextInput(attrs={"list": "known-ous", "autocomplete": "off"}),
                                  help_text="For an OU: ou-xxxx-xxxxxxxx (or the root r-xxxx). For a tag: the tag.")  # fmt: skip
    scope_accounts = forms.CharField(label="Accounts", required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                     help_text="For a list of accounts: 12-digit ids, separated by commas or lines.")  # fmt: skip
    regions = forms.CharField(label="Required regions", required=False, max_length=1000,
                              help_text="Empty: every region enabled for the administrator account.")  # fmt: skip
    plans = forms.MultipleChoiceField(label="Protection plans", required=False, widget=forms.CheckboxSelectMultiple,
                                      choices=[(name, label) for name, (_n, label) in PROTECTION_PLANS.items()])  # fmt: skip
    runtime_agents = forms.MultipleChoiceField(
        label="Runtime agent management", required=False, widget=forms.CheckboxSelectMultiple,
        choices=[(name, ADDITIONAL_CONFIGURATION_LABELS[name]) for name in RUNTIME_AGENTS],
    )  # fmt: skip
    s3_malware_bucket_tags = forms.CharField(label="S3 malware protection for buckets tagged", required=False,
                                             max_length=500, help_text="Comma-separated bucket tags.")  # fmt: skip
    finding_publishing_frequency = forms.ChoiceField(
        label="Finding publishing frequency", required=False,
        choices=[("", "Any"), *((value, value.replace("_", " ").capitalize()) for value in PUBLISHING_FREQUENCIES)],
    )  # fmt: skip

    def __init__(self, *args, instance: CoveragePolicy | None = None, **kwargs):
        self.instance = instance
        if instance is not None and "data" not in kwargs and not args:
            kwargs["initial"] = {
                "name": instance.name, "scope": instance.scope, "scope_value": instance.scope_value,
                "scope_accounts": ", ".join(instance.scope_accounts), "regions": ", ".join(instance.regions),
                "plans": instance.plans, "runtime_agents": instance.runtime_agents,
                "s3_malware_bucket_tags": ", ".join(instance.s3_malware_bucket_tags),
                "finding_publishing_frequency": instance.finding_publishing_frequency,
            }  # fmt: skip
        super().__init__(*args, **kwargs)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        taken = CoveragePolicy.objects.filter(name=name)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError("Another policy has this name.")
        return name

    def clean_scope_accounts(self) -> list[str]:
        ids = [account_id_normalize(word) for word in _words(self.cleaned_data["scope_accounts"])]
        bad = [value for value in ids if account_id_problem(value)]
        if bad:
            raise forms.ValidationError(f"Not 12-digit account ids: {', '.join(bad[:5])}.")
        if len(ids) > 50000:
            raise forms.ValidationError("At most 50,000 accounts.")
        return ids

    def clean_regions(self) -> list[str]:
        regions = _words(self.cleaned_data["regions"])
        bad = [region for region in regions if not REGION_PATTERN.match(region)]
        if bad:
            raise forms.ValidationError(f"Not AWS region names: {', '.join(bad[:5])} (e.g. eu-west-1).")
        return regions

    def clean_s3_malware_bucket_tags(self) -> list[str]:
        return parse_tags(self.cleaned_data["s3_malware_bucket_tags"])

    def clean(self) -> dict:
        data = super().clean()
        scope, value = data.get("scope"), data.get("scope_value", "")
        if scope == CoveragePolicy.Scope.OU and not re.match(OU_PATTERN, value or ""):
            self.add_error("scope_value", "An OU policy needs an OU id (ou-xxxx-xxxxxxxx) or the root id (r-xxxx).")
        elif scope == CoveragePolicy.Scope.TAG and not value:
            self.add_error("scope_value", "A tag policy needs the account tag it applies to.")
        elif scope == CoveragePolicy.Scope.ACCOUNTS and not data.get("scope_accounts"):
            self.add_error("scope_accounts", "A list-of-accounts policy needs at least one account id.")
        if scope in (CoveragePolicy.Scope.ORGANISATION, CoveragePolicy.Scope.ACCOUNTS):
            data["scope_value"] = ""
        if scope != CoveragePolicy.Scope.ACCOUNTS:
            data["scope_accounts"] = []
        if data.get("runtime_agents") and "runtime_monitoring" not in (data.get("plans") or []):
            self.add_error("runtime_agents", "Agent management needs the Runtime protection plan.")
        return data
