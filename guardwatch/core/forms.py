"""Core forms: the audit log filter."""

from django import forms

from guardwatch.core.selectors import AuditFilters


class AuditFilterForm(forms.Form):
    """GET filter for the audit page; invalid values are reported, never ignored silently."""

    actor = forms.CharField(required=False, max_length=150)
    verb = forms.CharField(required=False, max_length=64)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("“From” must be on or before “to”.")
        return data

    def to_filters(self) -> AuditFilters:
        """The validated filter, or an empty one if the form is invalid."""
        if not self.is_valid():
            return AuditFilters()
        return AuditFilters(**{k: v for k, v in self.cleaned_data.items() if v})
