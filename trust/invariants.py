"""Every ledger invariant, recomputed from the postings (a read; nothing is written here).

Used by ``manage.py check_ledger``, the nightly task and the tests. All arithmetic is on integer
minor units, which both PostgreSQL and SQLite sum exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from trust.audit.entries import entries_binding
from trust.db import ledger_guards_weakened, ledger_triggers_missing
from trust.models import Trust
from trust.selectors import trust_identity

_SIGN = "(CASE WHEN a.type IN ('asset', 'expense') THEN 1 ELSE -1 END)"
# Account codes repeat from trust to trust (every trust has a 1000-BANK): name the trust too.
_ACCOUNT = "(a.code || ' (trust #' || a.trust_id || ')')"


@dataclass(frozen=True)
class Violation:
    rule: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.subject}: {self.detail}"


@dataclass
class LedgerReport:
    trusts: int = 0
    accounts: int = 0
    entries: int = 0
    postings: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> dict[str, int]:
        return {
            "trusts": self.trusts,
            "accounts": self.accounts,
            "entries": self.entries,
            "postings": self.postings,
            "violations": len(self.violations),
        }


# Checks that other apps add (``register_check`` in their AppConfig.ready): each is called as
# ``check(trust_id, limit, add)`` like the built-in ones, so that ``check_ledger`` covers what
# they keep (disbursements: payments in transit, reservations) without trust importing them.
Check = Callable[[int | None, int, Callable[[Violation], None]], None]
_EXTRA_CHECKS: list[Check] = []


def register_check(check: Check) -> Check:
    if check not in _EXTRA_CHECKS:
        _EXTRA_CHECKS.append(check)
    return check


def _rows(sql: str, params: list[object]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def ledger_violations(*, trust_id: int | None = None, limit: int = 1000) -> LedgerReport:
    """Check every invariant, for one trust or all; at most ``limit`` violations per rule."""
    report = LedgerReport()
    # A filter on the trust, written once per table alias.
    t_entry = "AND e.trust_id = %s" if trust_id else ""
    t_acc = "AND a.trust_id = %s" if trust_id else ""
    tp: list[object] = [trust_id] if trust_id else []

    trusts = Trust.objects.all() if trust_id is None else Trust.objects.filter(pk=trust_id)
    report.trusts = trusts.count()
    report.accounts = _rows(f"SELECT COUNT(*) FROM trust_account a WHERE 1=1 {t_acc}", tp)[0][0]
    report.entries = _rows(f"SELECT COUNT(*) FROM trust_entry e WHERE 1=1 {t_entry}", tp)[0][0]
    report.postings = _rows(
        "SELECT COUNT(*) FROM trust_posting p JOIN trust_entry e ON e.id = p.entry_id"
        f" WHERE 1=1 {t_entry}",
        tp,
    )[0][0]
    add = report.violations.append

    for entry_id, currency, total in _rows(
        "SELECT p.entry_id, p.currency, SUM(p.amount_minor) FROM trust_posting p"
        f" JOIN trust_entry e ON e.id = p.entry_id WHERE 1=1 {t_entry}"
        " GROUP BY p.entry_id, p.currency HAVING SUM(p.amount_minor) <> 0"
        f" ORDER BY p.entry_id LIMIT {limit}",
        tp,
    ):
        add(Violation("balanced", f"entry #{entry_id}", f"{currency} postings sum to {total}"))

    for entry_id, count in _rows(
        "SELECT e.id, COUNT(p.id) FROM trust_entry e LEFT JOIN trust_posting p ON p.entry_id = e.id"
        f" WHERE 1=1 {t_entry} GROUP BY e.id HAVING COUNT(p.id) < 2 ORDER BY e.id LIMIT {limit}",
        tp,
    ):
        add(Violation("two-postings", f"entry #{entry_id}", f"has {count} posting(s)"))

    for posting_id, entry_id, code, problem in _rows(
        f"SELECT p.id, p.entry_id, {_ACCOUNT}, CASE"
        " WHEN a.trust_id <> e.trust_id THEN 'account of another trust'"
        " WHEN a.currency <> p.currency THEN 'currency ' || p.currency || ' in a '"
        "   || a.currency || ' account'"
        " WHEN p.amount_minor = 0 THEN 'zero amount'"
        " ELSE 'dated differently from its entry' END"
        " FROM trust_posting p JOIN trust_entry e ON e.id = p.entry_id"
        " JOIN trust_account a ON a.id = p.account_id"
        " WHERE (a.trust_id <> e.trust_id OR a.currency <> p.currency OR p.amount_minor = 0"
        f"   OR p.effective_date <> e.effective_date) {t_entry} ORDER BY p.id LIMIT {limit}",
        tp,
    ):
        add(Violation("posting", f"posting #{posting_id} (entry #{entry_id}, {code})", problem))

    for code, currency, stored, recomputed in _rows(
        f"SELECT {_ACCOUNT}, a.currency, a.balance_minor, {_SIGN} * COALESCE(s.total, 0)"
        " FROM trust_account a LEFT JOIN (SELECT account_id, SUM(amount_minor) AS total"
        "   FROM trust_posting GROUP BY account_id) s ON s.account_id = a.id"
        f" WHERE a.balance_minor <> {_SIGN} * COALESCE(s.total, 0) {t_acc}"
        f" ORDER BY a.id LIMIT {limit}",
        tp,
    ):
        add(
            Violation(
                "stored-balance",
                f"account {code}",
                f"stored {stored} {currency}, postings give {recomputed} {currency}",
            )
        )

    for code, day, stored, recomputed in _rows(
        f"SELECT {_ACCOUNT}, COALESCE(d.day, s.day), COALESCE(d.net_minor, 0),"
        f" {_SIGN} * COALESCE(s.total, 0)"
        " FROM (SELECT account_id, effective_date AS day, SUM(amount_minor) AS total"
        "       FROM trust_posting GROUP BY account_id, effective_date) s"
        " FULL OUTER JOIN trust_account_day d ON d.account_id = s.account_id AND d.day = s.day"
        " JOIN trust_account a ON a.id = COALESCE(d.account_id, s.account_id)"
        f" WHERE COALESCE(d.net_minor, 0) <> {_SIGN} * COALESCE(s.total, 0) {t_acc}"
        f" ORDER BY a.id LIMIT {limit}",
        tp,
    ):
        add(
            Violation(
                "daily-movement",
                f"account {code} on {day}",
                f"stored {stored}, postings give {recomputed}",
            )
        )

    for code, currency, balance in _rows(
        f"SELECT {_ACCOUNT}, a.currency, a.balance_minor FROM trust_account a"
        f" WHERE a.no_negative AND a.balance_minor < 0 {t_acc} ORDER BY a.id LIMIT {limit}",
        tp,
    ):
        add(Violation("no-negative", f"account {code}", f"balance {balance} {currency}"))

    # A no-negative account must never have been below zero, posting by posting.
    for code, currency, lowest in _rows(
        f"SELECT {_ACCOUNT}, a.currency, MIN({_SIGN} * r.running) FROM ("
        "  SELECT x.account_id, SUM(x.net) OVER (PARTITION BY x.account_id"
        "    ORDER BY x.entry_id ROWS UNBOUNDED PRECEDING) AS running"
        "  FROM (SELECT p.account_id, p.entry_id, SUM(p.amount_minor) AS net"
        "        FROM trust_posting p JOIN trust_account a0 ON a0.id = p.account_id"
        "        WHERE a0.no_negative GROUP BY p.account_id, p.entry_id) x) r"
        " JOIN trust_account a ON a.id = r.account_id"
        f" WHERE 1=1 {t_acc} GROUP BY a.id, a.trust_id, a.code, a.currency, a.type"
        f" HAVING MIN({_SIGN} * r.running) < 0 ORDER BY a.id LIMIT {limit}",
        tp,
    ):
        add(
            Violation(
                "no-negative-history",
                f"account {code}",
                f"went down to {lowest} {currency} in its history",
            )
        )

    for reversal_id, original_id, code, net in _rows(
        "SELECT r.id, r.reverses_id, a.code, SUM(p.amount_minor) FROM trust_entry r"
        " JOIN trust_posting p ON p.entry_id IN (r.id, r.reverses_id)"
        " JOIN trust_account a ON a.id = p.account_id"
        " JOIN trust_entry e ON e.id = r.id"
        f" WHERE r.reverses_id IS NOT NULL {t_entry}"
        " GROUP BY r.id, r.reverses_id, a.code, p.currency HAVING SUM(p.amount_minor) <> 0"
        f" ORDER BY r.id LIMIT {limit}",
        tp,
    ):
        add(
            Violation(
                "reversal",
                f"entry #{reversal_id}",
                f"does not mirror entry #{original_id} on {code} (net {net})",
            )
        )

    for trust in trusts.order_by("id"):
        for currency, line in sorted(trust_identity(trust=trust).items()):
            if line.difference_minor != 0:
                add(
                    Violation(
                        "trust-identity",
                        f"trust #{trust.pk} {currency}",
                        f"cash {line.cash_minor} != obligations {line.obligations_minor}"
                        f" (difference {line.difference_minor})",
                    )
                )
            for code, balance in sorted(line.outside.items()):
                add(
                    Violation(
                        "trust-identity",
                        f"trust #{trust.pk} {currency}",
                        f"account {code} holds {balance} for no beneficiary or payee",
                    )
                )

    _order_and_receipt_checks(trust_id, limit, add)
    for check in _EXTRA_CHECKS:
        check(trust_id, limit, add)

    # Issue 22: every entry against the audit event that committed it (trust.audit.entries).
    for problem in entries_binding(trust_id=trust_id, limit=limit).problems:
        add(Violation("entry-trail", problem.where, problem.what))

    for name in ledger_triggers_missing(connection):
        add(Violation("database-guard", name, "trigger or function is missing"))
    for name, problem in ledger_guards_weakened(connection):
        add(Violation("database-guard", name, problem))
    return report


def _order_and_receipt_checks(trust_id: int | None, limit: int, add: Any) -> None:
    """What order lines collected and what receipts left unallocated agree with the allocation
    records, and each allocation's shares with the sub-ledger postings of its entry.

    Per-row sums are correlated subqueries (an index lookup per line or allocation), not joins to
    an aggregate of the whole table: with stale statistics PostgreSQL planned the join as a
    nested loop that re-aggregated every posting for each allocation (minutes for one trust). The
    account's role is a scalar lookup per posting for the same reason: as a join it was planned
    as a merge join that walked the whole account index for every allocation."""
    t_order = "AND o.trust_id = %s" if trust_id else ""
    t_receipt = "AND r.trust_id = %s" if trust_id else ""
    tp: list[object] = [trust_id] if trust_id else []

    for _line, order_id, position, stored, recomputed in _rows(
        "SELECT id, order_id, position, collected_minor, recomputed FROM ("
        " SELECT l.id, l.order_id, l.position, l.collected_minor,"
        "  (SELECT COALESCE(SUM(s.amount_minor), 0) FROM trust_allocation_share s"
        "    WHERE s.line_id = l.id)"
        "  + COALESCE((SELECT c.collected_minor FROM trust_order_line c"
        "    WHERE c.id = l.carried_from_id), 0) AS recomputed"
        f" FROM trust_order_line l JOIN trust_order o ON o.id = l.order_id WHERE 1=1 {t_order}"
        ") x WHERE collected_minor <> recomputed ORDER BY id"
        f" LIMIT {limit}",
        tp,
    ):
        add(
            Violation(
                "order-collected",
                f"order #{order_id} line {position}",
                f"records {stored} collected, its allocations give {recomputed}",
            )
        )

    for receipt_id, stored, recomputed in _rows(
        "SELECT r.id, r.unallocated_minor, COALESCE(SUM(al.unallocated_change_minor), 0)"
        " FROM trust_receipt r LEFT JOIN trust_allocation al ON al.receipt_id = r.id"
        f" WHERE 1=1 {t_receipt} GROUP BY r.id, r.unallocated_minor"
        " HAVING r.unallocated_minor <> COALESCE(SUM(al.unallocated_change_minor), 0)"
        f" ORDER BY r.id LIMIT {limit}",
        tp,
    ):
        add(
            Violation(
                "receipt-unallocated",
                f"receipt #{receipt_id}",
                f"records {stored} unallocated, its allocations give {recomputed}",
            )
        )

    for receipt_id, amount, banked in _rows(
        "SELECT r.id, r.amount_minor, COALESCE(SUM(p.amount_minor), 0) FROM trust_receipt r"
        " LEFT JOIN trust_posting p ON p.entry_id = r.entry_id AND p.account_id = r.bank_account_id"
        f" WHERE 1=1 {t_receipt} GROUP BY r.id, r.amount_minor"
        " HAVING r.amount_minor <> COALESCE(SUM(p.amount_minor), 0)"
        f" ORDER BY r.id LIMIT {limit}",
        tp,
    ):
        add(
            Violation(
                "receipt-entry",
                f"receipt #{receipt_id}",
                f"amount {amount}, but its entry puts {banked} into its bank account",
            )
        )

    for allocation_id, shares, posted in _rows(
        "SELECT id, shares, posted FROM ("
        " SELECT al.id,"
        "  (SELECT COALESCE(SUM(s.amount_minor), 0) FROM trust_allocation_share s"
        "    WHERE s.allocation_id = al.id) AS shares,"
        "  (SELECT COALESCE(-SUM(p.amount_minor), 0) FROM trust_posting p"
        "    WHERE p.entry_id = al.entry_id AND (SELECT a.role FROM trust_account a"
        "      WHERE a.id = p.account_id) = 'sub_ledger') AS posted"
        f" FROM trust_allocation al JOIN trust_receipt r ON r.id = al.receipt_id WHERE 1=1 {t_receipt}"
        ") x WHERE shares <> posted ORDER BY id"
        f" LIMIT {limit}",
        tp,
    ):
        add(
            Violation(
                "allocation-entry",
                f"allocation #{allocation_id}",
                f"shares add up to {shares}, its entry credits sub-ledgers with {posted}",
            )
        )
