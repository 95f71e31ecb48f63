"""Signals other parts of GuardWatch (and later integrations) listen to."""

from django.dispatch import Signal

# Sent once per new alert, after the transaction that raised it commits: the notification hook point
# integrations (email, Slack, SNS, …) connect to. Arguments: sender=Alert, alert=<Alert>.
alert_raised = Signal()
