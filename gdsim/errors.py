"""Errors the simulator answers with, spelled the way AWS spells them on the wire."""

from __future__ import annotations


class SimulatorError(Exception):
    """An error response: HTTP status, error code (x-amzn-ErrorType) and an AWS-style message.

    `type` is the body's `__type`; GuardDuty sends `InvalidInputException` there for every
    BadRequestException, while botocore takes the exception class from the header.
    """

    status = 400
    code = "BadRequestException"
    type = "InvalidInputException"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 error_type: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        if error_type is not None:
            self.type = error_type


class BadRequest(SimulatorError):
    """HTTP 400 BadRequestException: what GuardDuty answers for any invalid input."""


class InternalServerError(SimulatorError):
    """HTTP 500 InternalServerErrorException."""

    status = 500
    code = "InternalServerErrorException"
    type = "InternalServerErrorException"


class AccessDenied(SimulatorError):
    """HTTP 403 for requests without usable credentials."""

    status = 403
    code = "UnrecognizedClientException"
    type = "UnrecognizedClientException"


class NotImplementedOperation(SimulatorError):
    """HTTP 501: a real GuardDuty operation the simulator does not implement."""

    status = 501
    code = "NotImplementedException"
    type = "NotImplementedException"


class UnknownOperation(SimulatorError):
    """HTTP 404: no GuardDuty operation has this method and path."""

    status = 404
    code = "UnknownOperationException"
    type = "UnknownOperationException"


def invalid_parameter(path: str, detail: str = "") -> BadRequest:
    """The message GuardDuty gives for a parameter it cannot accept, naming the parameter."""
    message = f"The request is rejected because the parameter {path} has an invalid value."
    return BadRequest(f"{message} {detail}".strip())


def detector_not_owned() -> BadRequest:
    """GuardDuty's answer to a detector id that is not the caller's in this region."""
    return BadRequest("The request is rejected because the input detectorId is not owned by the current account.")


class Conflict(SimulatorError):
    """HTTP 409 ConflictException (botocore guardduty model: CreateMalwareProtectionPlan's errors)."""

    status = 409
    code = "ConflictException"
    type = "ConflictException"


class ResourceNotFound(SimulatorError):
    """HTTP 404 ResourceNotFoundException (botocore guardduty model: Get/Update/DeleteMalwareProtectionPlan)."""

    status = 404
    code = "ResourceNotFoundException"
    type = "ResourceNotFoundException"
