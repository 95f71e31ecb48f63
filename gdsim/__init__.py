"""A local GuardDuty stand-in speaking the real wire protocol.

Unmodified boto3 clients pointed at `SimulatorServer(...).endpoint_url` work as against AWS:
GuardDuty (rest-json), plus enough STS and Organizations for cross-account roles and the demo.
Nothing here imports Django or the product: run it as `python -m gdsim` (`manage.py gdsim` execs that).
"""

from .auth import credentials_for
from .protocol import OutputValidationError, validate_output
from .server import SimulatorServer, make_wsgi_app, serve
from .state import SimulatorState

__all__ = [
    "OutputValidationError",
    "SimulatorServer",
    "SimulatorState",
    "credentials_for",
    "make_wsgi_app",
    "serve",
    "validate_output",
]
