"""What ``check_ledger`` checks of disbursements (registered in ``DisbursementsConfig.ready``).

- **reservation** (DOMAIN rule 3): no sub-ledger has more reserved by approved, unpaid requests
  than its balance.
- **payments-in-transit**: per trust and currency, the transit accounts hold exactly what the
  payments not yet cleared put there (sent + fee in the trust's currency when the partner is paid
  in it; the fee in the trust's currency and the payout in the partner's otherwise).
- **payment-entry**: each payment's entry charged its sub-ledger what was sent (and the fee entry
  its fee), and each step's entry exists.
- **payment-status**: the request's status agrees with its payment (paid: open; acknowledged:
  arrived recorded; returned: came back recorded).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from django.db.models import Exists, F, OuterRef, Q, Sum

from disbursements.models import RESERVING, DisbursementRequest, Payment, Status
from trust.invariants import Violation
from trust.models import Account, Posting


def payment_checks(trust_id: int | None, limit: int, add: Callable[[Violation], None]) -> None:
    requests = DisbursementRequest.objects.all()
    payments = Payment.objects.all()
    accounts = Account.objects.all()
    if trust_id:
        requests = requests.filter(trust_id=trust_id)
        payments = payments.filter(trust_id=trust_id)
        accounts = accounts.filter(trust_id=trust_id)

    reserved = (
        requests.filter(status__in=RESERVING)
        .values("sub_ledger_id", "sub_ledger__code", "sub_ledger__balance_minor", "trust_id")
        .annotate(total=Sum("reserve_minor"))
        .filter(total__gt=F("sub_ledger__balance_minor"))
        .order_by("sub_ledger_id")[:limit]
    )
    for row in reserved:
        add(
            Violation(
                "reservation",
                f"{row['sub_ledger__code']} (trust #{row['trust_id']})",
                f"approved requests reserve {row['total']}, more than the balance"
                f" {row['sub_ledger__balance_minor']}",
            )
        )

    expected: dict[tuple[int, str], int] = defaultdict(int)
    open_ = payments.filter(settlement_entry__isnull=True)
    for t, ccy, total in (
        open_.filter(payout_currency=F("currency"))
        .values_list("trust_id", "currency")
        .annotate(total=Sum(F("sent_minor") + F("fee_minor")))
    ):
        expected[(t, ccy)] += total
    cross = open_.exclude(payout_currency=F("currency"))
    for t, ccy, total in cross.values_list("trust_id", "currency").annotate(total=Sum("fee_minor")):
        expected[(t, ccy)] += total
    for t, ccy, total in cross.values_list("trust_id", "payout_currency").annotate(
        total=Sum("payout_minor")
    ):
        expected[(t, ccy)] += total
    actual: dict[tuple[int, str], int] = defaultdict(int)
    for t, ccy, total in (
        accounts.filter(role=Account.Role.IN_TRANSIT)
        .values_list("trust_id", "currency")
        .annotate(total=Sum("balance_minor"))
    ):
        actual[(t, ccy)] += total
    for key in sorted(set(expected) | set(actual)):
        if expected[key] != actual[key]:
            add(
                Violation(
                    "payments-in-transit",
                    f"trust #{key[0]} {key[1]}",
                    f"transit accounts hold {actual[key]}; open payments account for"
                    f" {expected[key]}",
                )
            )

    charged = Posting.objects.filter(
        entry_id=OuterRef("payment_entry_id"),
        account_id=OuterRef("request__sub_ledger_id"),
        amount_minor=OuterRef("sent_minor"),
    )
    fee_charged = Posting.objects.filter(
        entry_id=OuterRef("fee_entry_id"), amount_minor=OuterRef("fee_minor")
    )
    bad = payments.filter(~Exists(charged) | (Q(fee_minor__gt=0) & ~Exists(fee_charged))).order_by(
        "pk"
    )
    for request_id in bad.values_list("request_id", flat=True)[:limit]:
        add(
            Violation(
                "payment-entry",
                f"payment of request #{request_id}",
                "its entries do not charge what was sent and the fee",
            )
        )

    consistent = (
        Q(request__status=Status.PAID, settlement_entry__isnull=True, returned_minor__isnull=True)
        | Q(
            request__status=Status.ACKNOWLEDGED,
            arrived_minor__isnull=False,
            settlement_entry__isnull=False,
        )
        | Q(
            request__status=Status.RETURNED,
            returned_minor__isnull=False,
            return_entry__isnull=False,
            settlement_entry__isnull=False,
        )
    )
    for payment in (
        payments.exclude(consistent).order_by("pk").values("request_id", "request__status")[:limit]
    ):
        add(
            Violation(
                "payment-status",
                f"request #{payment['request_id']}",
                f"is {payment['request__status']} but its payment says otherwise",
            )
        )
    paid_without = (
        requests.filter(status__in=[Status.PAID, Status.ACKNOWLEDGED, Status.RETURNED])
        .filter(payment__isnull=True)
        .order_by("pk")
        .values_list("pk", "status")[:limit]
    )
    for pk, status in paid_without:
        add(Violation("payment-status", f"request #{pk}", f"is {status} with no payment"))
