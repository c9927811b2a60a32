"""Beneficiaries, their encrypted identifying details, defendants and implicated people.

Identifying details are written encrypted (``trust.crypto``) and read back only through
``beneficiary_identity_reveal``, which records who looked, when and why. Nothing here logs or echoes
a name or a contact in an error message.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from trust import crypto
from trust.access import require
from trust.audit.events import audit_record
from trust.countries import COUNTRY_CODES
from trust.errors import field_error
from trust.models import (
    Account,
    Beneficiary,
    BeneficiaryIdentity,
    Defendant,
    IdentityReveal,
    ImplicatedPerson,
    Trust,
    VictimKind,
)
from trust.models.people import majority_date
from trust.roles import Action
from trust.services.child_views import VIA, viewer_role

IDENTITY_FIELDS = ("legal_name", "guardian_contact")
IMPLICATED_PURPOSE = "implicated-person-name"
# 50 characters at most: the sub-ledger's account code (60) is "2100-" + pseudonym, and a
# sub-ledger in another currency adds "-PHP".
_PSEUDONYM = re.compile(r"^[\w][\w .'-]{0,49}$")


def _actor(actor: Any | None) -> Any | None:
    return actor if getattr(actor, "pk", None) else None


def _country(code: str, *, required: bool) -> str:
    code = (code or "").strip().upper()
    if not code:
        if required:
            raise field_error("country", "A country is required.", code="required")
        return ""
    if code not in COUNTRY_CODES:
        raise field_error(
            "country", f"{code!r} is not an ISO 3166-1 alpha-2 country code", code="bad_country"
        )
    return code


def _check_beneficiary_fields(
    *, kind: str, date_of_birth: date | None, today: date | None = None
) -> None:
    if kind not in VictimKind.values:
        raise field_error("kind", f"unknown kind of victim {kind!r}", code="bad_kind")
    if kind != VictimKind.INDIVIDUAL and date_of_birth is not None:
        raise field_error(
            "date_of_birth", "Only individual victims have a date of birth.", code="dob_kind"
        )
    if date_of_birth is not None and date_of_birth > (today or timezone.localdate()):
        raise field_error("date_of_birth", "The date of birth is in the future.", code="dob_future")


def beneficiary_create(
    *,
    trust: Trust,
    pseudonym: str,
    actor: Any | None = None,
    kind: str = VictimKind.INDIVIDUAL,
    date_of_birth: date | None = None,
    country: str = "",
    care_partner: Any | None = None,
    status: str | None = None,
) -> Beneficiary:
    """Add a beneficiary known by the pseudonym used in court filings, with a sub-ledger (a
    liability in the trust's base currency that may never go below zero).

    Individuals have a date of birth where known (majority follows from it and the trust's
    majority age; without it the beneficiary is taken to be a minor); organisations have none. The
    status defaults from that date. Refuses a blank or malformed pseudonym, one already used in
    the trust, an unknown country or kind, a date of birth in the future."""
    require(
        actor,
        Action.BENEFICIARY_MANAGE,
        trust,
        "Only a trustee of the trust records beneficiaries.",
        "not_trustee",
        system=True,
    )
    pseudonym = (pseudonym or "").strip()
    if not pseudonym:
        raise field_error("pseudonym", "A pseudonym is required.", code="required")
    if not _PSEUDONYM.match(pseudonym):
        raise field_error(
            "pseudonym",
            "Use up to 50 letters, digits, spaces and . ' - (e.g. 'MV-1').",
            code="bad_pseudonym",
        )
    _check_beneficiary_fields(kind=kind, date_of_birth=date_of_birth)
    country = _country(country, required=False)
    if status is None:
        status = _status_from_age(trust, kind, date_of_birth)
    elif status not in Beneficiary.Status.values:
        raise field_error("status", f"unknown status {status!r}", code="bad_status")
    try:
        with transaction.atomic():
            beneficiary = Beneficiary.objects.create(
                trust=trust,
                pseudonym=pseudonym,
                kind=kind,
                date_of_birth=date_of_birth,
                country=country,
                care_partner=care_partner,
                status=status,
                created_by=_actor(actor),
            )
            code = f"2100-{pseudonym}"
            if Account.objects.filter(trust=trust, code=code).exists():
                # Taken by another beneficiary's sub-ledger in a second currency ("MV-1" has
                # "2100-MV-1-PHP", this is "MV-1-PHP"); "#" never appears in a pseudonym.
                code = f"2100-#{beneficiary.pk}"
            Account.objects.create(
                trust=trust,
                code=code,
                name=f"Sub-ledger {pseudonym}",
                type=Account.Type.LIABILITY,
                role=Account.Role.SUB_LEDGER,
                currency=trust.base_currency,
                beneficiary=beneficiary,
                no_negative=True,
            )
            audit_record(
                action="beneficiary.created",
                actor=actor,
                trust_id=trust.pk,
                object_type="beneficiary",
                object_id=beneficiary.pk,
                changes={
                    "pseudonym": pseudonym,
                    "kind": kind,
                    "country": country,
                    "status": status,
                    "care_partner": getattr(care_partner, "pk", None),
                    # Whether a date of birth is known, never the date (identifying).
                    "date_of_birth_known": date_of_birth is not None,
                    "sub_ledger": code,
                },
            )
    except IntegrityError as exc:
        raise field_error(
            "pseudonym", f"{pseudonym} is already a beneficiary of this trust", code="duplicate"
        ) from exc
    return beneficiary


def _status_from_age(trust: Trust, kind: str, date_of_birth: date | None) -> str:
    if kind != VictimKind.INDIVIDUAL:
        return Beneficiary.Status.ADULT
    if date_of_birth is None:
        return Beneficiary.Status.MINOR  # a child victim until a date of birth says otherwise
    majority = majority_date(date_of_birth, trust.majority_age)
    if majority is not None and majority <= timezone.localdate():
        return Beneficiary.Status.ADULT
    return Beneficiary.Status.MINOR


def beneficiary_update(
    *,
    beneficiary: Beneficiary,
    actor: Any | None,
    country: str | None = None,
    care_partner: Any | None = None,
    clear_care_partner: bool = False,
    status: str | None = None,
    date_of_birth: date | None = None,
) -> Beneficiary:
    """Change what the work needs to know: country, care partner, status, date of birth. The
    pseudonym never changes (court filings use it). A closed beneficiary stays closed."""
    require(
        actor,
        Action.BENEFICIARY_MANAGE,
        beneficiary,
        "Only a trustee of the trust changes a beneficiary.",
        "not_trustee",
        system=True,
    )
    changes: dict[str, Any] = {}
    if country is not None:
        changes["country"] = _country(country, required=False)
    if care_partner is not None:
        changes["care_partner"] = care_partner
    elif clear_care_partner:
        changes["care_partner"] = None
    if date_of_birth is not None:
        _check_beneficiary_fields(kind=beneficiary.kind, date_of_birth=date_of_birth)
        if beneficiary.erased:
            raise field_error(
                "date_of_birth",
                "This child's identifying data was erased; nothing more is recorded.",
                code="erased",
            )
        changes["date_of_birth"] = date_of_birth
    if status is not None:
        if status not in Beneficiary.Status.values:
            raise field_error("status", f"unknown status {status!r}", code="bad_status")
        changes["status"] = status
    if not changes:
        return beneficiary
    with transaction.atomic():
        locked = Beneficiary.objects.select_for_update().get(pk=beneficiary.pk)
        # Judged on the locked row: the caller's copy may predate the closing.
        reopening = "status" in changes and changes["status"] != Beneficiary.Status.CLOSED
        if locked.status == Beneficiary.Status.CLOSED and reopening:
            raise field_error("status", "A closed beneficiary cannot be reopened.", code="closed")
        before = {name: getattr(locked, name) for name in changes}
        for name, value in changes.items():
            setattr(locked, name, value)
        # The date of birth is stored encrypted, in ``dob_token``.
        locked.save(
            update_fields=["dob_token" if name == "date_of_birth" else name for name in changes]
        )

        def shown(name: str, value: Any) -> Any:
            if name == "date_of_birth":
                return "changed" if value != before[name] else "unchanged"
            return getattr(value, "pk", value)

        audit_record(
            action="beneficiary.updated",
            actor=actor,
            trust_id=locked.trust_id,
            object_type="beneficiary",
            object_id=locked.pk,
            changes={
                name: {"before": shown(name, before[name]), "after": shown(name, value)}
                for name, value in changes.items()
            },
        )
    for name, value in changes.items():
        setattr(beneficiary, name, value)
    return beneficiary


def beneficiary_identity_set(
    *, beneficiary: Beneficiary, actor: Any | None, legal_name: str = "", guardian_contact: str = ""
) -> None:
    """Store (or replace) the beneficiary's identifying details, encrypted. Empty values are
    allowed: keep only what the work needs."""
    require(
        actor,
        Action.BENEFICIARY_MANAGE,
        beneficiary,
        "Only a trustee of the trust records identifying details.",
        "not_trustee",
        system=True,
    )
    details = {
        "legal_name": (legal_name or "").strip(),
        "guardian_contact": (guardian_contact or "").strip(),
    }
    for name, value in details.items():
        if len(value) > 500:
            raise field_error(name, "At most 500 characters.", code="too_long")
    beneficiary.refresh_from_db(fields=["data_key_token", "identity_erased_at"])
    beneficiary.forget_data_key()
    if beneficiary.erased:
        raise ValidationError(
            "This child's identifying data was erased; nothing more is recorded.", code="erased"
        )
    # Under the child's own data key: erasing the child's identifying data destroys that key.
    token = beneficiary.seal_text(
        json.dumps(details, ensure_ascii=False, sort_keys=True),
        context=f"beneficiary-identity:{beneficiary.pk}",
    )
    with transaction.atomic():
        BeneficiaryIdentity.objects.update_or_create(
            beneficiary=beneficiary, defaults={"token": token, "updated_by": _actor(actor)}
        )
        audit_record(
            action="beneficiary.identity_set",
            actor=actor,
            trust_id=beneficiary.trust_id,
            object_type="beneficiary",
            object_id=beneficiary.pk,
            # Which details are on file, never what they say.
            changes={"fields": sorted(name for name, value in details.items() if value)},
        )


def beneficiary_identity_reveal(
    *, beneficiary: Beneficiary, actor: Any, purpose: str, via: str = "web"
) -> dict[str, str]:
    """Decrypt the identifying details for ``actor``, recording the reveal (who, in which role,
    when, why, through the pages or the API) in the same transaction: it is the "identity" line
    of the log of who saw this child. Refuses without an authenticated actor who is a trustee of
    the trust or a caseworker of the care partner responsible for the child (an auditor, an
    administrator, another partner's caseworker may not), or without a purpose; returns ``{}``
    (and records nothing) when no details are stored."""
    if getattr(actor, "pk", None) is None:
        raise ValidationError("A reveal needs a signed-in user.", code="no_actor")
    require(
        actor,
        Action.IDENTITY_REVEAL,
        beneficiary,
        "Only a trustee of the trust or a caseworker of the child's care partner reveals a"
        " beneficiary's identity.",
        "not_allowed",
    )
    if via not in VIA:
        raise ValueError(f"unknown way of viewing {via!r}")
    purpose = (purpose or "").strip()
    if len(purpose) < 5:
        raise field_error("purpose", "Say why the details are needed.", code="required")
    identity = BeneficiaryIdentity.objects.filter(beneficiary=beneficiary).first()
    if identity is None or not identity.token or beneficiary.erased:
        return {}
    details = json.loads(
        beneficiary.data_key().decrypt_text(
            identity.token, context=f"beneficiary-identity:{beneficiary.pk}"
        )
    )
    with transaction.atomic():
        reveal = IdentityReveal.objects.create(
            beneficiary=beneficiary,
            actor=actor,
            purpose=purpose,
            fields=[name for name in IDENTITY_FIELDS if details.get(name)],
        )
        audit_record(
            action="beneficiary.identity_revealed",
            actor=actor,
            trust_id=beneficiary.trust_id,
            object_type="beneficiary",
            object_id=beneficiary.pk,
            changes={
                "fields": reveal.fields,
                "reveal": reveal.pk,
                "role": viewer_role(actor, beneficiary.trust_id),
                "via": via,
            },
            reason=purpose,
        )
    return {name: details.get(name, "") for name in IDENTITY_FIELDS}


def defendant_create(
    *, trust: Trust, name: str, actor: Any | None = None, reference: str = ""
) -> Defendant:
    """Record a defendant of the trust's case. Refuses a blank or repeated name."""
    require(
        actor,
        Action.ORDER_MANAGE,
        trust,
        "Only a trustee of the trust records defendants.",
        "not_trustee",
        system=True,
    )
    name = " ".join((name or "").split())
    if not name:
        raise field_error("name", "A defendant needs a name.", code="required")
    try:
        with transaction.atomic():
            defendant = Defendant.objects.create(
                trust=trust,
                name=name[:200],
                reference=(reference or "").strip()[:100],
                created_by=_actor(actor),
            )
            # A defendant's name is public court record.
            audit_record(
                action="defendant.created",
                actor=actor,
                trust_id=trust.pk,
                object_type="defendant",
                object_id=defendant.pk,
                changes={"name": defendant.name, "reference": defendant.reference},
            )
            return defendant
    except IntegrityError as exc:
        raise field_error(
            "name", f"{name} is already a defendant in this trust", code="duplicate"
        ) from exc


def implicated_person_add(
    *, trust: Trust, actor: Any | None, reference: str, name: str = "", note: str = ""
) -> ImplicatedPerson:
    """Record someone implicated in the case, by the reference court papers use and, where known,
    their name (encrypted; a blind index of it is kept for matching payees). Refuses a blank or
    repeated reference, and a name with nothing left to match once accents are set aside."""
    require(
        actor,
        Action.ORDER_MANAGE,
        trust,
        "Only a trustee of the trust records implicated people.",
        "not_trustee",
        system=True,
    )
    reference = " ".join((reference or "").split())
    if not reference:
        raise field_error(
            "reference", "Say how court papers refer to this person.", code="required"
        )
    name = " ".join((name or "").split())
    if name and not crypto.normalise_for_index(name):
        raise field_error(
            "name", "The name has no letters or digits once accents are set aside.", code="bad_name"
        )
    person = ImplicatedPerson(trust=trust, reference=reference[:100], created_by=_actor(actor))
    if name or note:
        person.token = crypto.encrypt_text(
            json.dumps({"name": name, "note": (note or "").strip()}, ensure_ascii=False),
            context=f"implicated-person:{person.uid}",
        )
    person.name_index = crypto.blind_index(name, purpose=IMPLICATED_PURPOSE) if name else ""
    try:
        with transaction.atomic():
            person.save()
            audit_record(
                action="implicated_person.added",
                actor=actor,
                trust_id=trust.pk,
                object_type="implicated_person",
                object_id=person.pk,
                # The reference court papers use; the name stays encrypted, out of the log.
                changes={"reference": person.reference, "name_recorded": bool(name)},
            )
    except IntegrityError as exc:
        raise field_error(
            "reference", f"{reference} is already recorded in this trust", code="duplicate"
        ) from exc
    return person


def implicated_person_matches(*, trust: Trust, name: str) -> list[ImplicatedPerson]:
    """The implicated people of ``trust`` whose recorded name equals ``name`` (after the blind
    index's normalisation: case, accents and spacing do not matter). Decrypts nothing."""
    if not crypto.normalise_for_index(name or ""):
        return []
    index = crypto.blind_index(name, purpose=IMPLICATED_PURPOSE)
    return list(ImplicatedPerson.objects.filter(trust=trust, name_index=index))
