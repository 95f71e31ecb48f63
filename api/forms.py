"""The API tokens page's form."""

from django import forms
from django.conf import settings

from guardwatch.core.models import ApiToken


class ApiTokenForm(forms.Form):
    """Name, kind (service tokens for Admins only), role (the creator's or lower) and lifetime of a new token."""

    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “SIEM export” or “my scripts”.")
    kind = forms.ChoiceField(choices=ApiToken.Kind.choices, initial=ApiToken.Kind.PERSONAL)
    role = forms.ChoiceField(choices=())
    days = forms.IntegerField(label="Expires after (days)", min_value=1, max_value=settings.GUARDWATCH_API_TOKEN_MAX_DAYS,
                              initial=settings.GUARDWATCH_API_TOKEN_DEFAULT_DAYS)  # fmt: skip

    def __init__(self, *args, roles, kinds, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(role.value, role.value) for role in roles]
        self.fields["kind"].choices = [(k, label) for k, label in ApiToken.Kind.choices if k in kinds]
