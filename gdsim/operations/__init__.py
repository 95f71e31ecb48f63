"""GuardDuty operation handlers, one module per concern; importing this package registers them all."""

from . import (
    coverage,
    detectors,
    filters,
    findings,
    investigations,
    invitations,
    malware,
    members,
    organization,
)
from .registry import HANDLERS, Context, handles

__all__ = ["HANDLERS", "Context", "coverage", "detectors", "filters", "findings", "handles", "investigations",
           "invitations", "malware", "members", "organization"]
