"""The ledger as a plain-text accounting journal that beancount and hledger check on their own.

A reader (it writes nothing to the database): ``journal_export`` streams one trust's books, or every
trust's, as a beancount or an hledger journal, so that an auditor can prove with tools the
application did not write that every entry balances per currency and that the balances the
application stores are the sum of its postings. docs/export.md says what is written and why.

- **Accounts** are named ``<Root>:T<trust id>:<code>`` (``Assets:T12:1000-BANK``), the root from
  the account's type; the code is reduced to letters, digits and dashes. Account names (which may
  carry more than a code) and memos (free text: payers' names, anything a trustee typed) are never
  written; a sub-ledger appears only as its stored code, ``2100-<pseudonym>``.
- **Signs** are the tools': a posting's ``amount_minor`` is already debit positive, credit
  negative, and goes out as it is; balances, stored on the account's normal side, are multiplied
  by ``Account.normal_sign`` before they are asserted.
- **Amounts** are exact decimals made from integer minor units, never floats.
- **Currency exchange** goes through the trading accounts, each leg in its own currency, as stored:
  no ``@``/``@@`` prices, so each currency must balance on its own within every entry.
- **Balance assertions** for every account at each month end: from the daily movements the posting
  service stores (``AccountDay``, what statements and court accounts read), and at the trust's last
  month end from the stored current balance (``Account.balance_minor``). The tools recompute every
  balance from the postings and fail on any difference, to the minor unit.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from trust.models import Account, AccountDay, JournalEntry, Posting, Trust
from trust.money import minor_exponent

FORMATS = ("beancount", "hledger")
CHUNK = 5_000  # rows fetched per round trip while streaming
ROOTS = {
    Account.Type.ASSET: "Assets",
    Account.Type.LIABILITY: "Liabilities",
    Account.Type.INCOME: "Income",
    Account.Type.EXPENSE: "Expenses",
    Account.Type.EQUITY: "Equity",
}
# Characters written as they are in idempotency keys; any other byte is percent-encoded, so a key
# can break neither a beancount string nor an hledger tag (which ends at a comma).
_KEY_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/@+=-")


class TextSink(Protocol):
    """Where the journal goes: an open text file, ``sys.stdout``, a command's output."""

    def write(self, text: str, /) -> int: ...


class JournalExportError(ValueError):
    """An export that cannot be made (an unknown format); nothing was written."""


@dataclass
class ExportSummary:
    """What an export wrote."""

    trusts: int = 0
    accounts: int = 0
    entries: int = 0
    postings: int = 0
    assertions: int = 0


@dataclass
class _Account:
    pk: int
    trust_id: int
    name: str
    currency: str
    sign: int  # +1 debit-normal (assets, expenses), -1 otherwise
    balance_minor: int
    opened: date
    code: str


@dataclass
class _TrustBooks:
    pk: int
    first_month: int
    last_month: int
    accounts: list[_Account] = field(default_factory=list)


def account_component(code: str) -> str:
    """An account code as one component both tools accept: ASCII letters, digits and dashes,
    starting with a capital letter or a digit (``2100-Minor Victim A`` -> ``2100-Minor-Victim-A``).
    Not one to one; ``account_names`` makes the names unique."""
    ascii_code = unicodedata.normalize("NFKD", code).encode("ascii", "ignore").decode("ascii")
    component = re.sub(r"[^A-Za-z0-9]+", "-", ascii_code).strip("-")
    return component[:1].upper() + component[1:]


def account_names(accounts: list[Account]) -> dict[int, str]:
    """Journal account names by account id: ``<Root>:T<trust>:<code>``, unique. Where two codes
    reduce to the same component, the later account (by id) gets its id added (``-A<id>``)."""
    names: dict[int, str] = {}
    taken: set[str] = set()
    for account in sorted(accounts, key=lambda a: a.pk):
        base = f"{ROOTS[account.type]}:T{account.trust_id}:"
        component = account_component(account.code) or f"A{account.pk}"
        name = base + component
        while name in taken:
            name = f"{name}-A{account.pk}"
        names[account.pk] = name
        taken.add(name)
    return names


