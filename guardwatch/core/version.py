"""Which GuardWatch is running: the version in pyproject.toml and the commit (evidence exports name both)."""

from __future__ import annotations

import functools
import subprocess
import tomllib

from django.conf import settings


@functools.cache
def product_version() -> str:
    try:
        with open(settings.BASE_DIR / "pyproject.toml", "rb") as handle:
            return tomllib.load(handle)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


@functools.cache
def product_commit() -> str:
    """GUARDWATCH_COMMIT (set it when building the image), else the checkout's HEAD, else "unknown"."""
    if settings.GUARDWATCH_COMMIT:
        return settings.GUARDWATCH_COMMIT
    try:
        found = subprocess.run(["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True, text=True,  # noqa: S607
                               timeout=5, check=True)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found.stdout.strip()[:64] or "unknown"
