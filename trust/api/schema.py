"""The OpenAPI schema's common parts: every operation documents its refusals as problem details
(with the codes that apply), every POST its ``Idempotency-Key`` header, and the token scheme."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from trust.api.problems import PROBLEM


class FieldErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.URLField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    code = serializers.CharField(help_text="Stable: the rule that refused (e.g. not_trustee).")
    detail = serializers.CharField()
    errors = serializers.DictField(
        child=FieldErrorSerializer(many=True), required=False, help_text="Per field."
    )
    retry_after = serializers.IntegerField(required=False)


def _problem(status: int, description: str, code: str, detail: str) -> OpenApiResponse:
    return OpenApiResponse(
        response=ProblemSerializer,
        description=description,
        examples=[
            OpenApiExample(
                code,
                value={
                    "type": f"https://restitution-trust-ledger.invalid/problems/{code}",
                    "title": description,
                    "status": status,
                    "code": code,
                    "detail": detail,
                },
                media_type=PROBLEM,
                status_codes=[str(status)],
                response_only=True,
            )
        ],
    )


READ_ERRORS = {
    400: _problem(400, "A filter was not understood", "invalid", "as_of: use YYYY-MM-DD."),
    401: _problem(
        401,
        "Sign in or send a token",
        "not_authenticated",
        "Authentication credentials were not provided.",
    ),
    404: _problem(
        404, "Not found, or not yours to see (the same answer)", "not_found", "Not found."
    ),
    429: _problem(
        429, "Too many requests (Retry-After says when)", "throttled", "Request was throttled."
    ),
}
WRITE_ERRORS = {
    400: _problem(
        400,
        "Refused: `code` names the rule, `errors` the fields",
        "insufficient_funds",
        "Victim-7 has 120.00 USD available.",
    ),
    403: _problem(
        403,
        "Not allowed: not_trustee, not_caseworker, token_read_only, ...",
        "not_trustee",
        "Only a trustee of the trust records receipts.",
    ),
    422: _problem(
        422,
        "The Idempotency-Key was used with another body",
        "idempotency_key_reused",
        "Use a new key for a new request.",
    ),
    **READ_ERRORS,
}

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string up to 255 characters (a UUID). A retry with the same key and body gets "
        "the first response again (header `Idempotent-Replayed: true`) and writes nothing; the "
        "same key with another body is refused with 422. Kept 48 hours, per user."
    ),
)


class AutoSchema(BaseAutoSchema):
    def get_override_parameters(self) -> list[Any]:
        params = list(super().get_override_parameters())
        if self.method == "POST":
            params.append(IDEMPOTENCY_KEY)
        return params

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        bodies = super()._get_response_bodies(direction)
        errors = READ_ERRORS if self.method in ("GET", "HEAD", "OPTIONS") else WRITE_ERRORS
        for code, response in errors.items():
            key = str(code)
            if key not in bodies:
                bodies[key] = self._get_response_for_code(
                    response, key, media_types=[PROBLEM], direction=direction
                )
        return bodies


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "trust.api.auth.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>`: create one on /account/tokens/ (read-only or read-write).",
        }
