"""Every refusal in one shape: RFC 9457 problem details (``application/problem+json``) with a stable
``code`` (the service's own) and, for input, the errors of each field. Never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from trust.db_faults import (
    RETRY_AFTER_SECONDS,
    database_unavailable,
    unavailable_answered,
    unavailable_code,
)
from trust.errors import first_code

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
TYPE_BASE = "https://restitution-trust-ledger.invalid/problems/"

TITLES = {
    400: "The request was refused",
    401: "Sign in or send a token",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    415: "Unsupported media type",
    422: "Idempotency key reused with another request",
    429: "Too many requests",
    500: "Something went wrong on our side",
    503: "The database is unavailable for a moment",
}
UNAVAILABLE_DETAIL = (
    "The database did not answer; nothing of this request was written. Try again after"
    " Retry-After seconds with the same Idempotency-Key."
)


# The codes with which the services refuse an actor who may not act (``trust.access.require``
# and the few checks written out): 403, like a page's refusal. Everything else they refuse is
# about the input or the state of things: 400.
NOT_ALLOWED = frozenset(
    {
        "not_allowed",
        "not_trustee",
        "not_administrator",
        "not_caseworker",
        "not_yours",
        "not_owner",
        "not_signed_in",
    }
)


class ServiceRefusal(exceptions.APIException):
    """A service's ``ValidationError``: 400 (403 for a refused actor) with its code and its
    fields' errors."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, error: DjangoValidationError) -> None:
        self.code = first_code(error)
        self.fields: dict[str, list[dict[str, str]]] = {}
        messages: list[str] = []
        if hasattr(error, "error_dict"):
            for name, errors in error.error_dict.items():
                for e in errors:
                    text = " ".join(e.messages)
                    key = "non_field_errors" if name == "__all__" else name
                    self.fields.setdefault(key, []).append(
                        {"code": str(e.code or self.code), "message": text}
                    )
                    messages.append(text if key == "non_field_errors" else f"{key}: {text}")
        else:
            messages = [m for e in error.error_list for m in e.messages]
        super().__init__(detail="; ".join(messages) or "Refused.", code=self.code)
        if self.code in NOT_ALLOWED:
            self.status_code = status.HTTP_403_FORBIDDEN


def _field_errors(detail: Any, prefix: str = "") -> dict[str, list[dict[str, str]]]:
    """DRF's nested ``ErrorDetail`` structure as ``{"field": [{"code", "message"}]}``."""
    out: dict[str, list[dict[str, str]]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for sub, errors in _field_errors(value, name).items():
                out.setdefault(sub, []).extend(errors)
    elif isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            out[prefix or "non_field_errors"] = [
                {"code": getattr(item, "code", "invalid") or "invalid", "message": str(item)}
                for item in detail
            ]
        else:
            for index, item in enumerate(detail):
                for sub, errors in _field_errors(item, f"{prefix}[{index}]").items():
                    out.setdefault(sub, []).extend(errors)
    elif detail is not None:
        out[prefix or "non_field_errors"] = [
            {"code": getattr(detail, "code", "invalid") or "invalid", "message": str(detail)}
        ]
    return out


def problem_body(status_code: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": TYPE_BASE + code,
        "title": TITLES.get(status_code, "Refused"),
        "status": status_code,
        "code": code,
        "detail": detail,
        **extra,
    }


def problem(status_code: int, code: str, detail: str, **extra: Any) -> Response:
    body = problem_body(status_code, code, detail, **extra)
    return Response(body, status=status_code, content_type=PROBLEM)


def unavailable_problem(exc: Exception, request: Any) -> Response:
    """503 with ``Retry-After`` for a database that is away or busy (``trust.db_faults``),
    logged on one line without a traceback."""
    unavailable_answered(getattr(request, "_request", request), exc)
    out = problem(503, unavailable_code(exc), UNAVAILABLE_DETAIL, retry_after=RETRY_AFTER_SECONDS)
    out["Retry-After"] = str(RETRY_AFTER_SECONDS)
    out._has_been_logged = True  # type: ignore[attr-defined]  # Django logs it once, not again
    return out


def problem_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``: a problem document for every refusal."""
    if database_unavailable(exc):
        return unavailable_problem(exc, context["request"])
    if isinstance(exc, DjangoValidationError):
        exc = ServiceRefusal(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "Not allowed.")
    response = exception_handler(exc, context)
    if response is None:
        log.exception("API error in %s", context.get("view").__class__.__name__)
        return problem(500, "server_error", "The error was logged; nothing was written.")
    extra: dict[str, Any] = {}
    if isinstance(exc, ServiceRefusal):
        code, detail = exc.code, str(exc.detail)
        if exc.fields:
            extra["errors"] = exc.fields
    elif isinstance(exc, exceptions.ValidationError):
        code, detail = "invalid", "The request's fields were not understood; see errors."
        extra["errors"] = _field_errors(exc.detail)
    else:
        detail_obj = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail_obj, "code", None) or getattr(exc, "default_code", "error")
        detail = str(detail_obj)
    if isinstance(exc, exceptions.Throttled) and exc.wait:
        extra["retry_after"] = int(exc.wait)
    out = problem(response.status_code, str(code), detail, **extra)
    for header in ("Retry-After", "WWW-Authenticate", "Allow"):
        if header in response:
            out[header] = response[header]
    return out
