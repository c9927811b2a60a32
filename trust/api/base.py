"""The base of every API view: a write runs in one transaction (a refusal leaves nothing), with
``Idempotency-Key`` replay; lists page with a cursor; throttles per token and per address; money
in and out as a decimal string with its currency code (django-money's serializer field)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.http import Http404
from djmoney.contrib.django_rest_framework import MoneyField
from drf_spectacular.utils import extend_schema_field
from moneyed import Money
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from trust.api import idempotency
from trust.api.paging import Cursor
from trust.api.problems import problem
from trust.money import from_minor, minor_exponent


class Amount(MoneyField):
    """django-money's DRF field: a decimal string (``"1250.00"``, never a float), its currency in
    the sibling ``<name>_currency`` field; shown with the currency's own minor digits."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 18)
        kwargs.setdefault("decimal_places", 3)
        kwargs.setdefault("coerce_to_string", True)
        super().__init__(**kwargs)

    default_error_messages = {
        **MoneyField.default_error_messages,
        "float": 'Send an amount as a decimal string ("1250.00"), never a JSON number.',
    }

    def to_internal_value(self, data: Any) -> Any:
        amount = getattr(data, "amount", data)
        if isinstance(amount, float):
            self.fail("float")
        return super().to_internal_value(data)

    def to_representation(self, obj: Any) -> str:
        if isinstance(obj, Money):
            return money_text(obj)
        return super().to_representation(obj)


def money_text(amount: Money) -> str:
    """``"1250.00"``: the amount with its currency's own minor digits, as a decimal string."""
    digits = minor_exponent(amount.currency.code)
    return f"{amount.amount.quantize(Decimal(1).scaleb(-digits)):f}"


def currency_field(source: str, **kwargs: Any) -> serializers.CharField:
    return serializers.CharField(source=source, read_only=True, **kwargs)


MAX_ID = 2**63 - 1  # the largest id a database column holds


def path_id(text: Any) -> int:
    """An id from the path, or not found (digits that no row can have included)."""
    text = str(text)
    if not text.isdigit() or not 0 < int(text) <= MAX_ID:
        raise Http404("Not found.")
    return int(text)


def query_id(params: Any, name: str) -> int | None:
    """An id filter from the query string: None when absent, a 400 problem when it is no id."""
    text = (params.get(name) or "").strip()
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) <= MAX_ID:
        raise serializers.ValidationError({name: [f"{text[:40]!r} is not an id."]})
    return int(text)


class ApiMixin:
    """Writes in one transaction with idempotent replay; reads as they are.

    A view whose service owns its transaction (``durable``: every row or none, never folded into
    a caller's transaction) sets ``service_owns_transaction``: it is not wrapped, its key is kept
    once it answered and forgotten if it was refused, and a retry that arrives while the first
    call still runs is told so (409 ``in_progress``)."""

    service_owns_transaction = False

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttles
        self._claimed = None
        if request.method == "POST":
            self._claimed = idempotency.claim(request)

    def handle_exception(self, exc: Exception) -> Any:
        if isinstance(exc, idempotency.Replay):
            if not exc.record.status:
                return problem(
                    409, "in_progress", "The first call with this Idempotency-Key is still running."
                )
            return idempotency.replayed(exc.record)
        return super().handle_exception(exc)

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if request.method in SAFE_METHODS:
            return super().dispatch(request, *args, **kwargs)
        if self.service_owns_transaction:
            response = super().dispatch(request, *args, **kwargs)
            claimed = getattr(self, "_claimed", None)
            if claimed is not None:
                if response.status_code >= 400:
                    idempotency.forget(claimed)
                else:
                    idempotency.keep(claimed, response)
            return response
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)
            if response.status_code >= 400:
                transaction.set_rollback(True)  # nothing of a refused call stays, its key neither
            elif getattr(self, "_claimed", None) is not None:
                idempotency.keep(self._claimed, response)
        return response

    def get_object(self) -> Any:
        # Digits no row can have are "not found" (the database would overflow on them).
        if getattr(self, "lookup_field", None) == "pk" and "pk" in self.kwargs:
            path_id(self.kwargs["pk"])
        return super().get_object()

    def _valid(self, serializer_class: type, data: Any = None) -> dict[str, Any]:
        """The request's body (or ``data``) parsed by ``serializer_class``; a 400 problem with
        each field's errors if it does not parse."""
        serializer = serializer_class(data=self.request.data if data is None else data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def operation_key(self, what: str) -> str:
        return idempotency.operation_key(self.request, what)


class ApiView(ApiMixin, APIView):
    pass


class ApiViewSet(ApiMixin, GenericViewSet):
    pagination_class = Cursor


@extend_schema_field({"type": "string", "format": "decimal", "example": "1250.00"})
class MinorAmount(serializers.Field):
    """A read-only amount kept in integer minor units on the object (or its annotation):
    ``MinorAmount(minor="balance_minor", currency="currency")`` gives ``"1250.00"``."""

    def __init__(self, *, minor: str, currency: str, **kwargs: Any) -> None:
        self.minor_attr, self.currency_attr = minor, currency
        kwargs.update(source="*", read_only=True)
        super().__init__(**kwargs)

    def to_representation(self, obj: Any) -> str | None:
        minor = getattr(obj, self.minor_attr, None)
        code = _dotted(obj, self.currency_attr)
        if minor is None or not code:
            return None
        return money_text(from_minor(int(minor), code))


def _dotted(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part, None)
    return obj
