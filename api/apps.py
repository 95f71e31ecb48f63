from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API at /api/v1/ and the API tokens page: a second door onto the apps' services and selectors."""

    name = "api"
    label = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        from api import schema  # noqa: F401 - registers the token scheme with drf-spectacular
