"""OpenAPI descriptions (drf-spectacular) of the accounts API's authentication."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class HospitalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api.HospitalTokenAuthentication"
    name = "hospitalToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "a hospital token from issue_hospital_token"}
