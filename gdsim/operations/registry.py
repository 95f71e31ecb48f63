"""The table of GuardDuty operation handlers and the context each handler receives."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BadRequest, detector_not_owned, invalid_parameter
from ..records import AccountRegion, Detector

if TYPE_CHECKING:
    from ..state import SimulatorState

Handler = Callable[["Context", dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}
_DETECTOR_ID = re.compile(r"[0-9a-z]{32}")


def handles(*operation_names: str) -> Callable[[Handler], Handler]:
    """Register a function as the handler of GuardDuty operations (legacy aliases included)."""
    def register(function: Handler) -> Handler:
        for name in operation_names:
            HANDLERS[name] = function
        return function
    return register


@dataclass
class Context:
    """Who is calling, where, and the state they act on."""

    state: SimulatorState
    account_id: str
    region: str
    operation: str

    @property
    def scope(self) -> AccountRegion:
        """The caller's (account, region) record."""
        return self.state.scope(self.account_id, self.region)

    def detector(self, detector_id: str) -> Detector:
        """The caller's detector, which `detector_id` must name; BadRequest otherwise."""
        detector = self.scope.detector
        if detector is not None and detector.detector_id == detector_id:
            return detector
        if not _DETECTOR_ID.fullmatch(detector_id):
            raise invalid_parameter("detectorId")
        raise detector_not_owned()

    def require_administrator_role(self) -> None:
        """Members of an administrator may not do what only administrators do (e.g. archive)."""
        if self.state.administrator_of(self.account_id, self.region) is not None:
            raise BadRequest(f"The request is rejected because a member account cannot call {self.operation}; "
                             "only the administrator account can.")
