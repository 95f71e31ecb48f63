"""The OpenAPI document's description of the token scheme (loaded by the app's `ready`)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "gwt_<prefix>_<secret>",
                "description": "A personal or service token from the API tokens page."}  # fmt: skip