def _amount(minor: int, currency: str) -> str:
    """Minor units as an exact decimal with the currency's places: 12345 USD -> ``123.45``."""
    return f"{Decimal(minor).scaleb(-minor_exponent(currency)):f}"


def _key(text: str) -> str:
    return "".join(
        ch if ch in _KEY_SAFE else "".join(f"%{b:02X}" for b in ch.encode("utf-8")) for ch in text
    )


def _month(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month_end(month: int) -> date:
    year, index = divmod(month + 1, 12)
    return date(year, index + 1, 1) - timedelta(days=1)


class _Writer:
    """The text of one format; the export decides what goes out and in what order."""

    def __init__(self, out: TextSink) -> None:
        self.out = out

    def header(self, title: str) -> None: ...
    def commodity(self, currency: str, since: date) -> None: ...
    def open(self, account: _Account) -> None: ...
    def entry(
        self,
        entry_id: int,
        day: date,
        kind: str,
        key: str,
        reverses: int | None,
        postings: list[tuple[str, int, str]],
    ) -> None: ...
    def assertions(self, trust_id: int, month_end: date, rows: list[tuple[str, int, str]]) -> None:
        """Balances (debit positive) at the end of ``month_end``, that day's entries included."""


class _Beancount(_Writer):
    def header(self, title: str) -> None:
        self.out.write(f'option "title" "{title}"\n\n')

    def commodity(self, currency: str, since: date) -> None:
        self.out.write(f"{since} commodity {currency}\n")

    def open(self, account: _Account) -> None:
        self.out.write(
            f"{account.opened} open {account.name} {account.currency}\n"
            f'  code: "{_key(account.code)}"\n'
        )

    def entry(
        self,
        entry_id: int,
        day: date,
        kind: str,
        key: str,
        reverses: int | None,
        postings: list[tuple[str, int, str]],
    ) -> None:
        narration = f"{kind} #{entry_id}" + (f" reversing #{reverses}" if reverses else "")
        lines = [f'\n{day} * "{narration}"\n  entry: "{entry_id}"\n  key: "{_key(key)}"\n']
        if reverses:
            lines.append(f'  reverses: "{reverses}"\n')
        lines += [f"  {name}  {_amount(m, c)} {c}\n" for name, m, c in postings]
        self.out.write("".join(lines))

    def assertions(self, trust_id: int, month_end: date, rows: list[tuple[str, int, str]]) -> None:
        # beancount asserts at the start of the day: the 1st of the next month. "~ 0": no
        # tolerance (by default 100.01 USD would pass for 100.00).
        day = month_end + timedelta(days=1)
        self.out.write(f"\n; trust #{trust_id}: balances at the end of {month_end}\n")
        self.out.write("".join(f"{day} balance {n}  {_amount(m, c)} ~ 0 {c}\n" for n, m, c in rows))


class _Hledger(_Writer):
    def header(self, title: str) -> None:
        self.out.write(f"; {title}\n\ndecimal-mark .\n\n")

    def commodity(self, currency: str, since: date) -> None:
        places = minor_exponent(currency)
        sample = "1000." + "0" * places  # "1000." declares no decimals (JPY), the mark still "."
        self.out.write(f"commodity {sample} {currency}\n")

    def open(self, account: _Account) -> None:
        self.out.write(
            f"account {account.name}  ; code:{_key(account.code)}, opened:{account.opened}\n"
        )

    def entry(
        self,
        entry_id: int,
        day: date,
        kind: str,
        key: str,
        reverses: int | None,
        postings: list[tuple[str, int, str]],
    ) -> None:
        tags = f"entry:{entry_id}, kind:{kind}, key:{_key(key)}"
        if reverses:
            tags += f", reverses:{reverses}"
        narration = f"{kind} #{entry_id}" + (f" reversing #{reverses}" if reverses else "")
        lines = [f"\n{day} * {narration}  ; {tags}\n"]
        lines += [f"    {name}  {_amount(m, c)} {c}\n" for name, m, c in postings]
        self.out.write("".join(lines))

    def assertions(self, trust_id: int, month_end: date, rows: list[tuple[str, int, str]]) -> None:
        # Zero postings carrying "==" (the account's whole balance is this, in this commodity
        # only), dated the month's last day and written after that day's entries (hledger checks
        # assertions in date order, then in the order of the file).
        lines = [f"\n{month_end} month-end balances, trust #{trust_id}  ; assertions:\n"]
        lines += [f"    {n}  {_amount(0, c)} {c} == {_amount(m, c)} {c}\n" for n, m, c in rows]
        self.out.write("".join(lines))


@contextmanager
def _snapshot() -> Iterator[None]:
    """One consistent view of the books for the whole export: postings, daily movements and
    balances read while entries are posted would not agree. PostgreSQL: a REPEATABLE READ
    transaction; SQLite: a deferred read transaction (a WAL reader keeps its snapshot and blocks
    no writer; ``atomic`` would begin IMMEDIATE here, the settings' mode, and hold off every
    posting for the length of the export)."""
    if connection.in_atomic_block:
        yield  # the caller's transaction decides what is seen
        return
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("COMMIT")  # nothing was written: this ends the read
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def journal_export(*, out: TextSink, fmt: str, trust: Trust | None = None) -> ExportSummary:
    """Write one trust's ledger (or every trust's) to ``out`` as a beancount or hledger journal.

    Streams the postings in date order, a chunk at a time, so the size of the ledger does not
    bound memory (the accounts are held, the postings are not). Refuses an unknown format with
    ``JournalExportError`` before writing anything. Guarantees: names valid in both tools, exact
    amounts, no prices, an assertion for every account at every month end from its opening to the
    trust's last month, from the application's stored figures.
    """
    if fmt not in FORMATS:
        raise JournalExportError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    writer: _Writer = _Beancount(out) if fmt == "beancount" else _Hledger(out)
    with _snapshot():
        return _export(writer, trust)


def _export(writer: _Writer, trust: Trust | None) -> ExportSummary:
    summary = ExportSummary()
    trusts = [trust] if trust is not None else list(Trust.objects.order_by("pk"))
    scope = {"trust_id": trust.pk} if trust is not None else {}
    entry_scope = {"entry__trust_id": trust.pk} if trust is not None else {}
    account_scope = {"account__trust_id": trust.pk} if trust is not None else {}

    accounts = list(Account.objects.filter(**scope).order_by("pk"))
    names = account_names(accounts)
    first_posting = dict(
        Posting.objects.filter(**account_scope)
        .values("account_id")
        .annotate(first=Min("effective_date"))
        .values_list("account_id", "first")
    )
    spans = {
        pk: (first, last)
        for pk, first, last in JournalEntry.objects.filter(**scope)
        .values("trust_id")
        .annotate(first=Min("effective_date"), last=Max("effective_date"))
        .values_list("trust_id", "first", "last")
    }
    # An account that never moved is open from the start of its trust's books: the trust's
    # creation, or its first entry when the books were keyed in later (back-dated).
    created = {
        t.pk: min(
            timezone.localtime(t.created_at, ZoneInfo(t.time_zone)).date(),
            *spans.get(t.pk, ())[:1],
        )
        for t in trusts
    }
    books: dict[int, _TrustBooks] = {}
    by_id: dict[int, _Account] = {}
    for account in accounts:
        row = _Account(
            pk=account.pk,
            trust_id=account.trust_id,
            name=names[account.pk],
            currency=account.currency,
            sign=account.normal_sign,
            balance_minor=account.balance_minor,
            opened=first_posting.get(account.pk) or created[account.trust_id],
            code=account.code,
        )
        by_id[account.pk] = row
        days = [row.opened, *spans.get(account.trust_id, ())]
        held = books.get(account.trust_id)
        if held is None:
            books[account.trust_id] = _TrustBooks(
                account.trust_id, _month(min(days)), _month(max(days)), [row]
            )
        else:
            held.first_month = min(held.first_month, _month(min(days)))
            held.last_month = max(held.last_month, _month(max(days)))
            held.accounts.append(row)
    for held in books.values():
        held.accounts.sort(key=lambda a: a.name)

    title = "Restitution trust ledger" + (f", trust #{trust.pk}" if trust is not None else "")
    writer.header(title)
    first_use: dict[str, date] = {}
    for row in by_id.values():
        first_use[row.currency] = min(row.opened, first_use.get(row.currency, row.opened))
    for currency in sorted(first_use):
        writer.commodity(currency, first_use[currency])
    for row in sorted(by_id.values(), key=lambda a: a.name):
        writer.open(row)
    summary.trusts = len(trusts)
    summary.accounts = len(by_id)

    # The daily movements (normal side), in date order, summed as the month ends go by.
    movements = iter(
        AccountDay.objects.filter(**account_scope)
        .order_by("day", "account_id")
        .values_list("account_id", "day", "net_minor")
        .iterator(chunk_size=CHUNK)
    )
    pending: list[tuple[int, date, int]] = []
    moved: dict[int, int] = defaultdict(int)
    next_month = min((b.first_month for b in books.values()), default=None)

    def month_ends_until(month: int) -> None:
        """Assert every trust's balances at each month end before ``month``."""
        nonlocal next_month
        while next_month is not None and next_month < month:
            end = _month_end(next_month)
            while True:
                if not pending:
                    movement = next(movements, None)
                    if movement is None:
                        break
                    pending.append(movement)
                account_id, day, net = pending[0]
                if day > end:
                    break
                moved[account_id] += net
                pending.clear()
            for held in books.values():
                if not held.first_month <= next_month <= held.last_month:
                    continue
                rows: list[tuple[str, int, str]] = []
                for a in held.accounts:
                    if a.opened > end:
                        continue
                    rows.append((a.name, a.sign * moved[a.pk], a.currency))
                    if next_month == held.last_month and a.balance_minor != moved[a.pk]:
                        # The stored balance disagrees with the daily movements: assert both,
                        # and let the tools say which one the postings contradict.
                        rows.append((a.name, a.sign * a.balance_minor, a.currency))
                if rows:
                    writer.assertions(held.pk, end, rows)
                    summary.assertions += len(rows)
            next_month += 1

    postings = (
        Posting.objects.filter(**entry_scope)
        .order_by("effective_date", "entry_id", "id")
        .values_list(
            "entry_id",
            "effective_date",
            "account_id",
            "amount_minor",
            "currency",
            "entry__kind",
            "entry__idempotency_key",
            "entry__reverses_id",
        )
        .iterator(chunk_size=CHUNK)
    )
    current: tuple[int, date, str, str, int | None] | None = None
    legs: list[tuple[str, int, str]] = []

    def emit() -> None:
        if current is None:
            return
        entry_id, day, kind, key, reverses = current
        writer.entry(entry_id, day, kind, key, reverses, legs)
        summary.entries += 1
        summary.postings += len(legs)

    for entry_id, day, account_id, minor, currency, kind, key, reverses in postings:
        if current is None or entry_id != current[0]:
            emit()
            month_ends_until(_month(day))
            current = (entry_id, day, kind, key, reverses)
            legs = []
        legs.append((by_id[account_id].name, minor, currency))
    emit()
    month_ends_until(max((b.last_month for b in books.values()), default=0) + 1)
    return summary
