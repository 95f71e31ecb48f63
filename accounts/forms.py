"""Member account forms: validation with one message per field; the services decide, forms only parse."""

from django import forms
from django.conf import settings

from accounts.csvimport import MAX_BYTES, MAX_ROWS, account_id_normalize, account_id_problem, email_problem
from accounts.models import DETECTOR_FEATURES, MemberOperation

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
