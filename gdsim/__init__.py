"""A local GuardDuty stand-in speaking the real wire protocol.

Unmodified boto3 clients pointed at `SimulatorServer(...).endpoint_url` work as against AWS:
GuardDuty (rest-json), plus enough STS and Organizations for cross-account roles and the demo.
Nothing here imports Django or the product: run it as `python -m gdsim` (`manage.py gdsim` execs that).
"""

from .auth import credentials_for
from .protocol import OutputValidationError, validate_output
from .scenarios import invitation_only_accounts, member_accounts
from .server import SimulatorServer, make_wsgi_app, serve
from .state import SimulatorState

__all__ = [
    "OutputValidationError",
    "SimulatorServer",
    "SimulatorState",
    "credentials_for",
    "invitation_only_accounts",
    "make_wsgi_app",
    "member_accounts",
    "serve",
    "validate_output",
]
