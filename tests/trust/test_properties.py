"""Property-based tests of the posting service against a model the test keeps itself.

A hypothesis state machine posts random valid and invalid operations to a fresh trust per example
(three currencies, standard accounts, sub-ledgers, trading accounts) and keeps, in plain Python, the
balance every account should have in minor units, computed only from what the test asked to post.
After every step the stored balances, counts and ``ledger_violations`` must agree with that model;
every refusal must be a ``LedgerError`` with the expected code that changed nothing.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from moneyed import Money

from tests.factories import TrustFactory, account, beneficiary, fund
from trust.invariants import ledger_violations
from trust.models import Account, AccountDay, EntryKind, JournalEntry, Posting, Trust
from trust.selectors import account_balance, account_balance_as_of
from trust.services.ledger import (
    EntrySpec,
    LedgerError,
    Leg,
    entries_post,
    entry_post,
    entry_reverse,
)
from trust.services.trusts import account_create, trust_set_lock_date

# --- the test's own chart of accounts -----------------------------------------------------------

EXPONENT = {"USD": 2, "EUR": 2, "JPY": 0}  # decimal places, written down here, not looked up
CURRENCIES = sorted(EXPONENT)


@dataclass(frozen=True)
class Acc:
    currency: str
    sign: int  # +1 where a debit raises the balance (assets), -1 otherwise
    no_negative: bool
    role: str = ""  # for accounts opened with account_create
    type: str = ""


# Payments in transit are left out: check_ledger holds them to the open payments
# (disbursements/invariants.py), which random entries are not.
STANDARD = {  # opened by trust_create / beneficiary_create
    "bank": Acc("USD", 1, True),
    "payable": Acc("USD", -1, True),
    "unallocated": Acc("USD", -1, True),
    "MV-1": Acc("USD", -1, True),
    "MV-2": Acc("USD", -1, True),
    "MV-3": Acc("USD", -1, True),
}
OPENED = {
    "trading-usd": Acc("USD", -1, False, Account.Role.TRADING, Account.Type.EQUITY),
    "bank-eur": Acc("EUR", 1, True, Account.Role.BANK, Account.Type.ASSET),
    "unallocated-eur": Acc("EUR", -1, True, Account.Role.UNALLOCATED, Account.Type.LIABILITY),
    "trading-eur": Acc("EUR", -1, False, Account.Role.TRADING, Account.Type.EQUITY),
    "bank-jpy": Acc("JPY", 1, True, Account.Role.BANK, Account.Type.ASSET),
    "unallocated-jpy": Acc("JPY", -1, True, Account.Role.UNALLOCATED, Account.Type.LIABILITY),
}
ACCOUNTS = {**STANDARD, **OPENED}
BY_CURRENCY = {cur: sorted(k for k, a in ACCOUNTS.items() if a.currency == cur) for cur in EXPONENT}
BANK_OF = {"USD": "bank", "EUR": "bank-eur", "JPY": "bank-jpy"}
SUB_LEDGERS = ["MV-1", "MV-2", "MV-3"]

DATES = [
    date(2026, 1, 5),
    date(2026, 1, 20),
    date(2026, 2, 3),
    date(2026, 2, 17),
    date(2026, 3, 2),
    date(2026, 3, 30),
]
LOCK_DATES = [date(2026, 1, 10), date(2026, 1, 31)]  # always leaves later dates open
KINDS = [
    EntryKind.RECEIPT,
    EntryKind.ALLOCATION,
    EntryKind.PAYMENT,
    EntryKind.TRANSFER,
    EntryKind.FX,
    EntryKind.ADJUSTMENT,
]

MachineLeg = tuple[str, int, str]  # (account key, signed minor units, currency)


def money(minor: int, currency: str, extra_zeros: int = 0) -> Money:
    """Money from integer minor units, optionally written with trailing zeros ("1.50" as "1.500")."""
    exponent = EXPONENT[currency] + extra_zeros
    return Money(Decimal(minor * 10**extra_zeros).scaleb(-exponent), currency)


def pair(currency: str, debit: str, credit: str, minor: int) -> list[MachineLeg]:
    return [(debit, minor, currency), (credit, -minor, currency)]


amounts = st.integers(min_value=1, max_value=50_000)
pairs = st.sampled_from(CURRENCIES).flatmap(
    lambda cur: st.tuples(
        st.just(cur), st.sampled_from(BY_CURRENCY[cur]), st.sampled_from(BY_CURRENCY[cur]), amounts
    )
)
legs_strategy = st.lists(pairs, min_size=1, max_size=3).map(
    lambda ps: [leg for cur, dr, cr, minor in ps for leg in pair(cur, dr, cr, minor)]
)
memos = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"))

DEFECTS = {
    # defect: the code the refusal must carry
    "zero_amount": "zero_amount",
    "unbalanced": "unbalanced",
    "balanced_only_across_currencies": "unbalanced",
    "wrong_currency": "currency_mismatch",
    "wrong_currency_by_id": "currency_mismatch",
    "too_many_decimals": "bad_amount",
    "foreign_account": "foreign_account",
    "foreign_account_by_id": "foreign_account",
    "unknown_account_id": "unknown_account",
    "one_leg": "too_few_postings",
    "no_legs": "too_few_postings",
    "blank_key": "key_missing",
    "long_key": "key_too_long",
    "unknown_kind": "bad_kind",
    "datetime_not_date": "bad_date",
    "reverses_without_reason": "reason_missing",
    "empty_batch": "empty",
    "key_twice_in_batch": "key_repeated",
}


@dataclass
class ModelEntry:
    entry_id: int
    spec: EntrySpec  # exactly what was sent
    legs: list[MachineLeg]
    reverses: int | None = None
    reversed_by: int | None = None
    reversal_spec: tuple[str, date, str] | None = None  # (key, date, reason) of its reversal


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.trust = TrustFactory()
        self.acc: dict[str, Account] = {}
        for role, key in [
            (Account.Role.BANK, "bank"),
            (Account.Role.PAYABLE, "payable"),
            (Account.Role.UNALLOCATED, "unallocated"),
        ]:
            self.acc[key] = account(self.trust, role)
        for key in SUB_LEDGERS:
            self.acc[key] = beneficiary(self.trust, key)[1]
        for key, spec in OPENED.items():
            self.acc[key] = account_create(
                trust=self.trust,
                code=key.upper(),
                name=key,
                type=spec.type,
                role=spec.role,
                currency=spec.currency,
                no_negative=spec.no_negative,
            )
        for key, acc in self.acc.items():
            assert (acc.currency, acc.normal_sign, acc.no_negative) == (
                ACCOUNTS[key].currency,
                ACCOUNTS[key].sign,
                ACCOUNTS[key].no_negative,
            ), key
        # Another trust with money in it: nothing done to this trust may touch it.
        self.foreign = TrustFactory()
        _, foreign_sub = beneficiary(self.foreign, "MV-1")
        fund(self.foreign, foreign_sub, "250.00", on=DATES[0])
        self.foreign_bank = account(self.foreign, Account.Role.BANK)
        self.foreign_balances = {self.foreign_bank.pk: 25000, foreign_sub.pk: 25000}

        # The model: balances on the normal side, every movement with its date, the entries.
        self.balance = dict.fromkeys(ACCOUNTS, 0)
        self.movements: list[tuple[str, date, int]] = []
        self.entries: dict[int, ModelEntry] = {}
        self.n_postings = 0
        self.lock: date | None = None
        self.serial = 0

    # --- helpers ---------------------------------------------------------------------------------

    def key(self) -> str:
        self.serial += 1
        return f"prop-{self.serial}"

    def open_dates(self) -> list[date]:
        return [d for d in DATES if self.lock is None or d > self.lock]

    def legs(self, machine_legs: list[MachineLeg], extra_zeros: int = 0) -> list[Leg]:
        return [
            Leg(self.acc[key], money(minor, cur, extra_zeros)) for key, minor, cur in machine_legs
        ]

    def overdraws(self, batch: list[list[MachineLeg]]) -> bool:
        """Would any entry of the batch, applied in order, take a no-negative account below 0?"""
        running = dict(self.balance)
        for machine_legs in batch:
            change: Counter[str] = Counter()
            for key, minor, _ in machine_legs:
                change[key] += ACCOUNTS[key].sign * minor
            for key, delta in change.items():
                running[key] += delta
                if ACCOUNTS[key].no_negative and running[key] < 0:
                    return True
        return False

    def apply(self, entry: ModelEntry) -> None:
        for key, minor, _ in entry.legs:
            delta = ACCOUNTS[key].sign * minor
            self.balance[key] += delta
            self.movements.append((key, entry.spec.effective_date, delta))
        self.n_postings += len(entry.legs)
        self.entries[entry.entry_id] = entry

    def snapshot(self) -> tuple:
        trusts = [self.trust.pk, self.foreign.pk]
        return (
            JournalEntry.objects.count(),
            Posting.objects.count(),
            list(
                Account.objects.filter(trust__in=trusts)
                .order_by("id")
                .values_list("id", "balance_minor")
            ),
            list(
                AccountDay.objects.filter(account__trust__in=trusts)
                .order_by("id")
                .values_list("account_id", "day", "net_minor")
            ),
        )

    def refused(self, code: str, call) -> LedgerError:  # type: ignore[no-untyped-def]
        before = self.snapshot()
        with pytest.raises(LedgerError) as info:
            call()
        assert info.value.code == code, f"expected {code}, got {info.value.code}: {info.value}"
        assert self.snapshot() == before, "a refused operation changed the ledger"
        return info.value

    def stored_legs(self, entry_id: int) -> Counter:
        by_id = {acc.pk: key for key, acc in self.acc.items()}
        return Counter(
            (by_id[acc_id], minor, cur)
            for acc_id, minor, cur in Posting.objects.filter(entry_id=entry_id).values_list(
                "account_id", "amount_minor", "currency"
            )
        )

    def post(self, specs: list[EntrySpec], machine_legs: list[list[MachineLeg]]) -> None:
        """Post new entries (fresh keys); the model says whether they must be refused."""
        if self.overdraws(machine_legs):
            self.refused(
                "overdraft", lambda: entries_post(trust=self.trust, actor=None, entries=specs)
            )
            return
        n_before = JournalEntry.objects.count()
        posted = entries_post(trust=self.trust, actor=None, entries=specs)
        assert [p.created for p in posted] == [True] * len(specs)
        assert len({p.entry_id for p in posted}) == len(specs)
        assert JournalEntry.objects.count() == n_before + len(specs)
        for p, spec, ml in zip(posted, specs, machine_legs, strict=True):
            assert p.entry_id not in self.entries
            stored = JournalEntry.objects.get(pk=p.entry_id)
            assert (stored.effective_date, stored.memo, stored.kind, stored.idempotency_key) == (
                spec.effective_date,
                spec.memo,
                spec.kind,
                spec.idempotency_key,
            )
            assert self.stored_legs(p.entry_id) == Counter(ml)
            self.apply(ModelEntry(p.entry_id, spec, ml))

    def spec(
        self, machine_legs: list[MachineLeg], on: date, kind: str = EntryKind.ADJUSTMENT, memo=""
    ) -> EntrySpec:
        return EntrySpec(
            effective_date=on,
            legs=self.legs(machine_legs),
            idempotency_key=self.key(),
            memo=memo,
            kind=kind,
        )

    # --- valid operations (the model decides whether an overdraft refuses them) ----------------

    @rule(data=st.data(), currency=st.sampled_from(CURRENCIES), minor=amounts)
    def receipt(self, data, currency, minor):
        credit = data.draw(
            st.sampled_from([k for k in BY_CURRENCY[currency] if ACCOUNTS[k].sign < 0])
        )
        on = data.draw(st.sampled_from(self.open_dates()))
        legs = pair(currency, BANK_OF[currency], credit, minor)
        self.post([self.spec(legs, on, EntryKind.RECEIPT, "Receipt")], [legs])

    @rule(data=st.data(), sub=st.sampled_from(SUB_LEDGERS), minor=amounts)
    def payment(self, data, sub, minor):
        """Pays out of a sub-ledger: refused as an overdraft when the sub-ledger cannot cover it."""
        on = data.draw(st.sampled_from(self.open_dates()))
        legs = pair("USD", sub, "bank", minor)
        self.post([self.spec(legs, on, EntryKind.PAYMENT, "Payment")], [legs])

    @rule(data=st.data(), sub=st.sampled_from(SUB_LEDGERS), minor=amounts)
    def allocation(self, data, sub, minor):
        on = data.draw(st.sampled_from(self.open_dates()))
        legs = pair("USD", "unallocated", sub, minor)
        self.post([self.spec(legs, on, EntryKind.ALLOCATION, "Allocation")], [legs])

    @rule(data=st.data(), usd=amounts, eur=amounts)
    def currency_exchange(self, data, usd, eur):
        """USD leaves the bank, EUR arrives: each currency balances through its trading account."""
        on = data.draw(st.sampled_from(self.open_dates()))
        legs = pair("USD", "trading-usd", "bank", usd) + pair("EUR", "bank-eur", "trading-eur", eur)
        self.post([self.spec(legs, on, EntryKind.FX, "FX")], [legs])

    @rule(data=st.data(), machine_legs=legs_strategy, memo=memos, kind=st.sampled_from(KINDS))
    def any_balanced_entry(self, data, machine_legs, memo, kind):
        """Any balanced legs over any accounts and currencies (the same account twice, too)."""
        on = data.draw(st.sampled_from(self.open_dates()))
        self.post([self.spec(machine_legs, on, kind, memo)], [machine_legs])

    @rule(data=st.data(), batch=st.lists(legs_strategy, min_size=2, max_size=4))
    def batch(self, data, batch):
        """Several entries in one call: applied in order, all or nothing; an entry already posted
        with the same content may ride along and is returned, not written again."""
        specs = [self.spec(ml, data.draw(st.sampled_from(self.open_dates()))) for ml in batch]
        # A reversal's retry goes through entry_reverse (the reverse rule), not as a spec.
        again = [
            e
            for e in self.entries.values()
            if e.reverses is None and e.spec.effective_date in self.open_dates()
        ]
        if again and data.draw(st.booleans()):
            old = data.draw(st.sampled_from(sorted(again, key=lambda e: e.entry_id)))
            at = data.draw(st.integers(0, len(specs)))
            if self.overdraws(batch):
                specs.insert(at, old.spec)
                self.refused(
                    "overdraft", lambda: entries_post(trust=self.trust, actor=None, entries=specs)
                )
                return
            specs.insert(at, old.spec)
            n_before = (JournalEntry.objects.count(), Posting.objects.count())
            posted = entries_post(trust=self.trust, actor=None, entries=specs)
            assert posted[at].entry_id == old.entry_id and not posted[at].created
            new = posted[:at] + posted[at + 1 :]
            assert all(p.created for p in new)
            added_postings = sum(len(ml) for ml in batch)
            assert (JournalEntry.objects.count(), Posting.objects.count()) == (
                n_before[0] + len(batch),
                n_before[1] + added_postings,
            )
            specs.pop(at)
            for p, spec, ml in zip(new, specs, batch, strict=True):
                assert self.stored_legs(p.entry_id) == Counter(ml)
                self.apply(ModelEntry(p.entry_id, spec, ml))
            return
        self.post(specs, batch)

    # --- idempotency -----------------------------------------------------------------------------

    def pick_entry(self, data, open_only: bool = True) -> ModelEntry | None:
        candidates = [
            e
            for e in self.entries.values()
            if not open_only or e.spec.effective_date in self.open_dates()
        ]
        if not candidates:
            return None
        return data.draw(st.sampled_from(sorted(candidates, key=lambda e: e.entry_id)))

    @rule(data=st.data())
    def repost_same_content(self, data):
        """Same key, same content (legs in another order, amounts written "1.500"): the first
        entry comes back with created=False and nothing is written."""
        entry = self.pick_entry(data)
        if entry is None or entry.reverses is not None:
            return
        legs = list(entry.legs)
        random.Random(data.draw(st.integers(0, 2**16))).shuffle(legs)
        spec = replace(entry.spec, legs=self.legs(legs, extra_zeros=data.draw(st.integers(0, 2))))
        before = self.snapshot()
        if data.draw(st.booleans()):
            posted = entries_post(trust=self.trust, actor=None, entries=[spec])[0]
        else:
            posted = entry_post(
                trust=self.trust,
                actor=None,
                effective_date=spec.effective_date,
                legs=spec.legs,
                idempotency_key=f"  {spec.idempotency_key} ",  # the key is trimmed
                memo=spec.memo,
                kind=spec.kind,
            )
        assert (posted.entry_id, posted.created) == (entry.entry_id, False)
        assert self.snapshot() == before

    @rule(data=st.data(), change=st.sampled_from(["memo", "date", "amount", "kind", "account"]))
    def repost_different_content(self, data, change):
        entry = self.pick_entry(data)
        if entry is None or entry.reverses is not None:
            return
        legs = list(entry.legs)
        spec = entry.spec
        if change == "memo":
            spec = replace(spec, memo=spec.memo + " (edited)")
        elif change == "date":
            others = [d for d in self.open_dates() if d != spec.effective_date]
            if not others:
                return
            spec = replace(spec, effective_date=data.draw(st.sampled_from(others)))
        elif change == "kind":
            spec = replace(spec, kind=next(k for k in KINDS if k != spec.kind))
        elif change == "amount":
            (k1, m1, cur), (k2, m2, _) = legs[0], legs[1]
            bump = 1 if m1 > 0 else -1
            legs[0], legs[1] = (k1, m1 + bump, cur), (k2, m2 - bump, cur)
            spec = replace(spec, legs=self.legs(legs))
        else:  # the same amounts on other accounts of the currency
            k1, m1, cur = legs[0]
            others = [k for k in BY_CURRENCY[cur] if k != k1]
            legs[0] = (data.draw(st.sampled_from(others)), m1, cur)
            spec = replace(spec, legs=self.legs(legs))
        self.refused(
            "key_reused", lambda: entries_post(trust=self.trust, actor=None, entries=[spec])
        )

    # --- reversals -------------------------------------------------------------------------------

    @rule(data=st.data(), default_key=st.booleans(), reason=st.sampled_from(["typo", " wrong MV "]))
    def reverse(self, data, default_key, reason):
        """Reverse an entry, once; again with the first key and content returns the first
        reversal, with the first key and another reason is a reused key, with another key is
        refused as already reversed."""
        entry = self.pick_entry(data, open_only=False)
        if entry is None:
            return
        if default_key:  # key "reversal-of-<id>", dated today
            key, on, kwargs = f"reversal-of-{entry.entry_id}", timezone.localdate(), {}
        elif entry.reversal_spec is not None and data.draw(st.booleans()):
            key, on, _ = entry.reversal_spec
            kwargs = {"idempotency_key": key, "effective_date": on}
        else:
            key, on = self.key(), data.draw(st.sampled_from(self.open_dates()))
            kwargs = {"idempotency_key": key, "effective_date": on}

        def call():
            return entry_reverse(
                entry=JournalEntry.objects.get(pk=entry.entry_id),
                actor=None,
                reason=reason,
                **kwargs,
            )

        if entry.reversed_by is not None:
            first_key, first_on, first_reason = entry.reversal_spec
            if (first_key, first_on, first_reason) == (key, on, reason.strip()):
                before = self.snapshot()
                posted = call()
                assert (posted.entry_id, posted.created) == (entry.reversed_by, False)
                assert self.snapshot() == before
            elif first_key == key:
                self.refused("key_reused", call)
            else:
                self.refused("already_reversed", call)
            return
        mirror = [(k, -minor, cur) for k, minor, cur in entry.legs]
        if self.overdraws([mirror]):
            self.refused("overdraft", call)
            return
        posted = call()
        assert posted.created
        stored = JournalEntry.objects.get(pk=posted.entry_id)
        assert (stored.reverses_id, stored.reason, stored.kind, stored.effective_date) == (
            entry.entry_id,
            reason.strip(),
            EntryKind.REVERSAL,
            on,
        )
        assert self.stored_legs(posted.entry_id) == Counter(mirror)
        spec = EntrySpec(effective_date=on, legs=[], idempotency_key=key, kind=EntryKind.REVERSAL)
        self.apply(ModelEntry(posted.entry_id, spec, mirror, reverses=entry.entry_id))
        entry.reversed_by = posted.entry_id
        entry.reversal_spec = (key, on, reason.strip())

    @rule(data=st.data(), reason=st.sampled_from(["", "   "]))
    def reverse_without_reason(self, data, reason):
        entry = self.pick_entry(data, open_only=False)
        if entry is None:
            return
        self.refused(
            "reason_missing",
            lambda: entry_reverse(
                entry=JournalEntry.objects.get(pk=entry.entry_id), actor=None, reason=reason
            ),
        )

    # --- closed periods --------------------------------------------------------------------------

    @rule(lock=st.sampled_from(LOCK_DATES))
    def close_period(self, lock):
        if self.lock is not None and lock < self.lock:
            with pytest.raises(ValidationError, match="cannot move back"):
                trust_set_lock_date(trust=self.trust, lock_date=lock)
            return
        trust_set_lock_date(trust=self.trust, lock_date=lock)
        self.lock = lock

    @rule(data=st.data(), machine_legs=legs_strategy, stale=st.booleans())
    def post_in_closed_period(self, data, machine_legs, stale):
        closed = [d for d in DATES if self.lock is not None and d <= self.lock]
        if not closed:
            return
        spec = self.spec(machine_legs, data.draw(st.sampled_from(closed)))
        # A stale trust object (lock date not loaded) is refused by the database instead.
        trust = Trust.objects.get(pk=self.trust.pk)
        if stale:
            trust.lock_date = None
        self.refused("period_closed", lambda: entries_post(trust=trust, actor=None, entries=[spec]))

    # --- invalid operations ----------------------------------------------------------------------

    @rule(data=st.data(), defect=st.sampled_from(sorted(DEFECTS)), minor=amounts)
    def invalid(self, data, defect, minor):
        on = data.draw(st.sampled_from(self.open_dates()))
        cur = data.draw(st.sampled_from(CURRENCIES))
        credit = data.draw(st.sampled_from(BY_CURRENCY[cur]))
        base = pair(cur, BANK_OF[cur], credit, minor)
        legs = self.legs(base)
        key = self.key()
        entries = None
        other_cur = next(c for c in CURRENCIES if c != cur)
        if defect == "zero_amount":
            legs = self.legs(pair(cur, BANK_OF[cur], credit, 0)) + legs
        elif defect == "unbalanced":
            legs[0] = Leg(legs[0].account, money(minor + 1, cur))
        elif defect == "balanced_only_across_currencies":
            legs = [
                Leg(self.acc[BANK_OF[cur]], money(minor, cur)),
                Leg(self.acc[BANK_OF[other_cur]], money(-minor, other_cur)),
            ]
        elif defect in ("wrong_currency", "wrong_currency_by_id"):
            wrong = self.acc[BANK_OF[cur]]
            legs = [
                Leg(wrong if defect == "wrong_currency" else wrong.pk, money(minor, other_cur)),
                Leg(self.acc[BANK_OF[other_cur]], money(-minor, other_cur)),
            ]
        elif defect == "too_many_decimals":
            value = Decimal(minor * 10 + 5).scaleb(-EXPONENT[cur] - 1)  # e.g. 1.005 USD, 0.5 JPY
            legs = [
                Leg(legs[0].account, Money(value, cur)),
                Leg(legs[1].account, Money(-value, cur)),
            ]
        elif defect in ("foreign_account", "foreign_account_by_id"):
            bank = self.foreign_bank if defect == "foreign_account" else self.foreign_bank.pk
            legs = [Leg(bank, money(minor, "USD")), Leg(self.acc["MV-1"], money(-minor, "USD"))]
        elif defect == "unknown_account_id":
            missing = Account.objects.order_by("-id").values_list("id", flat=True)[0] + 1000
            legs = [Leg(missing, money(minor, cur)), legs[1]]
        elif defect == "one_leg":
            legs = legs[:1]
        elif defect == "no_legs":
            legs = []
        spec = EntrySpec(effective_date=on, legs=legs, idempotency_key=key)
        if defect == "blank_key":
            spec = replace(spec, idempotency_key=" \t ")
        elif defect == "long_key":
            spec = replace(spec, idempotency_key="k" * 201)
        elif defect == "unknown_kind":
            spec = replace(spec, kind="gift")
        elif defect == "datetime_not_date":
            spec = replace(spec, effective_date=datetime(on.year, on.month, on.day, 12))
        elif defect == "reverses_without_reason":
            target = self.pick_entry(data, open_only=False)
            spec = replace(spec, reverses_id=target.entry_id if target else 1, reason=" ")
        elif defect == "empty_batch":
            entries = []
        elif defect == "key_twice_in_batch":
            entries = [spec, replace(spec, memo="the second one")]
        if entries is None:
            # A valid entry first in the same batch: refused with the rest (all or nothing).
            entries = [spec]
            if data.draw(st.booleans()):
                entries.insert(0, self.spec(pair("USD", "bank", "MV-1", minor), on))
        self.refused(
            DEFECTS[defect], lambda: entries_post(trust=self.trust, actor=None, entries=entries)
        )

    # --- reads -----------------------------------------------------------------------------------

    def check_as_of(self, on: date) -> None:
        expected: Counter[str] = Counter()
        for key, day, delta in self.movements:
            if day <= on:
                expected[key] += delta
        for key, acc in self.acc.items():
            got = account_balance_as_of(account=acc, as_of=on)
            assert got == money(expected[key], acc.currency), (key, on)

    @rule(on=st.sampled_from([*DATES, date(2025, 12, 31), date(2026, 2, 4)]))
    def balance_as_of(self, on):
        self.check_as_of(on)

    @invariant()
    def ledger_agrees_with_model(self):
        if connection.vendor == "postgresql":
            # Run the commit-time triggers now (the test's transaction never commits).
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        report = ledger_violations(trust_id=self.trust.pk)
        assert report.ok, [str(v) for v in report.violations]
        assert (report.entries, report.postings) == (len(self.entries), self.n_postings)
        stored = dict(Account.objects.filter(trust=self.trust).values_list("id", "balance_minor"))
        assert {key: stored[acc.pk] for key, acc in self.acc.items()} == self.balance
        for acc_id, minor in self.foreign_balances.items():
            assert account_balance(account_id=acc_id).amount == Decimal(minor).scaleb(-2)

    def teardown(self) -> None:
        foreign = ledger_violations(trust_id=self.foreign.pk)
        assert foreign.ok, [str(v) for v in foreign.violations]
        out = StringIO()
        call_command("check_ledger", trust=self.trust.pk, stdout=out, stderr=out)
        assert "OK: every invariant holds." in out.getvalue()
        assert f"{len(self.entries)} entries, {self.n_postings} postings" in out.getvalue()
        for on in [*DATES, timezone.localdate()]:
            self.check_as_of(on)
        # The model's current balance is the balance as of the last date anything was posted.
        assert all(
            account_balance(account_id=acc.pk) == money(self.balance[key], acc.currency)
            for key, acc in self.acc.items()
        )


def test_random_operations_keep_every_invariant_and_agree_with_the_model(db):
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.django_db
@given(
    receipts=st.lists(st.integers(1, 10**9), min_size=1, max_size=6),
    tampering=st.dictionaries(st.integers(0, 5), st.integers(-(10**6), 10**6).filter(bool)),
)
def test_check_ledger_names_exactly_the_balances_changed_by_hand(receipts, tampering):
    """Receipts credit sub-ledgers; then raw SQL shifts some stored balances. The check must name
    exactly those accounts, with the sum the test computed itself from what it posted."""
    trust = TrustFactory()
    subs = [beneficiary(trust, f"MV-{n}")[1] for n in range(len(receipts))]
    expected: dict[int, int] = {}
    for sub, minor in zip(subs, receipts, strict=True):
        fund(trust, sub, str(Decimal(minor).scaleb(-2)))
        expected[sub.pk] = minor
    expected[account(trust, Account.Role.BANK).pk] = sum(receipts)
    # A shift below zero is refused by the table's CHECK (tested apart): keep to the rest.
    shifted = {
        subs[i].pk: delta
        for i, delta in tampering.items()
        if i < len(subs) and expected[subs[i].pk] + delta >= 0
    }
    with connection.cursor() as cursor:
        for acc_id, delta in shifted.items():
            cursor.execute(
                "UPDATE trust_account SET balance_minor = balance_minor + %s WHERE id = %s",
                [delta, acc_id],
            )
    codes = {acc.pk: acc.code for acc in subs}
    named = {
        v.subject: v.detail
        for v in ledger_violations(trust_id=trust.pk).violations
        if v.rule == "stored-balance"
    }
    assert named == {
        f"account {codes[acc_id]} (trust #{trust.pk})": (
            f"stored {expected[acc_id] + delta} USD, postings give {expected[acc_id]} USD"
        )
        for acc_id, delta in shifted.items()
    }
