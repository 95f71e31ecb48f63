"""Signals the findings store sends. Apps above it (notifications) connect to them in their
`AppConfig.ready()`, so the store never imports the apps built on it.
"""

from django.dispatch import Signal

# Sent inside the upsert's transaction, before a batch of findings (pull sync or push) is written, with
# `findings` (the ParsedFindings about to be stored) and `now` (the write's timestamp). A receiver may
# return an object with a `publish()` method, which the upsert calls once every finding is written
# (still inside the transaction): notifications compare before and after to tell new, raised and
# repeated findings apart. A receiver that raises fails the batch, so receivers guard themselves.
findings_upsert_starting = Signal()

# Sent when a pull sync of a region fails, after the failure is recorded: `region`, `run_id`, `error`.
findings_sync_failed = Signal()

# Sent by triage inside the transaction of every workflow status change (`triage.findings_status_set`):
# `ids` (the findings that moved), `status` (where they went), `previous` ({id: the status they left}) and
# `actor_name`. Notifications follows it to close or reopen the findings' tickets. A receiver that raises
# fails the change, so receivers guard themselves.
findings_status_changed = Signal()

# Sent by an app that may not import triage (notifications: a ticket closed or reopened in Jira) to move
# findings through triage's workflow service: `finding_ids`, `status`, `actor` (a name such as "jira:Dana")
# and `reason`. Triage connects `findings_status_set`; its answer is how many findings moved.
finding_status_requested = Signal()
