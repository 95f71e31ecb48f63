"""Findings forms."""

import re

from django import forms
from django.conf import settings

ACCOUNT_ID = re.compile(r"[0-9]{12}", re.ASCII)


class IngestKeyForm(forms.Form):
    """Name a new EventBridge ingest key and, optionally, scope it to regions and accounts."""

    name = forms.CharField(max_length=100, help_text="Where the key is used, e.g. “EventBridge us-east-1”.")
    regions = forms.MultipleChoiceField(
        required=False, choices=(), widget=forms.CheckboxSelectMultiple,
        help_text="Only findings homed in these regions; none ticked: every region GuardWatch syncs.",
    )  # fmt: skip
    accounts = forms.CharField(
        required=False, max_length=20000, widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
        help_text="Only findings of these 12-digit account ids (separated by commas, spaces or lines); "
        "empty: every monitored member and the administrator.",
    )  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["regions"].choices = [(r, r) for r in settings.GUARDWATCH_AWS_REGIONS]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the key a name.")
        return name

    def clean_accounts(self) -> list[str]:
        accounts = [a for a in re.split(r"[\s,;]+", self.cleaned_data["accounts"]) if a]
        bad = [a for a in accounts if not ACCOUNT_ID.fullmatch(a)]
        if bad:
            shown = ", ".join(bad[:5]) + (" …" if len(bad) > 5 else "")
            raise forms.ValidationError(f"An AWS account id is exactly 12 digits; these are not: {shown}")
        return sorted(set(accounts))


class SyncNowForm(forms.Form):
    """"Sync now": one region, or every configured region when left empty."""

    region = forms.ChoiceField(required=False, choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [("", "All regions")] + [(r, r) for r in settings.GUARDWATCH_AWS_REGIONS]


class SlaPolicyForm(forms.Form):
    """The SLA page: hours per severity band and the escalation steps' timing (validated by sla_policy_save)."""

    critical_hours = forms.IntegerField(min_value=1, max_value=365 * 24, label="Critical (hours)")
    high_hours = forms.IntegerField(min_value=1, max_value=365 * 24, label="High (hours)", help_text="24 = 1 day.")
    medium_hours = forms.IntegerField(
        min_value=1, max_value=365 * 24, label="Medium (hours)", help_text="168 = 7 days."
    )
    low_hours = forms.IntegerField(min_value=1, max_value=365 * 24, label="Low (hours)", help_text="720 = 30 days.")
    escalation_enabled = forms.BooleanField(required=False, label="Escalate findings that near or pass their SLA")
    warn_percent = forms.IntegerField(
        min_value=1, max_value=99, label="Warn the assignee at (% of the SLA)",
        help_text="Step 1: the finding's assignee gets an email once this share of its SLA has passed.",
    )  # fmt: skip
    manager_after_hours = forms.IntegerField(
        min_value=0, max_value=365 * 24, label="Call a manager (hours after the breach)",
        help_text="Step 2 notifies the owning team's destinations at the breach; step 3 emails the team's "
        "managers (or every Manager when the team has none) this long after it.",
    )  # fmt: skip
