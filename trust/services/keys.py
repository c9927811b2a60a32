"""Re-encrypting stored identifying data under the primary field key (docs/security.md).

A model opts in by declaring ``ENCRYPTED_FIELDS``: field name -> function of the row giving the
context its token is bound to, e.g. ``{"legal_name": lambda b: f"beneficiary-identity:{b.pk}"}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Model

from trust.audit.events import audit_record
from trust.crypto import (
    DecryptionError,
    Keyring,
    keyring_from_settings,
    rotate_token,
    token_is_current,
)

ContextOf = Callable[[Model], str]


@dataclass
class KeyRotationResult:
    """What one model's pass found: rows read, rows re-encrypted (or that would be), failures."""

    rows: int = 0
    rotated: int = 0
    failures: list[str] = field(default_factory=list)


# Further steps of a rotation that other apps register (``AppConfig.ready``): a name and a
# function ``(batch_size, dry_run) -> KeyRotationResult``, e.g. sealing files stored in clear.
RotationStep = Callable[[int, bool], "KeyRotationResult"]
_EXTRA_STEPS: dict[str, RotationStep] = {}


def rotation_step_register(name: str, step: RotationStep) -> None:
    """Add ``step`` to every ``rotate_encrypted_fields`` run, reported under ``name``."""
    _EXTRA_STEPS[name] = step


def encrypted_models() -> list[type[Model]]:
    """Every concrete, non-proxy installed model that declares ``ENCRYPTED_FIELDS``."""
    return [
        model
        for model in apps.get_models()
        if getattr(model, "ENCRYPTED_FIELDS", None) and not model._meta.proxy
    ]


def _encrypted_fields(model: type[Model]) -> dict[str, ContextOf]:
    fields: dict[str, ContextOf] = dict(model.ENCRYPTED_FIELDS)  # type: ignore[attr-defined]
    for name, context_of in fields.items():
        model._meta.get_field(name)  # FieldDoesNotExist names a typo at once
        if not callable(context_of):
            raise ImproperlyConfigured(
                f"{model._meta.label}.ENCRYPTED_FIELDS[{name!r}] must be a function of the row"
            )
    return fields


def _rotate_batch(
    model: type[Model],
    fields: dict[str, ContextOf],
    *,
    after_pk: object,
    batch_size: int,
    dry_run: bool,
    keyring: Keyring,
    result: KeyRotationResult,
) -> object | None:
    """Re-encrypt one batch of rows after ``after_pk``; return the last pk read, None when done."""
    queryset = model._base_manager.order_by("pk")
    if after_pk is not None:
        queryset = queryset.filter(pk__gt=after_pk)
    if not dry_run:
        queryset = queryset.select_for_update()
    rows = list(queryset[:batch_size])
    for row in rows:
        result.rows += 1
        old: dict[str, str] = {}
        new: dict[str, str] = {}
        for name, context_of in fields.items():
            token = getattr(row, name)
            if not token:
                continue
            try:
                if token_is_current(token, keyring=keyring):
                    continue
                new[name] = rotate_token(token, context=context_of(row), keyring=keyring)
            except DecryptionError as exc:
                result.failures.append(f"{model._meta.label} pk={row.pk} {name}: {exc}")
                continue
            old[name] = token
        if not new:
            continue
        if dry_run:
            result.rotated += 1
            continue
        # Compare-and-set: a row whose token changed meanwhile is left for the next run.
        result.rotated += model._base_manager.filter(pk=row.pk, **old).update(**new)
    return rows[-1].pk if rows else None


def rotate_encrypted_fields(
    *,
    models: Iterable[type[Model]] | None = None,
    batch_size: int = 500,
    dry_run: bool = False,
    keyring: Keyring | None = None,
) -> dict[str, KeyRotationResult]:
    """Re-encrypt under the primary key every non-empty token that is not already under it.

    Each batch of ``batch_size`` rows is one transaction of its own (durable: a caller cannot fold
    the whole run into one), its rows locked in pk order. A token that does not decrypt for its
    row's context is not changed and is reported in ``failures``; the run goes on. ``dry_run``
    writes nothing and counts what it would re-encrypt. Returns results by model label.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    keyring = keyring or keyring_from_settings()
    chosen = encrypted_models() if models is None else list(models)
    results: dict[str, KeyRotationResult] = {}
    for model in chosen:
        fields = _encrypted_fields(model)
        result = results[model._meta.label] = KeyRotationResult()
        after_pk: object | None = None
        while True:
            with transaction.atomic(durable=True):
                rotated_before = result.rotated
                last_pk = _rotate_batch(
                    model,
                    fields,
                    after_pk=after_pk,
                    batch_size=batch_size,
                    dry_run=dry_run,
                    keyring=keyring,
                    result=result,
                )
                if result.rotated > rotated_before and not dry_run:
                    # A configuration change: which rows now use which key (never a value).
                    audit_record(
                        action="config.field_key_rotated",
                        actor=None,
                        object_type=model._meta.label,
                        object_id=f"up to {last_pk}",
                        changes={
                            "rows": result.rotated - rotated_before,
                            "key": keyring.primary_key_id,
                        },
                    )
            if last_pk is None:
                break
            after_pk = last_pk
    if models is None:
        for name, step in _EXTRA_STEPS.items():
            results[name] = step(batch_size, dry_run)
    return results
