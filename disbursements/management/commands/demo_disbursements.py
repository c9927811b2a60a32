"""manage.py demo_disbursements: the demo's care partners vetted, the demo caseworker working for
the first of them, and a few requests in each state. For the embedded demo only; running it again
changes nothing (every step is a retry of the first)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from moneyed import Money

from disbursements.models import CarePartner, Status
from disbursements.services import (
    care_partner_set_payout,
    care_partner_vet,
    caseworker_add,
    policy_set_dual_approval,
    request_approve,
    request_draft,
    request_reject,
    request_submit,
)
from disbursements.services.payments import Transfer, payment_acknowledge, payment_record
from trust.demo_logins import SECOND_CASEWORKER
from trust.models import Beneficiary
from trust.roles import CASEWORKER, TRUSTEE


def payout_currency(beneficiary: Beneficiary) -> str:
    partner = beneficiary.care_partner
    return (partner.payout_currency if partner else "") or beneficiary.trust.base_currency


# (key, pseudonym, category, amount, purpose, what happens to it). Amounts in PHP are in the
# partner's currency: the trustee reserves USD for them and the bank's (invented) advice gives
# what was sent and the fee.
DEMO_REQUESTS = [
    ("demo-1", "MV-1", "education", "180.00 USD", "School fees and uniform, first term", "approve"),
    ("demo-2", "MV-1", "medical", "65.00 USD", "Dental check-up and treatment", "submit"),
    ("demo-3", "MV-1", "mental_health", "240.00 USD", "Eight counselling sessions", "reject"),
    ("demo-4", "MV-1", "education", "9000.00 PHP", "School supplies and books", "acknowledge"),
    ("demo-5", "MV-1", "transport", "2500.00 PHP", "School bus, three months", "pay"),
    # Above the demo trust's threshold (1,000.00 USD): the demo trustee gave the first of two
    # approvals; the second trustee (trustee2) can give the second.
    ("demo-6", "MV-1", "shelter", "1200.00 USD", "Rent of a safe room, six months", "first"),
]
DEMO_DUAL_APPROVAL = "1000.00"
# For the PHP requests: (USD reserved, USD sent, USD fee, PHP that arrived).
DEMO_PAYMENTS = {
    "demo-4": ("170.00", "160.00", "7.50", "8750.00"),
    "demo-5": ("50.00", "45.00", "7.50", None),
}


class Command(BaseCommand):
    help = "Vet the demo care partners and add demo disbursement requests (demo only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="allow on a production database")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO_ALLOWED and not options["force"]:
            raise CommandError("Demo data are for the embedded demo only (TRUST_ALLOW_DEMO=1).")
        users = get_user_model().objects
        trustee = users.filter(username=TRUSTEE).first()
        caseworker = users.filter(username=CASEWORKER).first()
        if trustee is None or caseworker is None:
            raise CommandError("Run `manage.py demo_users` first.")
        partners = list(CarePartner.objects.filter(name__endswith="(demo)").order_by("name"))
        if not partners:
            raise CommandError("Run `manage.py seed_demo` first.")
        today = timezone.localdate()
        with transaction.atomic():
            for partner in partners:
                if partner.vetting_status != CarePartner.Vetting.APPROVED:
                    care_partner_vet(
                        partner=partner,
                        actor=trustee,
                        status=CarePartner.Vetting.APPROVED,
                        vetted_on=today - timedelta(days=60),
                        expires_on=today + timedelta(days=305),
                    )
                if not partner.payout_token:
                    care_partner_set_payout(
                        partner=partner,
                        actor=trustee,
                        currency="PHP" if partner.country == "PH" else "USD",
                        details={"bank": "Invented Bank (demo)", "account_number": "DEMO-0001"},
                    )
            home = Beneficiary.objects.filter(pseudonym="MV-1").first()
            if home is None or home.care_partner is None:
                raise CommandError("The demo trust has no MV-1 in a partner's care.")
            caseworker_add(partner=home.care_partner, user=caseworker, actor=trustee)
            # A caseworker at another partner of the same trust: they see none of MV-1's things.
            other = (
                CarePartner.objects.filter(
                    name__endswith="(demo)", beneficiaries__trust_id=home.trust_id
                )
                .exclude(pk=home.care_partner_id)
                .order_by("name")
                .first()
            )
            second = users.filter(username=SECOND_CASEWORKER).first()
            if other is not None and second is not None:
                caseworker_add(partner=other, user=second, actor=trustee)
            policy_set_dual_approval(
                trust=home.trust,
                actor=trustee,
                threshold=Money(DEMO_DUAL_APPROVAL, home.trust.base_currency),
            )
            made = 0
            for key, pseudonym, category, amount, purpose, then in DEMO_REQUESTS:
                beneficiary = Beneficiary.objects.filter(
                    pseudonym=pseudonym, care_partner=home.care_partner
                ).first()
                if beneficiary is None:
                    continue
                figure, currency = amount.split()
                if currency not in (beneficiary.trust.base_currency, payout_currency(home)):
                    continue
                request = request_draft(
                    actor=caseworker,
                    beneficiary=beneficiary,
                    category=category,
                    amount=Money(figure, currency),
                    purpose=purpose,
                    idempotency_key=key,
                )
                if request.status == Status.DRAFT:
                    request = request_submit(request=request, actor=caseworker)
                base = beneficiary.trust.base_currency
                if request.status == Status.SUBMITTED and then == "first":
                    # The same trustee approving again changes nothing: safe on a re-run.
                    request = request_approve(request=request, actor=trustee)
                if request.status == Status.SUBMITTED and then in ("approve", "pay", "acknowledge"):
                    reserve = Money(DEMO_PAYMENTS[key][0], base) if key in DEMO_PAYMENTS else None
                    request = request_approve(request=request, actor=trustee, reserve=reserve)
                if request.status == Status.APPROVED and key in DEMO_PAYMENTS:
                    _, sent, fee, _ = DEMO_PAYMENTS[key]
                    payment_record(
                        request=request,
                        actor=trustee,
                        transfer=Transfer(
                            sent=Money(sent, base),
                            payout=request.amount,
                            fee=Money(fee, base),
                            value_date=today,
                            reference=f"DEMO-TRF-{request.uid.hex[:8].upper()}",
                        ),
                    )
                    request.refresh_from_db()
                arrived = DEMO_PAYMENTS.get(key, (None,) * 4)[3]
                if request.status == Status.PAID and then == "acknowledge" and arrived:
                    payment_acknowledge(
                        request=request,
                        actor=caseworker,
                        arrived=Money(arrived, request.currency),
                        note="The correspondent bank deducted its charge (demo)",
                    )
                elif request.status == Status.SUBMITTED and then == "reject":
                    request = request_reject(
                        request=request, actor=trustee, reason="Covered by the partner's own fund"
                    )
                made += 1
        self.stdout.write(
            f"Demo disbursements: {len(partners)} partners vetted, caseworker at"
            f" {home.care_partner}, {made} requests."
        )
