"""OpenAPI generation (drf-spectacular): the token scheme, and the error responses that every
operation documents."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework.permissions import AllowAny

from .serializers import ErrorSerializer


class HashedTokenScheme(OpenApiAuthenticationExtension):
    target_class = "trial.api.authentication.HashedTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`: issued with `manage.py create_api_token <username>` "
            "(staff) or `manage.py create_lab_token <lab-code>` (laboratories).",
        }


class TrialAutoSchema(AutoSchema):
    """Every operation documents the errors it can answer, in the one error format
    (``{"code", "message", "details"}``, ``trial.api.errors``), read from the view itself:

    - 401 and 403 where a permission class applies (no token, a bad token, a role or site that
      is refused);
    - 404 where the path names an object (unknown, or another site's);
    - 400 where the operation takes a body or query parameters other than the page's
      (``validation_error``, ``invalid_input``);
    - 429 where the view is throttled.

    Codes an operation documents itself (409, 422, or another body such as FHIR's
    OperationOutcome) are kept as they are.
    """

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for code in self._error_codes(operation):
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code)
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_codes(self, operation: dict) -> list[str]:
        codes = []
        if not all(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            codes += ["401", "403"]
        parameters = operation.get("parameters", [])
        if any(p["in"] == "path" for p in parameters):
            codes.append("404")
        # Pagination falls back to its defaults on a bad limit or offset: no 400 from those.
        paging = {p["name"] for p in self._get_pagination_parameters()}
        queries = [p for p in parameters if p["in"] == "query" and p["name"] not in paging]
        if queries or "requestBody" in operation:
            codes.append("400")
        if self.view.get_throttles():
            codes.append("429")
        return codes
