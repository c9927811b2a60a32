"""The books come through random work and injected faults unchanged (issue 24).

A hypothesis state machine drives the real services on one trust per example: receipts (with and
without a payer owing on a restitution order) and their reversals; disbursement requests drafted,
submitted, approved (two trustees above the trust's threshold), rejected and cancelled; payments
in the trust's currency and across currencies; acknowledgements in full and short; returned
transfers; and the lock date moving forward. Between those steps it retries calls with the same
idempotency key (the same object back, nothing written), makes refused calls (nothing written), and
fails a service *inside* its transaction at a random statement (nothing written, and the same call
then succeeds). On PostgreSQL with real commits it also runs the same call twice at once.

After every step: ``ledger_violations`` is clean (which includes the disbursement checks:
reservations, payments in transit, request and payment states), the trust identity holds per
currency, no sub-ledger is below zero or below what approved requests reserve on it, every request
is in the state the test's own model says and agrees with its payment, and the bank holds what the
model computes from the receipts and the transfers.

Faults inside a step (``FaultAt``, a database execute wrapper) fail one of the statements a
service call runs, chosen at random among them (its reads before its transaction included):
before it is sent (a dropped connection), after it ran (the reply lost), or with a real server
error in its place (PostgreSQL cancels it by ``statement_timeout``, aborting the transaction;
SQLite refuses a missing table).

Replaying a run: each run prints its seed on the terminal (``BooksMachine: STATEFUL_SEED=...``)
and a tally of what it did; ``STATEFUL_SEED=<n> pytest tests/test_stateful_books.py`` replays it
(``--hypothesis-seed`` does not reach a state machine run this way), and a failure prints its
steps and a ``@reproduce_failure`` blob (to put on ``BooksMachine``). ``STATEFUL_EXAMPLES`` and
``STATEFUL_STEPS`` scale the run (the defaults take about a minute on each backend; shrinking a
failure can take five minutes more).
"""

from __future__ import annotations

import contextlib
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, note, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from moneyed import Money

from disbursements.models import Approval, DisbursementRequest, Payment, RequestEvent, Status
from disbursements.selectors import reserved_by_sub_ledger
from disbursements.services import (
    care_partner_create,
    care_partner_vet,
    caseworker_add,
    policy_set_dual_approval,
    request_approve,
    request_cancel,
    request_draft,
    request_reject,
    request_submit,
)
from disbursements.services.payments import (
    Transfer,
    payment_acknowledge,
    payment_record,
    payment_return,
)
from tests.factories import TrustFactory, appoint, person
from trust.audit.models import AuditEvent
from trust.invariants import ledger_violations
from trust.models import (
    Account,
    Allocation,
    AllocationShare,
    Beneficiary,
    JournalEntry,
    OrderLine,
    OutboxMessage,
    Posting,
    Receipt,
    Trust,
)
from trust.selectors import trust_identity
from trust.services.ledger import ledger_checks_now
from trust.services.orders import LineSpec, order_create
from trust.services.people import beneficiary_create, defendant_create
from trust.services.receipts import receipt_record, receipt_reverse
from trust.services.trusts import trust_set_lock_date

SEED = int(os.environ.get("STATEFUL_SEED") or random.SystemRandom().randrange(2**32))
EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES") or 0)  # 0: the defaults in _settings
STEPS = int(os.environ.get("STATEFUL_STEPS") or 40)
THRESHOLD = 400_00  # USD minor units: above it a second trustee approves
_names = count(1)
# Known bug: ``receipt_reverse`` checks that each sub-ledger still holds its share, not that it
# also still holds what approved requests reserve on it, so a reversal can leave a beneficiary
# with less than is reserved (available < 0; check_ledger reports "reservation"). While True,
# the machine does not make such reversals (``test_reversal_keeps_what_is_reserved`` shows the
# bug); set it to False once that test passes.
REVERSAL_BUG = False
LOCK_CAP = 8  # the lock date stays at least this many days before today
OPEN = (Status.DRAFT, Status.SUBMITTED, Status.APPROVED)
TALLY: Counter[str] = Counter()  # what the run did, printed at its end


def usd(minor: int) -> Money:
    return Money(Decimal(minor).scaleb(-2), "USD")


def php(minor: int) -> Money:
    return Money(Decimal(minor).scaleb(-2), "PHP")


def codes(error: ValidationError) -> set[str]:
    if hasattr(error, "error_dict"):
        return {e.code for errors in error.error_dict.values() for e in errors}
    return {e.code for e in error.error_list}


# --- faults inside a step ---------------------------------------------------------------------


class InjectedFault(OperationalError):
    """The connection failed at the chosen statement (raised by the test, not the database)."""


FAULT_MODES = ["before", "after", "server"]
TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE", "ROLLBACK")


class FaultAt:
    """A database execute wrapper that fails the ``at``-th statement a call runs: ``before`` it
    is sent (a dropped connection), ``after`` it ran (the reply lost), or with a real ``server``
    error in its place: PostgreSQL cancels it by ``statement_timeout``, which aborts the
    transaction; SQLite refuses a statement on a missing table. (Inside the test's own
    transaction, outside any of the service's, a PostgreSQL error would abort the test's
    transaction rather than the service's: there the ``server`` mode fails as ``before``.)"""

    def __init__(self, at: int, mode: str) -> None:
        self.at, self.mode = at, mode
        self.depth = len(connection.atomic_blocks)  # the caller's (the test's) transaction
        self.seen = 0
        self.fired = False

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        # Savepoints are how the test's transaction holds the service's: not the service's own
        # statements (a lost reply to the outermost RELEASE would be a lost COMMIT in production,
        # work done that the caller cannot know of, which the retry by key then finds).
        if self.fired or sql.lstrip().upper().startswith(TRANSACTION_CONTROL):
            return execute(sql, params, many, context)
        self.seen += 1
        if self.seen < self.at:
            return execute(sql, params, many, context)
        self.fired = True
        in_service = len(connection.atomic_blocks) > self.depth or not connection.in_atomic_block
        if self.mode == "before" or (self.mode == "server" and not in_service):
            raise InjectedFault(f"injected: connection lost before statement {self.at}")
        if self.mode == "after":
            execute(sql, params, many, context)
            raise InjectedFault(f"injected: connection lost after statement {self.at}")
        cursor = context["cursor"]
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL statement_timeout = 1")
            cursor.execute("SELECT pg_sleep(1)")
        else:
            cursor.execute("SELECT * FROM injected_fault_no_such_table")
        raise AssertionError("the server error did not happen")  # pragma: no cover


