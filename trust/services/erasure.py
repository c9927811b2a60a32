"""Erasing a child's identifying data once the trust is closed and its retention period has passed
(DOMAIN.md rule 17, docs/security.md "Retention and erasure").

Erasure is crypto-shredding: everything identifying about the child (the identity, the date of
birth, request purposes and reasons, document titles and files) is encrypted under the child's
own data key, and erasing destroys that key (``Beneficiary.data_key_token``). The ledger, the
audit trail and the pseudonym stay, and stay verifiable: they never held the child's identity.

Two trustees: one proposes (``erasure_propose``), another confirms (``erasure_confirm``), which
erases at once; any trustee may withdraw a proposal (``erasure_withdraw``). What other apps keep
about the child outside the data key (the disbursements app: a payee's name and blind index, the
stored document files) is erased by steps they register with ``erasure_step_register`` in their
``AppConfig.ready``, in the same transaction, so ``trust`` never imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from trust.access import require
from trust.audit.events import audit_record
from trust.errors import field_error
from trust.models import Beneficiary, BeneficiaryIdentity, Erasure, Trust
from trust.roles import Action
from trust.services.closing import trust_today

# A step of every erasure that another app adds: called with the child (locked, inside the
# erasure's transaction), it blanks what it keeps about them and returns counts for the audit
# event (no values).
ErasureStep = Callable[[Beneficiary], dict[str, int]]
_ERASURE_STEPS: dict[str, ErasureStep] = {}

REASON_MIN, REASON_MAX = 5, 500


def erasure_step_register(name: str, step: ErasureStep) -> None:
    """Add ``step`` to every ``erasure_confirm``, under ``name`` (registering again replaces)."""
    _ERASURE_STEPS[name] = step


def years_after(day: date, years: int) -> date:
    """``day`` moved on by ``years`` calendar years; 29 February becomes 1 March in a year
    without one."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def retention_ends(trust: Trust) -> date | None:
    """The day from which the children's identifying data may be erased: the closing day plus
    the retention period, in calendar years (``None`` while the trust is open)."""
    if trust.status != Trust.Status.CLOSED or trust.closed_on is None:
        return None
    return years_after(trust.closed_on, trust.retention_years)


def retention_refusal(trust: Trust) -> ValidationError | None:
    """Why no child of ``trust`` may be erased yet (``None`` once the retention period is over):
    the trust is open, or the period runs until a day still to come in the trust's calendar."""
    ends = retention_ends(trust)
    if ends is None:
        return ValidationError(
            "The trust is still open: identifying data is erased only after it closes and its "
            "retention period has passed.",
            code="trust_open",
        )
    if trust_today(trust) < ends:
        return ValidationError(
            f"The retention period ends on {ends:%Y-%m-%d} ({trust.retention_years} years "
            f"after the trust closed on {trust.closed_on:%Y-%m-%d}): an erasure may be proposed "
            "from that day.",
            code="retention_running",
        )
    return None


def _refuse_unless_trustee(actor: Any, beneficiary: Beneficiary) -> None:
    if getattr(actor, "pk", None) is None:
        raise ValidationError("An erasure needs a signed-in trustee.", code="no_actor")
    require(
        actor,
        Action.IDENTITY_ERASE,
        beneficiary,
        "Only a trustee of the trust erases a child's identifying data.",
        "not_trustee",
    )


def erasure_propose(*, beneficiary: Beneficiary, actor: Any, reason: str) -> Erasure:
    """Propose erasing ``beneficiary``'s identifying data; another trustee confirms it.

    Refuses, writing nothing: anyone but a trustee of the trust (``not_trustee``); a reason
    shorter than five characters or longer than 500 (``reason``); a trust still open
    (``trust_open``) or whose retention period has not passed, in calendar years from the
    closing day, by the trust's own calendar (``retention_running``); a child already erased
    (``erased``) or with a proposal already open (``already_proposed``). The audit event holds
    ids and the pseudonym, never the reason (free text)."""
    _refuse_unless_trustee(actor, beneficiary)
    reason = " ".join((reason or "").split())
    if len(reason) < REASON_MIN:
        raise field_error(
            "reason",
            "Say why (at least five characters): e.g. the retention period.",
            code="required",
        )
    if len(reason) > REASON_MAX:
        raise field_error("reason", f"At most {REASON_MAX} characters.", code="too_long")
    try:
        with transaction.atomic():
            child = Beneficiary.objects.select_for_update().get(pk=beneficiary.pk)
            trust = Trust.objects.get(pk=child.trust_id)
            if (refusal := retention_refusal(trust)) is not None:
                raise refusal
            if child.erased:
                raise ValidationError(
                    f"{child.pseudonym}'s identifying data was erased on "
                    f"{timezone.localtime(child.identity_erased_at):%Y-%m-%d}.",
                    code="erased",
                )
            if Erasure.objects.filter(beneficiary=child, status=Erasure.Status.PROPOSED).exists():
                raise ValidationError(
                    f"An erasure of {child.pseudonym} is already proposed: confirm or withdraw it.",
                    code="already_proposed",
                )
            erasure = Erasure.objects.create(beneficiary=child, reason=reason, proposed_by=actor)
            audit_record(
                action="beneficiary.erasure_proposed",
                actor=actor,
                trust_id=child.trust_id,
                object_type="beneficiary",
                object_id=child.pk,
                changes={
                    "erasure": erasure.pk,
                    "pseudonym": child.pseudonym,
                    "retention_ends": retention_ends(trust),
                },
            )
    except IntegrityError as exc:  # another trustee proposed at the same moment
        raise ValidationError(
            f"An erasure of {beneficiary.pseudonym} is already proposed: confirm or withdraw it.",
            code="already_proposed",
        ) from exc
    return erasure


