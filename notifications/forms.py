"""Destination forms (one field set per kind; secrets write-only) and the routing rule form."""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.core.validators import validate_email

from accounts.csvimport import account_ids_normalize_text
from notifications.models import BANDS, Destination, EventKind, RoutingRule
from notifications.outbound import OutboundRefused, url_check
from notifications.senders import priority_map
from notifications.services import destination_problems


def _url_field(label: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(label=label, max_length=1000, help_text=help_text,
                           widget=forms.TextInput(attrs={"class": "full", "autocomplete": "off"}))  # fmt: skip


def _secret_field(label: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(label=label, max_length=1000, help_text=help_text,
                           widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))  # fmt: skip


def _optional_secret_field(label: str, help_text: str = "") -> forms.CharField:
    field = _secret_field(label, help_text)
    field.required = False
    return field


# Two-way tickets (notifications/tickets.py): one ticket per finding, or per attack sequence.
TWO_WAY_FIELDS = [
    ("ticket_scope", lambda: forms.ChoiceField(
        label="One ticket per", initial="finding", required=False,
        choices=[("finding", "Finding"), ("sequence", "Attack sequence (its findings share one ticket)")]), False),
]  # fmt: skip

# Per kind: (field name, field factory, secret?)
KIND_FIELDS: dict[str, list[tuple[str, Any, bool]]] = {
    Destination.Kind.WEBHOOK: [
        ("url", lambda: _url_field("Receiver URL", "http(s) URL that accepts a JSON POST."), True),
        (
            "signing_secret",
            lambda: _secret_field(
                "Signing secret",
                "X-GuardWatch-Signature is sha256=HMAC-SHA256(secret, timestamp + '.' + raw body); "
                "at least 16 characters. See docs/notifications.md.",
            ),
            True,
        ),
    ],
    Destination.Kind.SLACK: [
        ("url", lambda: _url_field("Slack incoming webhook URL", "https://hooks.slack.com/services/…"), True),
    ],
    Destination.Kind.TEAMS: [
        (
            "url",
            lambda: _url_field(
                "Teams webhook URL", "A Workflows (or incoming webhook) URL; receives an Adaptive Card."
            ),
            True,
        ),
    ],
    Destination.Kind.EMAIL: [
        (
            "recipients",
            lambda: forms.CharField(
                label="Recipients", max_length=1000, help_text="Comma-separated addresses."
            ),
            False,
        ),  # fmt: skip
    ],
    Destination.Kind.JIRA: [
        ("base_url", lambda: _url_field("Jira site", "https://your-team.atlassian.net"), False),
        ("email", lambda: forms.EmailField(label="Jira account email"), False),
        (
            "api_token",
            lambda: _secret_field("API token", "From id.atlassian.com → Security → API tokens."),
            True,
        ),
        (
            "project_key",
            lambda: forms.RegexField(
                label="Project key", regex=r"^[A-Z][A-Z0-9_]{0,19}$", help_text="e.g. SEC"
            ),
            False,
        ),  # fmt: skip
        ("issue_type", lambda: forms.CharField(label="Issue type", max_length=60, initial="Task"), False),
        (
            "labels",
            lambda: forms.CharField(
                label="Labels",
                max_length=255,
                required=False,
                help_text="Comma-separated; 'guardwatch' is always added.",
            ),
            False,
        ),  # fmt: skip
        (
            "priority_map",
            lambda: forms.CharField(
                label="Priority per severity band",
                max_length=255,
                required=False,
                initial="critical=Highest,high=High,medium=Medium,low=Low",
                help_text="band=Jira priority name, comma-separated; blank sends no priority.",
            ),
            False,
        ),  # fmt: skip
        (
            "extra_fields",
            lambda: forms.CharField(
                label="Extra fields (JSON)",
                required=False,
                widget=forms.Textarea(attrs={"rows": 3}),
                help_text='Static fields merged into every issue, e.g. {"components": [{"name": "Security"}]}.',
            ),
            False,
        ),  # fmt: skip
        *TWO_WAY_FIELDS,
        ("done_transition", lambda: forms.CharField(
            label="Transition when resolved", max_length=100, required=False,
            help_text="Its name or id; blank takes the first transition into a Done-category status. "
                      "When none is allowed, GuardWatch comments instead."), False),
        ("reopen_transition", lambda: forms.CharField(
            label="Transition when reopened", max_length=100, required=False,
            help_text="Its name or id; blank takes the first transition back to a To Do or In Progress status."), False),
        ("webhook_secret", lambda: _optional_secret_field(
            "Webhook secret", "The secret of the Jira admin webhook that posts to /hooks/jira/<id>/ (Jira signs "
            "X-Hub-Signature with it). Blank: no webhooks, status is polled."), True),
    ],  # fmt: skip
    Destination.Kind.TICKET_WEBHOOK: [
        ("url", lambda: _url_field("Receiver URL", "Receives signed create, update, resolve and reopen documents; "
                                   'answers a create with {"key": …, "url": …}.'), True),
        ("signing_secret", lambda: _secret_field(
            "Signing secret", "Signs what GuardWatch sends and what the ticket system calls back to "
            "/hooks/tickets/<id>/ (docs/notifications.md); at least 16 characters."), True),
        *TWO_WAY_FIELDS,
    ],  # fmt: skip
    Destination.Kind.S3: [
        (
            "bucket",
            lambda: forms.RegexField(label="Bucket", regex=r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"),
            False,
        ),
        (
            "prefix",
            lambda: forms.CharField(
                label="Key prefix", max_length=200, required=False, help_text="e.g. guardwatch/findings/"
            ),
            False,
        ),  # fmt: skip
        ("region", lambda: forms.CharField(label="Bucket region", max_length=32, initial="us-east-1"), False),
    ],
}
URL_FIELDS = {"url", "base_url"}


class DestinationForm(forms.Form):
    """Name, enabled, and the fields of one destination kind. Secrets are never rendered back."""

    name = forms.CharField(max_length=100)
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, kind: str, instance: Destination | None = None, **kwargs):
        if instance is not None and "initial" not in kwargs:
            initial = {"name": instance.name, "enabled": instance.enabled, **instance.config}
            if isinstance(initial.get("recipients"), list):
                initial["recipients"] = ", ".join(initial["recipients"])
            if isinstance(initial.get("labels"), list):
                initial["labels"] = ", ".join(initial["labels"])
            if isinstance(initial.get("extra_fields"), dict):
                initial["extra_fields"] = (
                    json.dumps(initial["extra_fields"]) if initial["extra_fields"] else ""
                )
            kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        self.kind, self.instance = kind, instance
        self.secret_names: list[str] = []
        for name, make, secret in KIND_FIELDS[kind]:
            field = make()
            if secret:
                self.secret_names.append(name)
                hint = (instance.secret_hints.get(name) if instance else "") or ""
                if instance is not None:
                    field.required = False
                    field.help_text = (
                        f"Stored{f' (ends {hint})' if hint else ''}. Leave blank to keep it. "
                        + (field.help_text or "")
                    )
            self.fields[name] = field

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        others = Destination.objects.filter(name__iexact=name)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError("Another destination has this name.")
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in URL_FIELDS & set(self.fields):
            value = (data.get(name) or "").strip()
            if value:
                try:
                    url_check(value, resolve=False)
                except OutboundRefused as error:
                    self.add_error(name, str(error))
                data[name] = value
        if (
            self.kind in (Destination.Kind.WEBHOOK, Destination.Kind.TICKET_WEBHOOK)
            and data.get("signing_secret")
            and len(data["signing_secret"]) < 16
        ):
            self.add_error("signing_secret", "Use at least 16 characters.")
        if "recipients" in self.fields and data.get("recipients"):
            addresses = [a.strip() for a in re.split(r"[,;\s]+", data["recipients"]) if a.strip()]
            for address in addresses:
                try:
                    validate_email(address)
                except forms.ValidationError:
                    self.add_error("recipients", f"{address} is not an email address.")
            data["recipients"] = addresses
        if "labels" in self.fields:
            data["labels"] = [label.strip().replace(" ", "-") for label in (data.get("labels") or "").split(",")
                              if label.strip()]  # fmt: skip
        if data.get("priority_map") and not priority_map(data["priority_map"]):
            self.add_error("priority_map", "Write band=Priority pairs, e.g. high=High.")
        if "extra_fields" in self.fields:
            raw = (data.get("extra_fields") or "").strip()
            try:
                extra = json.loads(raw) if raw else {}
            except ValueError as error:
                self.add_error("extra_fields", f"Not valid JSON: {error}")
                extra = {}
            if not isinstance(extra, dict):
                self.add_error("extra_fields", "Give a JSON object.")
                extra = {}
            data["extra_fields"] = extra
        if not self.errors:
            config, secrets = self.config_and_secrets()
            problems = destination_problems(kind=self.kind, destination=self.instance, config=config, secrets=secrets)
            for name, problem in problems.items():
                self.add_error(name, problem)
        return data

    def config_and_secrets(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The non-secret settings and the secrets typed in this time (blank = keep)."""
        config, secrets = {}, {}
        for name, _make, secret in KIND_FIELDS[self.kind]:
            value = self.cleaned_data.get(name)
            if secret:
                secrets[name] = (value or "").strip()
            else:
                config[name] = value.strip() if isinstance(value, str) else value
        return config, secrets


def _split(raw: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\s]+", raw or "") if part.strip()]


class RoutingRuleForm(forms.Form):
    """Which events go to one destination, filtered, throttled or digested."""

    name = forms.CharField(max_length=100)
    enabled = forms.BooleanField(required=False, initial=True)
    target = forms.ChoiceField(
        choices=RoutingRule.Target.choices, initial=RoutingRule.Target.DESTINATION, label="Send to", required=False,
        help_text="The owning team's destinations: the teams owning the finding's account (team scope, OU or "
        "owner tag) each get it at the destinations set under Teams. A finding no team owns, or whose teams "
        "have no enabled destination, goes to the destination below (the fallback).",
    )  # fmt: skip
    destination = forms.ModelChoiceField(queryset=Destination.objects.order_by("name"),
                                         label="Destination (the fallback when sending to the owning team)")  # fmt: skip
    event_kinds = forms.MultipleChoiceField(choices=EventKind.choices, widget=forms.CheckboxSelectMultiple,
                                            label="Events")  # fmt: skip
    min_band = forms.ChoiceField(choices=[("", "Any severity"), *[(b, f"{b.title()} and above") for b in BANDS]],
                                 required=False, label="Minimum severity")  # fmt: skip
    type_prefix = forms.CharField(max_length=255, required=False, label="Finding type starts with",
                                  help_text="Comma-separated, e.g. Recon:, UnauthorizedAccess:IAMUser/")  # fmt: skip
    accounts = forms.CharField(
        max_length=2000, required=False, help_text="Account ids, comma-separated; blank = all."
    )
    regions = forms.CharField(
        max_length=500, required=False, help_text="Regions, comma-separated; blank = all."
    )
    min_count = forms.IntegerField(min_value=0, initial=0, label="Repeat occurrences from count",
                                   help_text="Repeat-occurrence events only once the finding's count reaches this.")  # fmt: skip
    throttle = forms.ChoiceField(choices=RoutingRule.Throttle.choices, initial=RoutingRule.Throttle.NONE)
    throttle_minutes = forms.IntegerField(
        min_value=1, max_value=7 * 24 * 60, initial=60, label="Window (minutes)"
    )

    def __init__(self, *args, instance: RoutingRule | None = None, **kwargs):
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": instance.name, "enabled": instance.enabled, "destination": instance.destination_id,
                "event_kinds": instance.event_kinds, "min_band": instance.min_band,
                "type_prefix": instance.type_prefix, "accounts": ", ".join(instance.accounts),
                "regions": ", ".join(instance.regions), "min_count": instance.min_count,
                "throttle": instance.throttle, "throttle_minutes": instance.throttle_minutes,
                "target": instance.target,
            }  # fmt: skip
        super().__init__(*args, **kwargs)

    def clean_accounts(self) -> list[str]:
        accounts = _split(account_ids_normalize_text(self.cleaned_data.get("accounts", "")))  # 4444-5555-6666 too
        bad = [a for a in accounts if not re.fullmatch(r"\d{12}", a)]
        if bad:
            raise forms.ValidationError(f"Not 12-digit account ids: {', '.join(bad)}")
        return accounts

    def clean_regions(self) -> list[str]:
        regions = _split(self.cleaned_data.get("regions", ""))
        bad = [r for r in regions if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", r)]
        if bad:
            raise forms.ValidationError(f"Not region names: {', '.join(bad)}")
        return regions

    def clean_type_prefix(self) -> str:
        return ",".join(_split(self.cleaned_data.get("type_prefix", "")))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["target"] = data.get("target") or RoutingRule.Target.DESTINATION  # forms and scripts predating it
        if (
            data.get("target") == RoutingRule.Target.OWNING_TEAM
            and data.get("throttle") == RoutingRule.Throttle.DIGEST
        ):
            self.add_error("throttle", "A rule sending to the owning team cannot digest: each team has its own daily "
                           "digest (Notifications → Teams). Choose “Send every event” or a window.")  # fmt: skip
        return data

    def values(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class TeamRoutingForm(forms.Form):
    """A team's destinations and daily digest (Notifications → Teams)."""

    destinations = forms.ModelMultipleChoiceField(
        queryset=Destination.objects.order_by("name"), required=False, widget=forms.CheckboxSelectMultiple,
        label="The team's destinations",
        help_text="Where rules sending to the owning team, SLA breaches and the daily digest reach this team.",
    )  # fmt: skip
    digest_enabled = forms.BooleanField(required=False, label="Send a daily digest")
    digest_hour = forms.TypedChoiceField(choices=[(h, f"{h:02d}:00") for h in range(24)], coerce=int, initial=8,
                                         label="Digest hour", help_text="Server time zone.")  # fmt: skip
    digest_min_band = forms.ChoiceField(choices=[(b, f"{b.title()} and above") for b in BANDS], initial="medium",
                                        label="Findings in the digest")  # fmt: skip