# --- operations: a call, what the model expects of it, and what it changes --------------------


@dataclass
class Op:
    """One service call. ``expect`` is "write" (it writes and ``done`` updates the model), "same"
    (a retry: ``same_as`` comes back and nothing is written), "refuse" (a ``ValidationError``
    with one of ``refusals``, nothing written)."""

    name: str
    call: Callable[[], Any]
    expect: str
    done: Callable[[Any], None] = lambda result: None
    identity: Callable[[Any], Any] = lambda result: result.pk
    refusals: tuple[str, ...] = ()
    same_as: Any = None
    retry_while: Callable[[], bool] = lambda: True
    created: str = ""  # what a concurrent duplicate must make exactly one of
    made: Any = None  # the identity of what the call returned, once it succeeded


@dataclass
class Req:
    """The model of a request."""

    pk: int
    caseworker: Any
    partner_currency: str
    currency: str
    amount: int
    status: str = Status.DRAFT
    approvals: list[Any] = field(default_factory=list)
    reserve: int | None = None
    payment: dict[str, int] | None = None


class BooksMachine(RuleBasedStateMachine):
    """See the module docstring. ``concurrent`` is set by the PostgreSQL test with real commits."""

    concurrent = False
    receipts = Bundle("receipts")
    requests = Bundle("requests")

    def __init__(self) -> None:
        super().__init__()
        n = next(_names)
        self.today = timezone.localdate()
        self.trust = TrustFactory()
        self.stale_trust = Trust.objects.get(pk=self.trust.pk)  # a second process's copy
        self.trustees = [
            appoint(person(f"sm{n}-trustee-a"), self.trust),
            appoint(person(f"sm{n}-trustee-b"), self.trust),
        ]
        t1 = self.trustees[0]
        self.partners: dict[str, Any] = {}
        self.caseworkers: dict[str, Any] = {}
        for currency in ("PHP", "USD"):
            partner = care_partner_create(
                actor=t1, name=f"Invented Care {currency} {n}", country="PH",
                payout_currency=currency,
            )  # fmt: skip
            care_partner_vet(
                partner=partner, actor=t1, status="approved",
                vetted_on=self.today - timedelta(days=30),
                expires_on=self.today + timedelta(days=300),
            )  # fmt: skip
            self.partners[currency] = partner
            self.caseworkers[currency] = person(f"sm{n}-caseworker-{currency.lower()}")
            caseworker_add(partner=partner, user=self.caseworkers[currency], actor=t1)
        # MV-1 and MV-3 in the care of the partner paid in pesos, MV-2 of the one paid in dollars.
        self.children: list[Beneficiary] = [
            beneficiary_create(trust=self.trust, pseudonym="MV-1", care_partner=self.partners["PHP"]),
            beneficiary_create(trust=self.trust, pseudonym="MV-2", care_partner=self.partners["USD"]),
            beneficiary_create(trust=self.trust, pseudonym="MV-3", care_partner=self.partners["PHP"]),
        ]  # fmt: skip
        self.sub_ledgers = {b.pk: b.accounts.get() for b in self.children}
        d1 = defendant_create(trust=self.trust, name=f"Invented Defendant One {n}")
        d2 = defendant_create(trust=self.trust, name=f"Invented Defendant Two {n}")
        self.payers: list[Any] = [d1, d2, None]  # no payer: all of it stays unallocated
        mv1, mv2, mv3 = self.children
        order_create(
            trust=self.trust, actor=None, court="Fictional District Court", case_number=f"SM-{n}",
            judgment_date=self.today - timedelta(days=200), total=usd(6_000_00 + 3_000_00 + 2_000_00),
            lines=[
                LineSpec(mv1, usd(6_000_00), [d1, d2]),  # joint and several
                LineSpec(mv2, usd(3_000_00), [d1]),
                LineSpec(mv3, usd(2_000_00), [d2]),
            ],
        )  # fmt: skip
        policy_set_dual_approval(trust=self.trust, actor=t1, threshold=usd(THRESHOLD))
        self.bank = self.trust.accounts.get(role=Account.Role.BANK, currency="USD")
        # The model.
        self.receipt_model: dict[int, tuple[int, bool]] = {}  # pk -> (amount, reversed)
        self.reqs: dict[int, Req] = {}
        self.bank_minor = 0
        self.done_ops: list[Op] = []
        self.keys = count(1)
        self.references: list[str] = []

    @initialize(target=receipts)
    def opening_receipts(self) -> Any:
        """Money to work with from the start: D1 pays MV-1 and MV-2, D2 pays MV-1 and MV-3."""
        made = []
        for payer, amount in [(self.payers[0], 2_400_00), (self.payers[1], 1_600_00)]:
            receipt = receipt_record(
                trust=self.trust, actor=self.trustees[0], amount=usd(amount),
                source=Receipt.Source.CLERK, received_on=self.today - timedelta(days=30),
                bank_account=self.bank, idempotency_key=f"opening-{payer.pk}", payer=payer,
            )  # fmt: skip
            self.receipt_model[receipt.pk] = (amount, False)
            self.bank_minor += amount
            made.append(receipt.pk)
        self.open_requests()
        return multiple(*made)

    def open_requests(self) -> None:
        t1 = self.trustees[0]
        # Requests under way from the start, so that payments and what follows are reached.
        mv1, mv2 = self.children[:2]
        for child, amount, approvals, reserve in [
            (mv2, usd(150_00), 1, None),  # same currency, one approval
            (mv1, php(9_000_00), 1, 200_00),  # across currencies, 200.00 reserved
            (mv1, usd(500_00), 0, None),  # above the threshold: two approvals needed
        ]:
            currency = "PHP" if child.care_partner_id == self.partners["PHP"].pk else "USD"
            caseworker = self.caseworkers[currency]
            request = request_draft(
                actor=caseworker, beneficiary=child, category="education", amount=amount,
                purpose="School fees", idempotency_key=self.key("opening"),
            )  # fmt: skip
            request = request_submit(request=request, actor=caseworker)
            req = Req(request.pk, caseworker, currency, amount.currency.code, request.amount_minor)
            req.status = Status.SUBMITTED
            if approvals:
                request_approve(
                    request=request, actor=t1, reserve=usd(reserve) if reserve else None
                )
                req.status, req.approvals = Status.APPROVED, [t1]
                req.reserve = reserve or request.amount_minor
            self.reqs[request.pk] = req

    # --- running a call and judging it --------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything a call may write, for this trust."""
        t = self.trust.pk
        return {
            "entries": JournalEntry.objects.filter(trust_id=t).count(),
            "postings": Posting.objects.filter(entry__trust_id=t).count(),
            "receipts": list(
                Receipt.objects.filter(trust_id=t)
                .order_by("pk")
                .values_list("pk", "status", "unallocated_minor")
            ),
            "allocations": Allocation.objects.filter(receipt__trust_id=t).count(),
            "collected": list(
                OrderLine.objects.filter(order__trust_id=t)
                .order_by("pk")
                .values_list("pk", "collected_minor")
            ),
            "requests": list(
                DisbursementRequest.objects.filter(trust_id=t)
                .order_by("pk")
                .values_list("pk", "status", "reserve_minor")
            ),
            "approvals": Approval.objects.filter(request__trust_id=t).count(),
            "events": RequestEvent.objects.filter(request__trust_id=t).count(),
            "payments": list(
                Payment.objects.filter(trust_id=t)
                .order_by("pk")
                .values_list("pk", "arrived_minor", "returned_minor", "settlement_entry_id")
            ),
            "balances": list(
                Account.objects.filter(trust_id=t).order_by("pk").values_list("pk", "balance_minor")
            ),
            "lock_date": Trust.objects.values_list("lock_date", flat=True).get(pk=t),
            "audit": AuditEvent.objects.filter(trust_id=t).count(),
            "outbox": OutboxMessage.objects.count(),  # work queued for after the commit
        }

    def run(self, op: Op) -> Any:
        note(f"{op.name}: expect {op.expect} {op.refusals or ''}")
        before = self.snapshot()
        try:
            result = op.call()
        except ValidationError as exc:
            assert op.expect == "refuse", f"{op.name} refused: {exc.messages}"
            assert codes(exc) & set(op.refusals), (op.name, codes(exc), exc.messages)
            assert self.snapshot() == before, f"{op.name} was refused but wrote something"
            TALLY["refused: " + "/".join(sorted(codes(exc) & set(op.refusals)))] += 1
            return None
        return self.judge(op, before, result)

    def judge(self, op: Op, before: dict[str, Any], result: Any) -> Any:
        assert op.expect != "refuse", f"{op.name} was not refused (expected {op.refusals})"
        after = self.snapshot()
        if op.expect == "same":
            assert op.identity(result) == op.same_as, (op.name, op.identity(result), op.same_as)
            assert after == before, f"the retry {op.name} wrote something"
            TALLY["same object back, nothing written"] += 1
            return result
        assert after["audit"] > before["audit"], f"{op.name} wrote no audit event"
        op.done(result)
        op.made = op.identity(result)
        TALLY["written: " + op.name.split(" #")[0].split(" (")[0].split(" ")[0]] += 1
        self.done_ops.append(op)
        return result

    @contextmanager
    def fault(self, at: int, mode: str) -> Iterator[FaultAt]:
        wrapper = FaultAt(at, mode)
        with connection.execute_wrapper(wrapper):
            yield wrapper

    # --- the model's views ----------------------------------------------------------------------

    def key(self, prefix: str) -> str:
        return f"{prefix}-{next(self.keys)}"

    def in_status(self, *statuses: str) -> list[int]:
        return sorted(pk for pk, r in self.reqs.items() if r.status in statuses)

    def live_receipts(self) -> list[int]:
        return sorted(pk for pk, (_, gone) in self.receipt_model.items() if not gone)

    def lock_open(self) -> bool:
        """The period may close further: up to ``LOCK_CAP`` days ago, so receipts are dated on
        both sides of it."""
        current = self.lock_date()
        return current is None or current < self.today - timedelta(days=LOCK_CAP)

    def lock_date(self) -> date | None:
        return Trust.objects.values_list("lock_date", flat=True).get(pk=self.trust.pk)

    def balance(self, beneficiary_id: int) -> int:
        return Account.objects.get(pk=self.sub_ledgers[beneficiary_id].pk).balance_minor

    def free(self, req: Req) -> int:
        """Balance less what the other approved requests on the sub-ledger reserve."""
        request = DisbursementRequest.objects.get(pk=req.pk)
        reserved = sum(
            r.reserve or 0
            for r in self.reqs.values()
            if r.status == Status.APPROVED and r.pk != req.pk
            and DisbursementRequest.objects.get(pk=r.pk).sub_ledger_id == request.sub_ledger_id
        )  # fmt: skip
        return self.balance(request.beneficiary_id) - reserved

    # --- the operations ---------------------------------------------------------------------------

    def op_receipt(self, data: st.DataObject) -> Op:
        amount = data.draw(st.integers(50_00, 3_000_00), "amount")
        received_on = self.today - timedelta(days=data.draw(st.integers(0, 20), "days ago"))
        payer = data.draw(st.sampled_from(self.payers), "payer")
        stale = data.draw(st.booleans(), "a stale copy of the trust")
        trust = self.stale_trust if stale else self.trust
        key = self.key("receipt")
        locked = self.lock_date()
        closed = locked is not None and received_on <= locked

        def call() -> Receipt:
            return receipt_record(
                trust=trust, actor=self.trustees[0], amount=usd(amount), received_on=received_on,
                source=Receipt.Source.CLERK, bank_account=self.bank, idempotency_key=key,
                payer=payer,
            )  # fmt: skip

        def done(receipt: Receipt) -> None:
            self.receipt_model[receipt.pk] = (amount, False)
            self.bank_minor += amount

        if closed:
            return Op("receipt in the closed period", call, "refuse",
                      refusals=("period_closed", "refused_by_database"))  # fmt: skip
        return Op(f"receipt {amount} on {received_on}", call, "write", done, created="receipt")

    def reversal_takes(self, pk: int) -> dict[int, int]:
        """Sub-ledger account id -> what reversing receipt ``pk`` takes from it (its shares)."""
        takes: dict[int, int] = {}
        for beneficiary_id, total in (
            AllocationShare.objects.filter(
                allocation__receipt_id=pk,
                allocation__method__in=[Allocation.Method.PRO_RATA, Allocation.Method.MANUAL],
            )
            .values_list("beneficiary_id")
            .annotate(total=Sum("amount_minor"))
            .order_by()
        ):
            takes[self.sub_ledgers[beneficiary_id].pk] = int(total)
        return takes

    def reversal_outcome(self, pk: int) -> str:
        """ "write"; "overdraft" when a sub-ledger no longer holds its share; "reserved" when it
        holds it but not also what approved requests reserve on it."""
        balances = dict(
            Account.objects.filter(trust=self.trust, role=Account.Role.SUB_LEDGER).values_list(
                "pk", "balance_minor"
            )
        )
        reserved = reserved_by_sub_ledger(self.trust)
        takes = self.reversal_takes(pk)
        if any(balances[acc] < take for acc, take in takes.items()):
            return "overdraft"
        if any(balances[acc] - take < reserved.get(acc, 0) for acc, take in takes.items()):
            return "reserved"
        return "write"

    def reversible(self) -> list[int]:
        """Live receipts, less those whose reversal meets the known bug (see REVERSAL_BUG)."""
        return [
            pk
            for pk in self.live_receipts()
            if not (REVERSAL_BUG and self.reversal_outcome(pk) == "reserved")
        ]

    def op_reverse(self, data: st.DataObject, pk: int | None = None) -> Op | None:
        pk = pk if pk is not None else data.draw(st.sampled_from(self.reversible()), "receipt")
        amount, gone = self.receipt_model[pk]
        reason = "Cheque bounced"

        def call() -> Receipt:
            return receipt_reverse(receipt=Receipt.objects.get(pk=pk), actor=self.trustees[0],
                                   reason=reason)  # fmt: skip

        def done(receipt: Receipt) -> None:
            assert receipt.status == Receipt.Status.REVERSED
            self.receipt_model[pk] = (amount, True)
            self.bank_minor -= amount

        if gone:
            return Op(f"reverse reversed receipt #{pk}", call, "same", same_as=pk)
        outcome = self.reversal_outcome(pk)
        if outcome == "overdraft":
            return Op(f"reverse spent receipt #{pk}", call, "refuse", refusals=("overdraft",))
        if outcome == "reserved":
            if REVERSAL_BUG:
                return None
            return Op(f"reverse reserved receipt #{pk}", call, "refuse",
                      refusals=("overdraft", "insufficient_funds", "reserved"))  # fmt: skip
        return Op(f"reverse receipt #{pk}", call, "write", done)

    def op_draft(self, data: st.DataObject) -> Op:
        child = data.draw(st.sampled_from(self.children), "child")
        partner_currency = "PHP" if child.care_partner_id == self.partners["PHP"].pk else "USD"
        currency = data.draw(st.sampled_from(sorted({"USD", partner_currency})), "currency")
        amount = (
            data.draw(st.integers(5_00, 900_00), "amount")
            if currency == "USD"
            else data.draw(st.integers(500_00, 40_000_00), "amount")
        )
        caseworker = self.caseworkers[partner_currency]
        key = self.key("draft")
        category = data.draw(st.sampled_from(["medical", "education", "shelter"]), "category")

        def call() -> DisbursementRequest:
            return request_draft(
                actor=caseworker, beneficiary=child, category=category,
                amount=Money(Decimal(amount).scaleb(-2), currency), purpose="Term fees",
                idempotency_key=key,
            )  # fmt: skip

        def done(request: DisbursementRequest) -> None:
            self.reqs[request.pk] = Req(request.pk, caseworker, partner_currency, currency, amount)

        return Op(f"draft {currency} {amount} for {child.pseudonym}", call, "write", done,
                  created="request")  # fmt: skip

    def op_submit(self, data: st.DataObject, pk: int | None = None) -> Op:
        req = self.reqs[pk or data.draw(st.sampled_from(self.in_status(Status.DRAFT)), "request")]

        def done(request: DisbursementRequest) -> None:
            req.status = Status.SUBMITTED

        return Op(
            f"submit #{req.pk}",
            lambda: request_submit(request=DisbursementRequest.objects.get(pk=req.pk),
                                   actor=req.caseworker),
            "write", done, retry_while=lambda: req.status == Status.SUBMITTED and not req.approvals,
        )  # fmt: skip

    def op_approve(self, data: st.DataObject, pk: int | None = None) -> Op:
        req = self.reqs[
            pk or data.draw(st.sampled_from(self.in_status(Status.SUBMITTED)), "request")
        ]
        trustee = data.draw(st.sampled_from(self.trustees), "trustee")
        reserve = None
        if req.currency == "USD":
            needed = req.amount
        elif req.reserve is not None:
            needed = req.reserve
        else:
            needed = reserve = data.draw(st.integers(10_00, 900_00), "reserve")

        def call() -> DisbursementRequest:
            return request_approve(
                request=DisbursementRequest.objects.get(pk=req.pk), actor=trustee,
                reserve=usd(reserve) if reserve is not None else None,
            )  # fmt: skip

        def still() -> bool:
            return (req.status == Status.APPROVED and trustee in req.approvals) or (
                req.status == Status.SUBMITTED and req.approvals[:1] == [trustee]
            )

        if req.approvals and req.approvals[0] == trustee:
            return Op(f"approve #{req.pk} again", call, "same", same_as=req.pk)
        if needed > self.free(req):
            return Op(f"approve #{req.pk} beyond the funds", call, "refuse",
                      refusals=("insufficient_funds",))  # fmt: skip

        def done(request: DisbursementRequest) -> None:
            req.approvals.append(trustee)
            req.reserve = needed
            dual = needed > THRESHOLD
            req.status = Status.SUBMITTED if dual and len(req.approvals) == 1 else Status.APPROVED
            assert request.status == req.status, (request.status, req.status)

        return Op(f"approve #{req.pk} ({needed})", call, "write", done, retry_while=still)

    def op_reject(self, data: st.DataObject) -> Op:
        req = self.reqs[data.draw(st.sampled_from(self.in_status(Status.SUBMITTED)), "request")]

        def done(request: DisbursementRequest) -> None:
            req.status = Status.REJECTED

        return Op(
            f"reject #{req.pk}",
            lambda: request_reject(request=DisbursementRequest.objects.get(pk=req.pk),
                                   actor=self.trustees[1], reason="Not within the care plan"),
            "write", done,
        )  # fmt: skip

    def op_cancel(self, data: st.DataObject) -> Op:
        pk = data.draw(
            st.sampled_from(self.in_status(Status.DRAFT, Status.SUBMITTED, Status.APPROVED)),
            "request",
        )
        req = self.reqs[pk]
        actor = data.draw(st.sampled_from([req.caseworker, *self.trustees]), "who cancels")

        def done(request: DisbursementRequest) -> None:
            req.status = Status.CANCELLED

        return Op(
            f"cancel #{pk}",
            lambda: request_cancel(request=DisbursementRequest.objects.get(pk=pk), actor=actor,
                                   reason="No longer needed"),
            "write", done,
        )  # fmt: skip

    def transfer_for(self, data: st.DataObject, req: Req) -> tuple[Transfer, int]:
        """A transfer for ``req`` and what it costs the sub-ledger (sent and fee)."""
        fee = data.draw(st.sampled_from([0, 0, 5_00, 12_50]), "fee")
        if req.currency == "USD":
            sent = req.amount
            payout = (
                None
                if req.partner_currency == "USD"
                else php(data.draw(st.integers(1_00, 60_000_00), "payout"))
            )
        else:
            assert req.reserve is not None
            sent = data.draw(st.integers(req.reserve * 3 // 4, req.reserve * 11 // 10), "sent")
            payout = php(req.amount)
        reference = f"TRF-{self.trust.pk}-{req.pk}"
        transfer = Transfer(
            sent=usd(sent), payout=payout, fee=usd(fee) if fee else None,
            value_date=self.today, reference=reference,
        )  # fmt: skip
        return transfer, sent + fee

    def op_pay(self, data: st.DataObject, pk: int | None = None) -> Op:
        req = self.reqs[
            pk or data.draw(st.sampled_from(self.in_status(Status.APPROVED)), "request")
        ]
        transfer, cost = self.transfer_for(data, req)

        def call() -> Payment:
            return payment_record(request=DisbursementRequest.objects.get(pk=req.pk),
                                  actor=self.trustees[1], transfer=transfer)  # fmt: skip

        if cost > self.free(req):
            return Op(f"pay #{req.pk} beyond the funds", call, "refuse",
                      refusals=("insufficient_funds",))  # fmt: skip

        def done(payment: Payment) -> None:
            req.status = Status.PAID
            req.payment = {
                "sent": payment.sent_minor, "fee": payment.fee_minor,
                "payout": payment.payout_minor, "cross": int(payment.cross_currency),
            }  # fmt: skip
            self.references.append(transfer.reference)

        return Op(f"pay #{req.pk} ({cost})", call, "write", done, created="payment")

    def op_acknowledge(self, data: st.DataObject, pk: int | None = None) -> Op:
        req = self.reqs[pk or data.draw(st.sampled_from(self.in_status(Status.PAID)), "request")]
        assert req.payment is not None
        payout = req.payment["payout"]
        short = payout > 1 and data.draw(st.booleans(), "short")
        arrived = data.draw(st.integers(1, payout - 1), "arrived") if short else payout
        currency = "PHP" if req.payment["cross"] else "USD"
        payment = req.payment

        def done(result: Payment) -> None:
            req.status = Status.ACKNOWLEDGED
            self.bank_minor -= payment["sent"] + payment["fee"]

        return Op(
            f"acknowledge #{req.pk} ({arrived} of {payout})",
            lambda: payment_acknowledge(
                request=DisbursementRequest.objects.get(pk=req.pk), actor=req.caseworker,
                arrived=Money(Decimal(arrived).scaleb(-2), currency),
                note="The bank deducted a charge" if short else "",
            ),
            "write", done,
        )  # fmt: skip

    def op_return(self, data: st.DataObject, pk: int | None = None) -> Op:
        req = self.reqs[pk or data.draw(st.sampled_from(self.in_status(Status.PAID)), "request")]
        assert req.payment is not None
        sent = req.payment["sent"]
        top = sent * 6 // 5 if req.payment["cross"] else sent
        back = data.draw(st.integers(max(1, sent // 2), max(1, top)), "came back")
        payment = req.payment

        def done(result: Payment) -> None:
            req.status = Status.RETURNED
            self.bank_minor += back - payment["sent"] - payment["fee"]

        return Op(
            f"return #{req.pk} ({back} of {sent})",
            lambda: payment_return(request=DisbursementRequest.objects.get(pk=req.pk),
                                   actor=self.trustees[0], returned=usd(back),
                                   reason="Account closed at the receiving bank"),
            "write", done,
        )  # fmt: skip

    def op_lock(self, data: st.DataObject) -> Op:
        current = self.lock_date()
        start = current or self.today - timedelta(days=25)
        days = data.draw(st.integers(1, 6), "days on")
        lock = min(start + timedelta(days=days), self.today - timedelta(days=LOCK_CAP))

        def call() -> Trust:
            # A copy of its own: the service sets the date on the object it is given, and a
            # call that fails (or is counted, in ``statements``) must not move ``self.trust``.
            trust = Trust.objects.get(pk=self.trust.pk)
            return trust_set_lock_date(trust=trust, lock_date=lock, actor=self.trustees[0])

        def done(trust: Trust) -> None:
            self.trust.refresh_from_db(fields=["lock_date"])

        # Forward only (moving it back is in ``refuse_bad_input``). Setting a lock date records
        # an event even when it is the same date again: a write, never a retry.
        return Op(f"lock {lock}", call, "write", done, retry_while=lambda: False)

    # Which operations can run now (the fault and concurrency rules choose among them).
    def possible(self) -> list[str]:
        kinds = ["receipt", "draft", *(["lock"] if self.lock_open() else [])]
        if self.reversible():
            kinds.append("reverse")
        if self.in_status(Status.DRAFT):
            kinds.append("submit")
        if self.in_status(Status.SUBMITTED):
            kinds += ["approve", "reject"]
        if self.in_status(Status.DRAFT, Status.SUBMITTED, Status.APPROVED):
            kinds.append("cancel")
        if self.in_status(Status.APPROVED):
            kinds.append("pay")
        if self.in_status(Status.PAID):
            kinds += ["acknowledge", "return"]
        return kinds

    # --- rules: the work ------------------------------------------------------------------------

    @rule(target=receipts, data=st.data())
    def record_receipt(self, data: st.DataObject) -> Any:
        result = self.run(self.op_receipt(data))
        return result.pk if result is not None else multiple()

    @rule(receipt=receipts, data=st.data())
    def reverse_receipt(self, receipt: int, data: st.DataObject) -> None:
        op = self.op_reverse(data, receipt)
        if op is None:
            TALLY["reversal skipped: REVERSAL_BUG"] += 1
            return
        self.run(op)

    @precondition(lambda self: len(self.in_status(*OPEN)) < 5)  # finish some before more
    @rule(target=requests, data=st.data())
    def draft_request(self, data: st.DataObject) -> Any:
        return self.run(self.op_draft(data)).pk

    @precondition(lambda self: self.in_status(*OPEN, Status.PAID))
    @rule(data=st.data())
    def advance_a_request(self, data: st.DataObject) -> None:
        """The next step of a request under way (so that many reach payment and beyond)."""
        req = self.reqs[data.draw(st.sampled_from(self.in_status(*OPEN, Status.PAID)), "request")]
        if req.status == Status.PAID:
            kind = data.draw(st.sampled_from(["acknowledge", "acknowledge", "return"]), "fate")
        else:
            kind = {Status.DRAFT: "submit", Status.SUBMITTED: "approve", Status.APPROVED: "pay"}[
                req.status
            ]
        self.run(getattr(self, f"op_{kind}")(data, req.pk))

    @precondition(lambda self: self.in_status(Status.SUBMITTED))
    @rule(data=st.data())
    def approve_request(self, data: st.DataObject) -> None:
        self.run(self.op_approve(data))

    @precondition(lambda self: self.in_status(Status.SUBMITTED))
    @rule(data=st.data())
    def reject_request(self, data: st.DataObject) -> None:
        self.run(self.op_reject(data))

    @precondition(lambda self: self.in_status(Status.DRAFT, Status.SUBMITTED, Status.APPROVED))
    @rule(data=st.data())
    def cancel_request(self, data: st.DataObject) -> None:
        self.run(self.op_cancel(data))

    @precondition(lambda self: self.in_status(Status.APPROVED))
    @rule(data=st.data())
    def pay_request(self, data: st.DataObject) -> None:
        self.run(self.op_pay(data))

    @precondition(lambda self: self.in_status(Status.PAID))
    @rule(data=st.data())
    def acknowledge_payment(self, data: st.DataObject) -> None:
        self.run(self.op_acknowledge(data))

    @precondition(lambda self: self.in_status(Status.PAID))
    @rule(data=st.data())
    def return_payment(self, data: st.DataObject) -> None:
        self.run(self.op_return(data))

    @precondition(lambda self: self.lock_open())
    @rule(data=st.data())
    def move_lock_date(self, data: st.DataObject) -> None:
        self.run(self.op_lock(data))

    # --- rules: between steps -------------------------------------------------------------------

    @precondition(lambda self: any(op.retry_while() for op in self.done_ops))
    @rule(data=st.data())
    def retry_with_the_same_key(self, data: st.DataObject) -> None:
        """A call made again (a double click, a task run twice): the same object, nothing new."""
        ops = [op for op in self.done_ops if op.retry_while()]
        op = data.draw(st.sampled_from(ops), "call to retry")
        self.run(Op(f"retry {op.name}", op.call, "same", identity=op.identity, same_as=op.made))

    @rule(request=requests, data=st.data())
    def out_of_order(self, request: int, data: st.DataObject) -> None:
        """A transition the request's state does not allow: refused, nothing written."""
        req = self.reqs[request]
        loaded = DisbursementRequest.objects.get(pk=request)
        trustee = self.trustees[0]
        calls = {
            "submit": (
                lambda: request_submit(request=loaded, actor=req.caseworker),
                req.status not in (Status.DRAFT, Status.SUBMITTED),
            ),
            "approve": (
                lambda: request_approve(request=loaded, actor=trustee),
                req.status not in (Status.SUBMITTED, Status.APPROVED),
            ),
            "reject": (
                lambda: request_reject(request=loaded, actor=trustee, reason="Late"),
                req.status not in (Status.SUBMITTED, Status.REJECTED),
            ),
            "cancel": (
                lambda: request_cancel(request=loaded, actor=trustee, reason="Late"),
                req.status in (Status.PAID, Status.ACKNOWLEDGED, Status.RETURNED, Status.REJECTED),
            ),
            "pay": (
                lambda: payment_record(request=loaded, actor=trustee, transfer=Transfer(
                    sent=usd(req.amount), value_date=self.today, reference=self.key("TRF-X"))),
                req.status not in (Status.APPROVED,),
            ),
            "acknowledge": (
                lambda: payment_acknowledge(request=loaded, actor=req.caseworker, arrived=usd(1)),
                req.status in (Status.DRAFT, Status.SUBMITTED, Status.APPROVED, Status.REJECTED,
                               Status.CANCELLED),
            ),
        }  # fmt: skip
        wrong = sorted(name for name, (_, refused) in calls.items() if refused)
        if not wrong:
            return
        name = data.draw(st.sampled_from(wrong), "transition")
        refusals = ("bad_status", "already_paid", "not_paid", "required")
        self.run(Op(f"{name} #{request} while {req.status}", calls[name][0], "refuse",
                    refusals=refusals))  # fmt: skip

    @rule(data=st.data())
    def refuse_bad_input(self, data: st.DataObject) -> None:
        """A call with wrong details: refused with its code, nothing written."""
        t1 = self.trustees[0]
        choices: dict[str, tuple[Callable[[], Any], str]] = {
            "receipt dated tomorrow": (
                lambda: receipt_record(
                    trust=self.trust, actor=t1, amount=usd(100_00), source="clerk",
                    received_on=self.today + timedelta(days=1), bank_account=self.bank,
                    idempotency_key=self.key("future"),
                ),
                "date_future",
            ),
            "receipt of nothing": (
                lambda: receipt_record(
                    trust=self.trust, actor=t1, amount=usd(0), source="clerk",
                    received_on=self.today, bank_account=self.bank, idempotency_key=self.key("zero"),
                ),
                "not_positive",
            ),
            "receipt recorded by a caseworker": (
                lambda: receipt_record(
                    trust=self.trust, actor=self.caseworkers["USD"], amount=usd(1_00),
                    source="clerk", received_on=self.today, bank_account=self.bank,
                    idempotency_key=self.key("caseworker"),
                ),
                "not_trustee",
            ),
        }  # fmt: skip
        if self.receipt_model:
            pk = data.draw(st.sampled_from(sorted(self.receipt_model)), "receipt")
            receipt = Receipt.objects.get(pk=pk)
            choices["receipt key reused for another amount"] = (
                lambda: receipt_record(
                    trust=self.trust, actor=t1, amount=usd(receipt.amount_minor + 1),
                    source=receipt.source, received_on=receipt.received_on, bank_account=self.bank,
                    idempotency_key=receipt.idempotency_key, payer=receipt.payer,
                ),
                "key_reused",
            )  # fmt: skip
            choices["reversal without a reason"] = (
                lambda: receipt_reverse(receipt=receipt, actor=t1, reason="  "),
                "reason_missing",
            )
        if self.reqs:
            pk = data.draw(st.sampled_from(sorted(self.reqs)), "request")
            req, loaded = self.reqs[pk], DisbursementRequest.objects.get(pk=pk)
            choices["draft key reused for another amount"] = (
                lambda: request_draft(
                    actor=req.caseworker, beneficiary=loaded.beneficiary, category=loaded.category,
                    amount=Money(loaded.amount.amount + 1, req.currency), purpose=loaded.purpose,
                    idempotency_key=loaded.idempotency_key,
                ),
                "key_reused",
            )  # fmt: skip
            choices["approved by a caseworker"] = (
                lambda: request_approve(request=loaded, actor=req.caseworker),
                "not_trustee",
            )
            choices["cancelled without a reason"] = (
                lambda: request_cancel(request=loaded, actor=req.caseworker, reason=""),
                "reason_missing",
            )
        choices.update(self.bad_payments(data))
        current = self.lock_date()
        if current is not None:
            choices["lock date moved back"] = (
                lambda: trust_set_lock_date(
                    trust=self.trust, lock_date=current - timedelta(days=1), actor=t1
                ),
                "lock_date_backwards",
            )
            choices["receipt in the closed period (a stale copy of the trust)"] = (
                lambda: receipt_record(
                    trust=self.stale_trust, actor=t1, amount=usd(10_00), source="clerk",
                    received_on=current, bank_account=self.bank, idempotency_key=self.key("closed"),
                ),
                "period_closed",
            )  # fmt: skip
        name = data.draw(st.sampled_from(sorted(choices)), "bad input")
        call, code = choices[name]
        also = {
            "period_closed": ("refused_by_database",),  # SQLite's trigger says it in its words
            "duplicate_reference": ("insufficient_funds",),  # the funds are checked first
        }
        self.run(Op(name, call, "refuse", refusals=(code, *also.get(code, ()))))

    def bad_payments(self, data: st.DataObject) -> dict[str, tuple[Callable[[], Any], str]]:
        """Refused payment steps, for an approved and for a paid request."""
        choices: dict[str, tuple[Callable[[], Any], str]] = {}
        approved = self.in_status(Status.APPROVED)
        if approved:
            req = self.reqs[data.draw(st.sampled_from(approved), "approved request")]
            loaded = DisbursementRequest.objects.get(pk=req.pk)
            transfer, _ = self.transfer_for(data, req)
            assert transfer.payout is not None or req.currency == "USD"
            wrong = Transfer(
                sent=transfer.sent + usd(1) if req.currency == "USD" else transfer.sent,
                payout=transfer.payout + php(1) if req.currency == "PHP" else transfer.payout,
                value_date=self.today, reference=transfer.reference,
            )  # fmt: skip
            choices["paid a different amount"] = (
                lambda: payment_record(request=loaded, actor=self.trustees[1], transfer=wrong),
                "amount_differs",
            )
            if self.references:
                taken = Transfer(
                    sent=transfer.sent, payout=transfer.payout, value_date=self.today,
                    reference=self.references[0],
                )  # fmt: skip
                choices["paid with another payment's reference"] = (
                    lambda: payment_record(request=loaded, actor=self.trustees[1], transfer=taken),
                    "duplicate_reference",
                )
        paid = self.in_status(Status.PAID)
        if paid:
            owed = self.reqs[data.draw(st.sampled_from(paid), "paid request")]
            assert owed.payment is not None
            sent_to = DisbursementRequest.objects.get(pk=owed.pk)
            currency = "PHP" if owed.payment["cross"] else "USD"
            more = Money(Decimal(owed.payment["payout"] + 1).scaleb(-2), currency)
            choices["more arrived than was sent"] = (
                lambda: payment_acknowledge(request=sent_to, actor=owed.caseworker, arrived=more),
                "more_than_sent",
            )
            other = self.caseworkers["USD" if owed.partner_currency == "PHP" else "PHP"]
            choices["acknowledged by another partner"] = (
                lambda: payment_acknowledge(request=sent_to, actor=other, arrived=more),
                "not_yours",
            )
        return choices

    # --- rules: faults inside a step -------------------------------------------------------------

    def statements(self, op: Op) -> int:
        """How many statements ``op`` runs (run once in a savepoint, then rolled back)."""
        with transaction.atomic():
            counter = FaultAt(at=10**9, mode="before")
            with connection.execute_wrapper(counter), contextlib.suppress(ValidationError):
                op.call()
            transaction.set_rollback(True)
        return counter.seen

    @rule(data=st.data(), mode=st.sampled_from(FAULT_MODES), then_retry=st.booleans())
    def fault_inside_a_step(self, data: st.DataObject, mode: str, then_retry: bool) -> None:
        """The service fails at one of the statements it runs: nothing of it is left; the same
        call afterwards (the client retrying) does what it would have done."""
        kind = data.draw(st.sampled_from(self.possible()), "operation")
        op = getattr(self, f"op_{kind}")(data)
        assert op is not None
        total = self.statements(op)
        at = data.draw(st.integers(1, max(total, 1)), "failing statement")
        note(f"fault {mode} statement {at} of {total} of {op.name}")
        before = self.snapshot()
        with self.fault(at, mode) as fault:
            try:
                result = op.call()
            except ValidationError as exc:
                if fault.fired:
                    raise  # an injected fault must not come out as a refusal
                # Fewer statements than counted (a cache warmed by the count): a plain refusal.
                assert op.expect == "refuse", (op.name, exc.messages)
                assert codes(exc) & set(op.refusals), (op.name, codes(exc))
                assert self.snapshot() == before
                return
            except Exception as exc:
                if not fault.fired:
                    raise
                failed = exc
            else:
                failed = None
        assert not connection.needs_rollback, (
            f"{op.name} failed ({mode} statement {at}: {failed!r}) in a write outside its"
            " own transaction"
        )
        if failed is None:  # it finished before that statement, or survived the failure
            self.judge(op, before, result)
            return
        assert self.snapshot() == before, (
            f"{op.name} failed ({mode} statement {at}: {failed!r}) and left something behind"
        )
        TALLY[f"fault {mode}, nothing left"] += 1
        if then_retry:
            self.run(op)

    # --- rules: the same call twice at once (PostgreSQL, real commits) -----------------------------

    @precondition(lambda self: self.concurrent)
    @rule(data=st.data())
    def concurrent_duplicate(self, data: st.DataObject) -> None:
        """Two processes make the same call at once: one object is made, both get it."""
        from tests.trust.test_receipts_concurrency import run_together

        kinds = [
            k for k in self.possible() if k in ("receipt", "draft", "submit", "approve", "reject",
                                                 "pay", "cancel", "acknowledge", "return",
                                                 "reverse")
        ]  # fmt: skip
        kind = data.draw(st.sampled_from(kinds), "operation")
        op = getattr(self, f"op_{kind}")(data)
        assert op is not None
        note(f"twice at once: {op.name}")
        before = self.snapshot()
        first, second = run_together([op.call, op.call])
        results = [r for r in (first, second) if not isinstance(r, Exception)]
        errors = [r for r in (first, second) if isinstance(r, Exception)]
        if op.expect == "refuse" and len(errors) == 2:
            assert all(isinstance(e, ValidationError) for e in errors), errors
            assert all(codes(e) & set(op.refusals) for e in errors), errors  # type: ignore[arg-type]
            assert self.snapshot() == before
            return
        assert not errors, f"{op.name} twice at once: {errors!r}"
        assert op.identity(results[0]) == op.identity(results[1]), (op.name, results)
        TALLY["twice at once, one made"] += 1
        if op.expect == "same":
            assert self.snapshot() == before
            return
        after = self.snapshot()
        transitions = 0 if kind in ("receipt", "reverse") else 1  # a request's events
        assert after["events"] - before["events"] == transitions, f"{op.name} recorded twice"
        if op.created == "receipt":
            assert len(after["receipts"]) == len(before["receipts"]) + 1
            assert after["entries"] == before["entries"] + 1
        if op.created in ("request", "payment"):
            assert len(after[f"{op.created}s"]) == len(before[f"{op.created}s"]) + 1
        self.judge(op, before, results[0])

    # --- after every step -------------------------------------------------------------------------

    @invariant()
    def ledger_is_clean(self) -> None:
        assert not connection.needs_rollback, "a step broke the test's transaction"
        ledger_checks_now()  # PostgreSQL's commit-time checks of what this transaction wrote
        report = ledger_violations(trust_id=self.trust.pk)
        assert report.ok, [str(v) for v in report.violations]

    @invariant()
    def trust_identity_holds_per_currency(self) -> None:
        for currency, line in trust_identity(trust=self.trust).items():
            assert line.holds, (currency, line)

    @invariant()
    def no_sub_ledger_below_zero_or_below_its_reservations(self) -> None:
        reserved = reserved_by_sub_ledger(self.trust)
        for account in Account.objects.filter(trust=self.trust, role=Account.Role.SUB_LEDGER):
            assert account.balance_minor >= 0, account.code
            available = account.balance_minor - reserved.get(account.pk, 0)
            assert available >= 0, f"{account.code}: available {available}"

    @invariant()
    def requests_agree_with_the_model_and_their_payments(self) -> None:
        stored = {
            r.pk: r
            for r in DisbursementRequest.objects.filter(trust=self.trust).select_related("payment")
        }
        assert set(stored) == set(self.reqs)
        for pk, req in self.reqs.items():
            row = stored[pk]
            assert row.status == req.status, (pk, row.status, req.status)
            payment = getattr(row, "payment", None)
            if req.status in (Status.PAID, Status.ACKNOWLEDGED, Status.RETURNED):
                assert payment is not None, pk
                assert (payment.arrived_minor is not None) == (req.status == Status.ACKNOWLEDGED)
                assert (payment.returned_minor is not None) == (req.status == Status.RETURNED)
                assert (payment.settlement_entry_id is None) == (req.status == Status.PAID)
            else:
                assert payment is None, pk
            if req.status == Status.APPROVED:
                assert row.reserve_minor == req.reserve

    @invariant()
    def bank_holds_what_the_model_says(self) -> None:
        assert Account.objects.get(pk=self.bank.pk).balance_minor == self.bank_minor
        stored = dict(Receipt.objects.filter(trust=self.trust).values_list("pk", "status"))
        assert stored == {
            pk: Receipt.Status.REVERSED if gone else Receipt.Status.POSTED
            for pk, (_, gone) in self.receipt_model.items()
        }


def _settings(default_examples: int) -> settings:
    return settings(
        max_examples=EXAMPLES or default_examples,
        stateful_step_count=STEPS,
        deadline=None,
        database=None,  # a run is replayed by its seed, not by a local example database
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def _run(machine: type[BooksMachine], capsys: Any, examples: int) -> None:
    with capsys.disabled():
        print(f"\n{machine.__name__}: STATEFUL_SEED={SEED}")
    TALLY.clear()
    run_state_machine_as_test(seed(SEED)(machine), settings=_settings(examples))
    with capsys.disabled():
        print(", ".join(f"{what}: {n}" for what, n in sorted(TALLY.items())))


def test_random_operations_and_faults_keep_the_books(db: None, capsys: Any) -> None:
    """Every example runs in the test's transaction (rolled back at the end); the services' own
    transactions are savepoints in it, so a fault inside a step rolls back just that step."""
    # About a minute on either backend (PostgreSQL's checks cost more per step).
    _run(BooksMachine, capsys, 20 if connection.vendor == "sqlite" else 10)


class ConcurrentBooksMachine(BooksMachine):
    concurrent = True


@pytest.mark.postgres
def test_with_real_commits_and_concurrent_duplicates(postgres_tx: None, capsys: Any) -> None:
    """PostgreSQL with real commits: each service commits (the commit-time checks run), a fault
    rolls back a real transaction, and the same call can run twice at once."""
    _run(ConcurrentBooksMachine, capsys, 8)


def test_reversal_keeps_what_is_reserved(db: None) -> None:
    """MV-1 holds 1,000.00 and a receipt of 500.00 allocated to MV-1; a request for 1,400.00 is
    approved; reversing the receipt would leave 1,000.00 under a reservation of 1,400.00. It must
    be refused and write nothing (it once succeeded: available -400.00, check_ledger failed)."""
    from tests.disbursements.test_requests import make_world, submitted
    from trust.services.allocations import ManualShare

    w = make_world()
    bank = w.trust.accounts.get(role=Account.Role.BANK)
    receipt = receipt_record(
        trust=w.trust, actor=w.trustee, amount=usd(500_00), received_on=timezone.localdate(),
        source="clerk", bank_account=bank, idempotency_key="r1", reason="Order of the court",
        manual=[ManualShare(beneficiary=w.mv1, amount=usd(500_00))],
    )  # fmt: skip
    request_approve(request=submitted(w, "1400.00", "k1"), actor=w.trustee)
    entries = JournalEntry.objects.count()
    with pytest.raises(ValidationError):
        receipt_reverse(receipt=receipt, actor=w.trustee, reason="Cheque bounced")
    assert JournalEntry.objects.count() == entries
    assert ledger_violations(trust_id=w.trust.pk).ok
