"""The scheduled report subscription form: cadence, hour, scope (within the person's own), recipients."""

from __future__ import annotations

from django import forms

from accounts.models import Team
from guardwatch.core.scope import scope_for
from reports.models import WEEKDAYS, ReportSubscription
from reports.scheduled_services import OU_PATTERN, extra_recipients_parse, may_add_recipients


class SubscriptionForm(forms.Form):
    """A new subscription for the person filling it in."""

    cadence = forms.ChoiceField(choices=ReportSubscription.Cadence.choices)
    weekday = forms.TypedChoiceField(choices=list(enumerate(WEEKDAYS)), coerce=int, required=False, empty_value=0,
                                     help_text="Weekly reports only.")  # fmt: skip
    hour = forms.TypedChoiceField(choices=[(h, f"{h:02d}:00 UTC") for h in range(24)], coerce=int, initial=7)
    scope_kind = forms.ChoiceField(choices=ReportSubscription.ScopeKind.choices, label="Covering")
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False)
    organizational_unit = forms.CharField(required=False, max_length=68, label="OU id",
                                          help_text="ou-xxxx-xxxxxxxx, as AWS Organizations shows it.")  # fmt: skip
    extra_recipients = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                       label="Other addresses", help_text="Admins only; comma- or line-separated.")  # fmt: skip

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        # A team-scoped person subscribes to their own teams only; anyone else to any team.
        teams = Team.objects.all()
        if scope_for(user) is not None:
            teams = teams.filter(memberships__user=user)
        self.fields["team"].queryset = teams

    def clean_organizational_unit(self) -> str:
        value = self.cleaned_data["organizational_unit"].strip()
        if value and not OU_PATTERN.match(value):
            raise forms.ValidationError("An OU id looks like ou-ab12-cdef3456 (AWS Organizations' OU id).")
        return value

    def clean_extra_recipients(self) -> list[str]:
        raw = self.cleaned_data.get("extra_recipients") or ""
        if raw.strip() and not may_add_recipients(self.user):
            raise forms.ValidationError(
                "Only an Admin may send reports to other addresses (they hold your scope's findings); "
                "yours goes to your own address. Ask an Admin to subscribe the others."
            )
        addresses, errors = extra_recipients_parse(raw)
        if errors:
            raise forms.ValidationError(errors)
        return addresses

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("scope_kind")
        if kind == ReportSubscription.ScopeKind.TEAM and not data.get("team"):
            self.add_error("team", "Choose the team the report covers.")
        if kind == ReportSubscription.ScopeKind.OU and not data.get("organizational_unit"):
            self.add_error("organizational_unit", "Give the OU id the report covers.")
        if not self.user.email and not data.get("extra_recipients"):
            raise forms.ValidationError(
                "Your account has no email address to send the report to: ask an Admin to give your account one."
            )
        if kind != ReportSubscription.ScopeKind.TEAM:
            data["team"] = None
        if kind != ReportSubscription.ScopeKind.OU:
            data["organizational_unit"] = ""
        return data