def _locked(erasure: Erasure) -> tuple[Beneficiary, Erasure]:
    """The child, then the erasure, both locked: always in this order (as ``erasure_propose``
    locks the child), so two decisions on one child wait for each other instead of deadlocking."""
    child = Beneficiary.objects.select_for_update().get(pk=erasure.beneficiary_id)
    return child, Erasure.objects.select_for_update().get(pk=erasure.pk)


def erasure_confirm(*, erasure: Erasure, actor: Any) -> Erasure:
    """Confirm a proposed erasure and erase at once, in one transaction of its own: the child's
    data key is destroyed (``data_key_token`` and the date of birth emptied, ``identity_erased_at``
    set), the identity row emptied, every registered step run (the disbursements app blanks
    payees and the document files), the erasure marked done by ``actor``, one audit event.

    Refuses, changing nothing: anyone but a trustee of the trust (``not_trustee``); the trustee
    who proposed it (``same_trustee``: two trustees, which the database also enforces); a
    proposal withdrawn (``withdrawn``); a trust not closed, or whose retention period runs again
    after a change of its terms (``trust_open``, ``retention_running``). Confirming an erasure
    already done returns it, changing nothing (a double click)."""
    beneficiary = erasure.beneficiary
    _refuse_unless_trustee(actor, beneficiary)
    if erasure.proposed_by_id == actor.pk:
        raise ValidationError(
            "You proposed this erasure: another trustee of the trust confirms it.",
            code="same_trustee",
        )
    with transaction.atomic(durable=True):
        child, locked = _locked(erasure)
        if locked.status == Erasure.Status.DONE:
            return locked
        if locked.status == Erasure.Status.WITHDRAWN:
            raise ValidationError("This proposal was withdrawn.", code="withdrawn")
        if locked.proposed_by_id == actor.pk:
            raise ValidationError(
                "You proposed this erasure: another trustee of the trust confirms it.",
                code="same_trustee",
            )
        trust = Trust.objects.get(pk=child.trust_id)
        if (refusal := retention_refusal(trust)) is not None:
            raise refusal
        now = timezone.now()
        had = {
            "date_of_birth": bool(child.dob_token),
            "identity": BeneficiaryIdentity.objects.filter(beneficiary=child)
            .exclude(token="")
            .exists(),
        }
        child.data_key_token = ""
        child.dob_token = ""
        child.identity_erased_at = now
        child.save(update_fields=["data_key_token", "dob_token", "identity_erased_at"])
        BeneficiaryIdentity.objects.filter(beneficiary=child).update(token="")
        steps = {name: step(child) for name, step in _ERASURE_STEPS.items()}
        locked.status = Erasure.Status.DONE
        locked.decided_by = actor
        locked.decided_at = now
        locked.save(update_fields=["status", "decided_by", "decided_at"])
        audit_record(
            action="beneficiary.identity_erased",
            actor=actor,
            trust_id=child.trust_id,
            object_type="beneficiary",
            object_id=child.pk,
            changes={
                "erasure": locked.pk,
                "pseudonym": child.pseudonym,
                "proposed_by": locked.proposed_by_id,
                "confirmed_by": actor.pk,
                "erased": had,
                "steps": steps,
            },
        )
    # The caller's copies: the key they may hold unwrapped is gone with the token.
    beneficiary.forget_data_key()
    beneficiary.data_key_token, beneficiary.dob_token = "", ""
    beneficiary.identity_erased_at = now
    erasure.status, erasure.decided_by, erasure.decided_at = locked.status, actor, now
    return locked


def erasure_withdraw(*, erasure: Erasure, actor: Any) -> Erasure:
    """Withdraw a proposed erasure (any trustee of the trust, the proposer too): nothing is
    erased. Refuses anyone but a trustee (``not_trustee``) and an erasure already done
    (``done``); withdrawing a withdrawn proposal returns it, changing nothing."""
    _refuse_unless_trustee(actor, erasure.beneficiary)
    with transaction.atomic():
        child, locked = _locked(erasure)
        if locked.status == Erasure.Status.WITHDRAWN:
            return locked
        if locked.status == Erasure.Status.DONE:
            raise ValidationError(
                "This erasure was carried out; it cannot be withdrawn.", code="done"
            )
        locked.status = Erasure.Status.WITHDRAWN
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "decided_by", "decided_at"])
        audit_record(
            action="beneficiary.erasure_withdrawn",
            actor=actor,
            trust_id=child.trust_id,
            object_type="beneficiary",
            object_id=child.pk,
            changes={
                "erasure": locked.pk,
                "pseudonym": child.pseudonym,
                "proposed_by": locked.proposed_by_id,
            },
        )
    erasure.status, erasure.decided_by, erasure.decided_at = (
        locked.status,
        actor,
        locked.decided_at,
    )
    return locked
