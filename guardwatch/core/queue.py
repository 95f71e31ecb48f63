"""Queueing background work by task name: how a service starts a Celery task without importing it.

The one pattern for work that goes to the background: tasks are thin interfaces that import and call
services (`<app>/tasks.py`); a service that must queue work names the task instead of importing its
module, which would import the service back (a cycle) or reach up into another app (the apps depend
one way: guardwatch.core <- accounts <- findings <- triage | reports | notifications). So:

    task_send_on_commit("accounts.tasks.member_operation_run", operation.pk)

The name is the task's registered name (`@shared_task(name=...)`); an unknown name raises KeyError
at once, never a silently dropped message. `pyproject.toml`'s import-linter contract
"tasks-call-services" keeps services, selectors and views from importing any tasks module.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import current_app
from celery.result import AsyncResult
from django.db import transaction


def task_get(name: str):
    """The registered task called `name` (KeyError if there is none)."""
    if name not in current_app.tasks:
        # Autodiscovery (what a worker does at start) has not imported the tasks modules in this process yet.
        current_app.loader.import_default_modules()
    return current_app.tasks[name]


def task_send(name: str, *args: Any, countdown: float | None = None, **kwargs: Any) -> AsyncResult:
    """Queue `name(*args, **kwargs)` now; raises what the broker raises when it refuses."""
    task = task_get(name)
    if countdown is None:
        return task.delay(*args, **kwargs)
    return task.apply_async(args, kwargs, countdown=countdown)


def task_send_on_commit(name: str, *args: Any, countdown: float | None = None, **kwargs: Any) -> None:
    """Queue `name(*args, **kwargs)` once the current transaction commits (at once outside one), so the
    worker finds the rows the caller wrote; nothing is queued if the transaction rolls back."""
    task_get(name)  # an unknown name fails here, in the caller's transaction, not after the commit
    transaction.on_commit(partial(task_send, name, *args, countdown=countdown, **kwargs))
