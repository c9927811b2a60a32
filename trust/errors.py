"""Errors the services raise."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def field_error(field: str, message: str, *, code: str) -> ValidationError:
    """A refusal about one field that keeps its code: ``ValidationError({field: message},
    code=...)`` silently drops the code, and callers (forms, the API) need it."""
    return ValidationError({field: ValidationError(message, code=code)})


def first_code(exc: ValidationError) -> str:
    """The code of the first error inside ``exc`` (``"invalid"`` if it has none)."""
    for error in exc.error_list if not hasattr(exc, "error_dict") else _flatten(exc):
        if error.code:
            return str(error.code)
    return "invalid"


def _flatten(exc: ValidationError) -> list[ValidationError]:
    return [error for errors in exc.error_dict.values() for error in errors]
