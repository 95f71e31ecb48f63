"""Findings forms."""

from django import forms
from django.conf import settings


class IngestKeyForm(forms.Form):
    """Name a new EventBridge ingest key."""

    name = forms.CharField(max_length=100, help_text="Where the key is used, e.g. “EventBridge us-east-1”.")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the key a name.")
        return name


class SyncNowForm(forms.Form):
    """"Sync now": one region, or every configured region when left empty."""

    region = forms.ChoiceField(required=False, choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [("", "All regions")] + [(r, r) for r in settings.GUARDWATCH_AWS_REGIONS]
