"""Errors as RFC 9457 problem details (`application/problem+json`) for everything under /api/.

DRF's own errors (validation, authentication, permission, throttling, 404 from a selector) go through
`problem_exception_handler`; Django's 404 for a path no view matches and its 500 go through the root
URLconf's handlers below, which answer problem details under /api/ and the usual pages elsewhere.
"""

from __future__ import annotations

from http import HTTPStatus

from django.http import HttpRequest, HttpResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from guardwatch.core.problems import PROBLEM_CONTENT_TYPE, problem, problem_response, wants_problem

# Headers of DRF's error answers that the client needs (the auth scheme, when to retry).
_KEPT_HEADERS = ("WWW-Authenticate", "Retry-After", "Allow")


def _field_errors(detail, path: str = "") -> list[dict]:
    """DRF's nested validation detail flattened to `[{"field": "a.b", "detail": "…"}]`."""
    if isinstance(detail, dict):
        return [e for key, value in detail.items() for e in _field_errors(value, f"{path}.{key}" if path else str(key))]
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [{"field": path or "non_field_errors", "detail": str(item)} for item in detail]
        return [e for index, item in enumerate(detail) for e in _field_errors(item, f"{path}.{index}" if path else str(index))]
    return [{"field": path or "non_field_errors", "detail": str(detail)}]


def problem_exception_handler(exc, context) -> Response | None:
    """DRF's handler, its answer rewritten as a problem; None (a 500) for anything unexpected."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        body = problem(response.status_code, "The request is not valid: see `errors`.", errors=errors)
    elif isinstance(exc, exceptions.Throttled):
        body = problem(429, f"Too many requests with this token: retry in {exc.wait:.0f} seconds.")
    else:
        detail = getattr(exc, "detail", None) or HTTPStatus(response.status_code).description
        body = problem(response.status_code, str(detail))
    answer = Response(body, status=response.status_code, content_type=PROBLEM_CONTENT_TYPE)
    for name in _KEPT_HEADERS:
        if name in response:
            answer[name] = response[name]
    return answer


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404: a problem under /api/, the usual page elsewhere."""
    if wants_problem(request):
        return problem_response(404, "There is no such API endpoint or object.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500: a problem under /api/, the usual page elsewhere."""
    if wants_problem(request):
        return problem_response(500, "GuardWatch failed to answer; the error is logged.")
    return defaults.server_error(request)
