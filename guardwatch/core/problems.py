"""RFC 9457 problem details: the body every error under /api/ has, whichever layer answers it."""

from http import HTTPStatus

from django.http import HttpRequest, JsonResponse

PROBLEM_CONTENT_TYPE = "application/problem+json"
API_PATH = "/api/"


def problem(status: int, detail: str, *, errors: list[dict] | None = None) -> dict:
    """The body of a problem: `type` about:blank means the status says it all (RFC 9457 §4.2.1)."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return body


def problem_response(status: int, detail: str) -> JsonResponse:
    return JsonResponse(problem(status, detail), status=status, content_type=PROBLEM_CONTENT_TYPE)


def wants_problem(request: HttpRequest) -> bool:
    """Whether `request` is the API's (answered with problem details, not an HTML page)."""
    return request.path.startswith(API_PATH)
