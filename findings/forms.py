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
