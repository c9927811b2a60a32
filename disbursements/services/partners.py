"""Care partners: recording them, their vetting (and whether it is current), and the account they
are paid into. Partners serve every trust, so their audit events go on the global chain.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from disbursements.models import CarePartner
from trust import crypto
from trust.access import holds
from trust.audit.events import audit_record
from trust.countries import COUNTRY_CODES
from trust.errors import field_error
from trust.roles import TRUSTEE


def care_partner_create(
    *,
    actor: Any,
    name: str,
    country: str,
    registration_number: str = "",
    payout_currency: str = "",
) -> CarePartner:
    """A care partner, not yet vetted, recorded by a trustee. Refuses a blank or taken name and
    an unknown country or currency."""
    if not holds(actor, TRUSTEE):
        raise ValidationError("Only a trustee records care partners.", code="not_trustee")
    name = " ".join((name or "").split())
    if not name:
        raise field_error("name", "A name is required.", code="required")
    country = (country or "").strip().upper()
    if country not in COUNTRY_CODES:
        raise field_error("country", f"{country!r} is not a country code", code="bad_country")
    payout_currency = (payout_currency or "").strip().upper()
    if payout_currency and payout_currency not in settings.CURRENCIES:
        raise field_error(
            "payout_currency", f"{payout_currency} is not an accepted currency", code="bad_currency"
        )
    try:
        with transaction.atomic():
            partner = CarePartner.objects.create(
                name=name,
                country=country,
                registration_number=(registration_number or "").strip()[:100],
                payout_currency=payout_currency,
            )
            care_partner_audit_record(
                partner,
                "care_partner.created",
                actor,
                {
                    "name": name,
                    "country": country,
                    "registration_number": partner.registration_number,
                    "payout_currency": payout_currency,
                },
            )
            return partner
    except IntegrityError as exc:
        raise field_error("name", "A care partner of that name exists.", code="taken") from exc


def care_partner_vet(
    *,
    partner: CarePartner,
    actor: Any,
    status: str,
    vetted_on: date | None = None,
    expires_on: date | None = None,
) -> CarePartner:
    """Record a vetting decision. An approval needs the date it was done and the date it expires
    (after it); a suspension keeps the dates."""
    if not holds(actor, TRUSTEE):
        raise ValidationError("Only a trustee records vetting.", code="not_trustee")
    if status not in CarePartner.Vetting.values:
        raise field_error("status", f"unknown vetting status {status!r}", code="bad_status")
    if status == CarePartner.Vetting.APPROVED:
        if vetted_on is None or expires_on is None:
            raise field_error(
                "expires_on", "Approved vetting needs its date and expiry.", code="required"
            )
        if expires_on <= vetted_on:
            raise field_error(
                "expires_on", "The vetting must expire after it was done.", code="bad_dates"
            )
        partner.vetted_on, partner.vetting_expires_on = vetted_on, expires_on
    before = CarePartner.objects.filter(pk=partner.pk).values(
        "vetting_status", "vetted_on", "vetting_expires_on"
    )[0]
    partner.vetting_status = status
    with transaction.atomic():
        partner.save(update_fields=["vetting_status", "vetted_on", "vetting_expires_on"])
        care_partner_audit_record(
            partner,
            "care_partner.vetted",
            actor,
            {
                name: {"before": before[name], "after": getattr(partner, name)}
                for name in ("vetting_status", "vetted_on", "vetting_expires_on")
            },
        )
    return partner


def care_partner_audit_record(partner: CarePartner, action: str, actor: Any, changes: dict) -> None:
    """Audit a change to a partner; partners serve every trust, so on the global chain."""
    audit_record(
        action=action,
        actor=actor,
        object_type="care_partner",
        object_id=partner.pk,
        changes=changes,
    )


def vetting_current(partner: CarePartner, on: date | None = None) -> bool:
    on = on or timezone.localdate()
    return (
        partner.vetting_status == CarePartner.Vetting.APPROVED
        and partner.vetting_expires_on is not None
        and partner.vetting_expires_on >= on
    )


def care_partner_set_payout(
    *, partner: CarePartner, actor: Any, currency: str, details: dict[str, str]
) -> CarePartner:
    """Store the account the partner is paid into: its currency in clear, its bank details
    encrypted (never logged, never shown without a recorded reveal)."""
    if not holds(actor, TRUSTEE):
        raise ValidationError("Only a trustee sets payout details.", code="not_trustee")
    currency = (currency or "").strip().upper()
    if currency not in settings.CURRENCIES:
        raise field_error("currency", "Not an accepted currency.", code="bad_currency")
    clean = {k: str(v).strip() for k, v in (details or {}).items() if str(v).strip()}
    if not clean.get("account_number") or not clean.get("bank"):
        raise field_error(
            "details", "The bank and the account number are required.", code="required"
        )
    partner.payout_currency = currency
    partner.payout_token = crypto.encrypt_text(
        json.dumps(clean, sort_keys=True), context=f"care-partner-payout:{partner.uid}"
    )
    with transaction.atomic():
        partner.save(update_fields=["payout_currency", "payout_token"])
        # The details stay encrypted, out of the log: only that they changed, and the currency.
        care_partner_audit_record(
            partner, "care_partner.payout_set", actor, {"payout_currency": currency}
        )
    return partner
