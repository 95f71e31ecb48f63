"""Core forms: the audit log filter and the Users page."""

from django import forms

from guardwatch.core.roles import Role
from guardwatch.core.scope import team_names
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


ROLE_CHOICES = [(role.value, role.value) for role in Role]


class UserCreateForm(forms.Form):
    """A new team member: name, role, optional email, and a first password the Admin hands over."""

    username = forms.RegexField(
        regex=r"^[\w.@+-]{1,150}$", max_length=150,
        error_messages={"invalid": "Use letters, digits and @ . + - _ only (up to 150)."},
    )  # fmt: skip
    role = forms.ChoiceField(choices=ROLE_CHOICES)
    email = forms.EmailField(required=False)
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False), strip=False,
        help_text="Give it to them over a channel you trust; they can change it after signing in.",
    )  # fmt: skip


class UserRoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES)


class SsoMappingForm(forms.Form):
    """An IdP group and the role its members get."""

    group = forms.CharField(max_length=255, help_text="The group's name or id exactly as the identity provider sends it.")
    role = forms.ChoiceField(choices=ROLE_CHOICES)
    team = forms.ChoiceField(required=False, help_text="Its members are put in this team (optional).")
    scoped = forms.BooleanField(required=False, label="Team-scoped",
                                help_text="Its members see only their teams' accounts.")  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [("", "No team"), *[(name, name) for name in team_names()]]
