"""Factories build trusts through the services, never ledger rows one at a time."""

from __future__ import annotations

import io
from datetime import date
from functools import cache
from itertools import count
from typing import Any

import factory
from django.contrib.auth import get_user_model
from moneyed import Money
from PIL import Image
from pypdf import PdfWriter

from trust.models import Account, Beneficiary, EntryKind, Trust
from trust.roles import TRUSTEE
from trust.services.appointments import appointment_create
from trust.services.ledger import Leg, PostedEntry, entry_post
from trust.services.people import beneficiary_create
from trust.services.trusts import trust_create

_keys = count(1)


class TrustFactory(factory.Factory):
    """``TrustFactory()`` creates a trust with its standard accounts through ``trust_create``."""

    class Meta:
        model = Trust

    caption = factory.Sequence(lambda n: f"United States v. Invented Defendant {n}")
    court = "District Court for the Fictional District of Testland"
    case_number = factory.Sequence(lambda n: f"TEST-{n:05d}")
    base_currency = "USD"

    @classmethod
    def _create(cls, model_class: type[Trust], *args: object, **kwargs: object) -> Trust:
        return trust_create(**kwargs)  # type: ignore[arg-type]


def beneficiary(trust: Trust, pseudonym: str) -> tuple[Beneficiary, Account]:
    """A beneficiary and its sub-ledger."""
    b = beneficiary_create(trust=trust, pseudonym=pseudonym)
    return b, b.accounts.get()


def account(trust: Trust, role: str) -> Account:
    return trust.accounts.get(role=role)


def fund(
    trust: Trust, sub_ledger: Account, amount: str, on: date = date(2026, 1, 15)
) -> PostedEntry:
    """A receipt into the bank credited to one sub-ledger."""
    money = Money(amount, sub_ledger.currency)
    return entry_post(
        trust=trust,
        actor=None,
        effective_date=on,
        legs=[Leg(account(trust, Account.Role.BANK), money), Leg(sub_ledger, -money)],
        idempotency_key=f"fund-{next(_keys)}",
        memo="Receipt (test)",
        kind=EntryKind.RECEIPT,
    )


def appoint(user: Any, trust: Trust, role: str = TRUSTEE) -> Any:
    """Appoint ``user`` to ``trust`` as ``role`` from today (as the system: no administrator
    needed in tests). Returns the user."""
    appointment_create(trust=trust, user=user, role=role, actor=None)
    return user


def person(
    username: str, role: str | None = None, trust: Trust | None = None, **fields: Any
) -> Any:
    """A user (no password: fast), appointed to ``trust`` as ``role`` when both are given."""
    user = get_user_model().objects.create_user(username=username, **fields)
    if role and trust is not None:
        appoint(user, trust, role)
    return user


# --- supporting documents -----------------------------------------------------------------------


@cache
def clean_pdf(title: str = "") -> bytes:
    """A real, minimal PDF (one blank page, a cross-reference table) that the upload checks
    accept; a different ``title`` gives different bytes (a different document)."""
    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    if title:
        writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def clean_image(kind: str = "JPEG", size: tuple[int, int] = (8, 8), **options: Any) -> bytes:
    """A small JPEG or PNG as a phone or scanner would send it; ``options`` go to Pillow's
    ``save`` (``exif=``, ``pnginfo=``...)."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=kind, **options)
    return out.getvalue()


def stored_plaintext(document: Any) -> bytes:
    """What a stored supporting document holds, opened from its sealed file."""
    from disbursements.services.documents import document_stream

    return b"".join(document_stream(document))
