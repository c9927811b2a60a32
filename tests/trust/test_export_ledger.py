"""``manage.py export_ledger``: the ledger as a beancount or hledger journal that the tools check.

The tools are the judges: ``bean-check`` (beancount, a dev dependency) and Debian's ``hledger``
(``.ci/run`` installs it) must accept the export of the demo and of random multi-currency ledgers
with currency exchange and reversals, and every balance they compute from the postings must be the
application's stored balance (debit positive). A journal changed by one posting, or a stored
balance changed in the database, must make them fail: the month-end assertions bite. Without a
tool these tests skip saying how to install it, and fail under ``CI=true``.
"""

from __future__ import annotations

import csv
import io
import os
import random
import re
import shutil
import subprocess
import sys
import threading
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from moneyed import Money

from tests.conftest import CI
from tests.factories import TrustFactory, account, beneficiary, fund
from trust.demo import seed_demo_trust
from trust.journal_export import _Beancount, account_component, account_names, journal_export
from trust.models import Account, AccountDay, EntryKind, JournalEntry
from trust.money import from_minor
from trust.services.ledger import EntrySpec, LedgerError, Leg, entries_post, entry_reverse
from trust.services.people import beneficiary_identity_set
from trust.services.trusts import account_create, role_account

pytestmark = pytest.mark.django_db

BEAN_CHECK = os.environ.get("TRUST_BEAN_CHECK", str(Path(sys.executable).with_name("bean-check")))
HLEDGER = os.environ.get("TRUST_HLEDGER") or shutil.which("hledger") or "/usr/bin/hledger"
HOW = {
    "bean-check": 'pip install -e ".[dev]" (beancount is a dev dependency)',
    "hledger": "apt-get install -y hledger (Debian's; .ci/run installs it), then run the tests again",
}
# Beancount's account component, as its grammar has it (ASCII here); roots are fixed.
COMPONENT = re.compile(r"^[A-Z0-9][A-Za-z0-9-]*$")


def tool(name: str, path: str) -> str:
    if not os.access(path, os.X_OK):
        message = f"needs {name} ({path} not found): {HOW[name]}"
        if CI:
            pytest.fail(f"{message} (CI installs it)")
        pytest.skip(message)
    return path


@pytest.fixture
def bean_check() -> str:
    return tool("bean-check", BEAN_CHECK)


@pytest.fixture
def hledger() -> str:
    return tool("hledger", HLEDGER)


def export(tmp_path: Path, fmt: str, *args: str) -> Path:
    out = tmp_path / f"ledger.{'beancount' if fmt == 'beancount' else 'journal'}"
    call_command("export_ledger", "--format", fmt, "--out", str(out), *args, stdout=StringIO())
    return out


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def expected_balances(accounts: Any) -> dict[str, Decimal]:
    """The application's stored balances, debit positive, by journal account name."""
    accounts = list(accounts)
    names = account_names(accounts)
    return {
        names[a.pk]: from_minor(a.balance_minor * a.normal_sign, a.currency).amount
        for a in accounts
    }


def beancount_balances(path: Path) -> dict[str, Decimal]:
    """Every open account's balance as beancount computes it (one currency per account)."""
    from beancount import loader
    from beancount.core import data, realization

    entries, errors, _options = loader.load_file(str(path))
    assert not errors, [str(e) for e in errors]
    real = realization.realize(entries)
    balances = {}
    for entry in entries:
        if isinstance(entry, data.Open):
            inventory = realization.get(real, entry.account).balance
            positions = [p.units for p in inventory]
            assert len(positions) <= 1, (entry.account, positions)
            balances[entry.account] = positions[0].number if positions else Decimal(0)
    return balances


def hledger_balances(hledger: str, path: Path) -> dict[str, Decimal]:
    """Every account's balance as ``hledger balance`` reports it (zeros included)."""
    result = run(hledger, "-f", str(path), "balance", "-N", "--flat", "-E", "-O", "csv")
    assert result.returncode == 0, result.stderr
    balances = {}
    for row in list(csv.reader(io.StringIO(result.stdout)))[1:]:
        name, amount = row
        balances[name] = Decimal(amount.split()[0].replace(",", ""))
    return balances


def assert_beancount_agrees(bean_check: str, path: Path, accounts: Any) -> None:
    result = run(bean_check, str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert beancount_balances(path) == expected_balances(accounts)


def assert_hledger_agrees(hledger: str, path: Path, accounts: Any) -> None:
    # --strict: every account and commodity declared; ordereddates: entries in date order.
    result = run(hledger, "-f", str(path), "check", "--strict", "ordereddates")
    assert result.returncode == 0, result.stdout + result.stderr
    assert hledger_balances(hledger, path) == expected_balances(accounts)


# --- the demo -----------------------------------------------------------------------------------


@pytest.fixture
def demo(settings: Any) -> Any:
    """The demo trust with its payments, two of them in PHP through the trading accounts."""
    settings.DEMO_ALLOWED = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    trust = seed_demo_trust(beneficiaries=3, months=4, seed=5).trust
    call_command("demo_users", stdout=StringIO())
    call_command("demo_disbursements", stdout=StringIO())
    assert trust.accounts.filter(role=Account.Role.TRADING).count() == 2  # USD and PHP
    return trust


def test_demo_export_passes_bean_check_with_the_stored_balances(demo, bean_check, tmp_path):
    path = export(tmp_path, "beancount", "--trust", str(demo.pk))
    assert_beancount_agrees(bean_check, path, demo.accounts.all())


def test_demo_export_passes_hledger_check_with_the_stored_balances(demo, hledger, tmp_path):
    path = export(tmp_path, "hledger", "--trust", str(demo.pk))
    assert_hledger_agrees(hledger, path, demo.accounts.all())


def test_demo_export_has_no_prices_memos_or_identities(demo, tmp_path):
    text = export(tmp_path, "beancount", "--trust", str(demo.pk)).read_text()
    text += export(tmp_path, "hledger", "--trust", str(demo.pk)).read_text()
    assert "@" not in text  # no @ or @@ price anywhere: each currency balances on its own
    for memo in JournalEntry.objects.filter(trust=demo).exclude(memo="").values_list("memo"):
        assert memo[0] not in text
    for opened in demo.accounts.all():
        assert opened.name not in text  # names are never written, codes are
    for secret in ("Quill Example-Defendant", "Sub-ledger", "Harbor Light"):
        assert secret not in text


def test_export_leaves_identifying_data_out(tmp_path):
    trust = TrustFactory()
    child, sub = beneficiary(trust, "MV-1")
    beneficiary_identity_set(
        beneficiary=child, actor=None, legal_name="Invented Childname", guardian_contact="x"
    )
    fund(trust, sub, "10.00")
    text = export(tmp_path, "beancount").read_text() + export(tmp_path, "hledger").read_text()
    assert "Invented Childname" not in text
    assert f"Liabilities:T{trust.pk}:2100-MV-1" in text


# --- random ledgers -----------------------------------------------------------------------------

CURRENCIES = ("PHP", "JPY", "BHD")
START = date(2025, 1, 1)


def random_ledger(seed: int) -> Any:
    """A trust with sub-ledgers named awkwardly, banks in four currencies (0, 2 and 3 decimals),
    receipts, payments, exchanges and payouts through the trading accounts, reversals, all in
    random date order over 18 months, and an account that never moves."""
    rng = random.Random(seed)
    trust = TrustFactory()
    # "MV 1" and "MV-1" reduce to the same component: the later gets its id appended.
    subs = [beneficiary(trust, p)[1] for p in ("MV-1", "MV 1", "Minor Victim A", "Niño B")]
    bank = {"USD": account(trust, Account.Role.BANK)}
    for currency in CURRENCIES:
        bank[currency] = account_create(
            trust=trust,
            code=f"1000-BANK-{currency}",
            name=f"Bank ({currency})",
            type=Account.Type.ASSET,
            role=Account.Role.BANK,
            currency=currency,
            no_negative=True,
        )
    account_create(
        trust=trust,
        code="1200-receivable",
        name="Receivable",
        type=Account.Type.ASSET,
        role=Account.Role.RECEIVABLE,
        currency="USD",
    )
    trading = {
        c: role_account(trust=trust, role=Account.Role.TRADING, currency=c)
        for c in ("USD", *CURRENCIES)
    }
    transit = role_account(trust=trust, role=Account.Role.IN_TRANSIT, currency="PHP")

    def money(minor: int, currency: str) -> Money:
        return from_minor(minor, currency)

    def when() -> date:
        return START + timedelta(days=rng.randrange(548))

    def exchange(usd: int, currency: str, to: Account | int) -> list[Leg]:
        rate = {"PHP": 56, "JPY": 150, "BHD": Decimal("0.377")}[currency]
        got = int(Decimal(usd) * Decimal(rate) * Decimal(rng.uniform(0.97, 1.03)))
        got = got // 100 if currency == "JPY" else got * 10 if currency == "BHD" else got
        return [
            Leg(trading["USD"], money(usd, "USD")),
            Leg(trading[currency], money(-got, currency)),
            Leg(to, money(got, currency)),
        ]

    posted: list[int] = []
    for n in range(70):
        action = rng.choice(["receipt"] * 3 + ["payment", "exchange", "payout", "reversal"])
        key = f"random-{seed}-{n}"
        try:
            if action == "receipt":
                shares = [rng.randint(1, 500_00) for _ in subs]
                legs = [Leg(bank["USD"], money(sum(shares), "USD"))]
                legs += [Leg(s, money(-x, "USD")) for s, x in zip(subs, shares, strict=True)]
                spec = EntrySpec(when(), legs, key, kind=EntryKind.RECEIPT)
            elif action == "payment":
                sub = rng.choice(subs)
                x = rng.randint(1, 200_00)
                legs = [Leg(sub, money(x, "USD")), Leg(bank["USD"], money(-x, "USD"))]
                spec = EntrySpec(when(), legs, key, kind=EntryKind.PAYMENT)
            elif action == "exchange":
                currency, x = rng.choice(CURRENCIES), rng.randint(1_00, 300_00)
                legs = [Leg(bank["USD"], money(-x, "USD")), *exchange(x, currency, bank[currency])]
                spec = EntrySpec(when(), legs, key, kind=EntryKind.FX)
            elif action == "payout":
                sub, x = rng.choice(subs), rng.randint(1_00, 100_00)
                # USD leaves the sub-ledger into trading; PHP leaves trading into transit.
                legs = [Leg(sub, money(x, "USD")), *exchange(-x, "PHP", transit)]
                spec = EntrySpec(when(), legs, key, kind=EntryKind.PAYMENT)
            else:
                if not posted:
                    continue
                entry = JournalEntry.objects.get(pk=rng.choice(posted))
                if entry.reversals.exists():
                    continue
                entry_reverse(entry=entry, actor=None, reason="test", effective_date=when())
                continue
            posted.append(entries_post(trust=trust, actor=None, entries=[spec])[0].entry_id)
        except LedgerError:
            continue  # an overdraft the random walk asked for: refused, as it should be
    assert trust.entries.filter(reverses__isnull=False).exists()
    assert trust.entries.filter(kind=EntryKind.FX).exists()
    return trust


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_ledger_export_passes_bean_check_with_the_stored_balances(
    seed, bean_check, tmp_path
):
    trust = random_ledger(seed)
    assert_beancount_agrees(bean_check, export(tmp_path, "beancount"), trust.accounts.all())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_ledger_export_passes_hledger_check_with_the_stored_balances(
    seed, hledger, tmp_path
):
    trust = random_ledger(seed)
    assert_hledger_agrees(hledger, export(tmp_path, "hledger"), trust.accounts.all())


def test_every_trust_is_exported_with_its_own_account_names(bean_check, hledger, tmp_path):
    first, second = random_ledger(4), random_ledger(5)
    accounts = Account.objects.filter(trust__in=[first, second])
    assert_beancount_agrees(bean_check, export(tmp_path, "beancount"), accounts)
    assert_hledger_agrees(hledger, export(tmp_path, "hledger"), accounts)
    assert f"Assets:T{first.pk}:1000-BANK " in export(tmp_path, "beancount").read_text()
    assert f"Assets:T{second.pk}:1000-BANK " in export(tmp_path, "beancount").read_text()


def test_one_trust_is_exported_alone(tmp_path):
    first, second = random_ledger(6), random_ledger(7)
    text = export(tmp_path, "beancount", "--trust", str(second.pk)).read_text()
    assert f":T{second.pk}:" in text
    assert f":T{first.pk}:" not in text


# --- the assertions bite ------------------------------------------------------------------------


def entry_block(text: str, entry_id: int, fmt: str) -> tuple[int, int]:
    marker = f'entry: "{entry_id}"' if fmt == "beancount" else f"; entry:{entry_id},"
    start = text.index(marker)
    end = text.index("\n\n", start)
    return start, end


def shift_a_cent(text: str, entry_id: int, fmt: str) -> str:
    """Move 0.01 between the first two postings of an entry: it still balances, the accounts'
    balances do not."""
    start, end = entry_block(text, entry_id, fmt)
    block = text[start:end]
    amounts = list(re.finditer(r"  (-?\d+\.\d\d) USD$", block, re.MULTILINE))
    first, second = amounts[0], amounts[1]
    changed = (
        block[: first.start(1)]
        + str(Decimal(first.group(1)) + Decimal("0.01"))
        + block[first.end(1) : second.start(1)]
        + str(Decimal(second.group(1)) - Decimal("0.01"))
        + block[second.end(1) :]
    )
    return text[:start] + changed + text[end:]


def change_one_posting(text: str, entry_id: int, fmt: str) -> str:
    start, end = entry_block(text, entry_id, fmt)
    block = text[start:end]
    found = re.search(r"  (-?\d+\.\d\d) USD$", block, re.MULTILINE)
    assert found
    changed = (
        block[: found.start(1)]
        + str(Decimal(found.group(1)) + Decimal("0.01"))
        + block[found.end(1) :]
    )
    return text[:start] + changed + text[end:]


@pytest.fixture
def small_trust() -> Any:
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-1")
    first = fund(trust, sub, "100.00", on=date(2026, 1, 15))
    fund(trust, sub, "50.00", on=date(2026, 3, 2))
    return trust, first.entry_id


def test_a_changed_posting_fails_bean_check(small_trust, bean_check, tmp_path):
    _, entry_id = small_trust
    path = export(tmp_path, "beancount")
    assert run(bean_check, str(path)).returncode == 0
    path.write_text(change_one_posting(path.read_text(), entry_id, "beancount"))
    assert run(bean_check, str(path)).returncode != 0


def test_a_cent_moved_within_a_balanced_entry_fails_the_month_end_assertion(
    small_trust, bean_check, hledger, tmp_path
):
    _, entry_id = small_trust
    path = export(tmp_path, "beancount")
    path.write_text(shift_a_cent(path.read_text(), entry_id, "beancount"))
    result = run(bean_check, str(path))
    assert result.returncode != 0
    assert "Balance failed" in result.stdout + result.stderr
    assert "2026-02-01 balance" in result.stdout + result.stderr  # January's end, to the cent

    path = export(tmp_path, "hledger")
    path.write_text(shift_a_cent(path.read_text(), entry_id, "hledger"))
    result = run(hledger, "-f", str(path), "check")
    assert result.returncode != 0
    assert "balance assertion" in result.stderr
    assert "2026-01-31" in result.stderr


def test_a_changed_posting_fails_hledger_check(small_trust, hledger, tmp_path):
    _, entry_id = small_trust
    path = export(tmp_path, "hledger")
    assert run(hledger, "-f", str(path), "check").returncode == 0
    path.write_text(change_one_posting(path.read_text(), entry_id, "hledger"))
    assert run(hledger, "-f", str(path), "check").returncode != 0


def test_a_stored_balance_that_is_not_the_sum_of_postings_fails_both_tools(
    small_trust, bean_check, hledger, tmp_path
):
    trust, _ = small_trust
    bank = account(trust, Account.Role.BANK)
    with connection.cursor() as cursor:  # what a direct UPDATE would do
        cursor.execute(
            "UPDATE trust_account SET balance_minor = balance_minor + 1 WHERE id = %s", [bank.pk]
        )
    result = run(bean_check, str(export(tmp_path, "beancount")))
    assert result.returncode != 0
    assert f"Assets:T{trust.pk}:1000-BANK" in result.stdout + result.stderr
    result = run(hledger, "-f", str(export(tmp_path, "hledger")), "check")
    assert result.returncode != 0
    assert f"Assets:T{trust.pk}:1000-BANK" in result.stderr


def test_stored_daily_movements_that_are_not_the_postings_fail_both_tools(
    small_trust, bean_check, hledger, tmp_path
):
    trust, _ = small_trust
    day = AccountDay.objects.get(account=account(trust, Account.Role.BANK), day=date(2026, 1, 15))
    with connection.cursor() as cursor:  # what statements and court accounts read, changed
        cursor.execute(
            "UPDATE trust_account_day SET net_minor = net_minor - 1 WHERE id = %s", [day.pk]
        )
    result = run(bean_check, str(export(tmp_path, "beancount")))
    assert "2026-02-01 balance" in result.stdout + result.stderr
    result = run(hledger, "-f", str(export(tmp_path, "hledger")), "check")
    assert "2026-01-31" in result.stderr


def test_an_entry_posted_during_the_export_is_left_out_whole(
    transactional_db, bean_check, tmp_path, monkeypatch
):
    """The export reads one snapshot: an entry committed while it streams (its postings, its daily
    movement, the balance) is in none of what it writes, so the assertions still hold."""
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-1")
    fund(trust, sub, "100.00", on=date(2026, 1, 15))
    fund(trust, sub, "50.00", on=date(2026, 3, 2))
    written = _Beancount.entry
    posted: list[int] = []

    def post_meanwhile() -> None:
        try:
            posted.append(fund(trust, sub, "1.00", on=date(2026, 1, 20)).entry_id)
        finally:
            connection.close()

    def entry_then_post(self: _Beancount, *args: Any) -> None:
        written(self, *args)
        if not posted:
            other = threading.Thread(target=post_meanwhile)
            other.start()
            other.join()

    monkeypatch.setattr(_Beancount, "entry", entry_then_post)
    path = export(tmp_path, "beancount")
    assert posted, "the concurrent entry was not posted"
    assert f'entry: "{posted[0]}"' not in path.read_text()
    result = run(bean_check, str(path))
    assert result.returncode == 0, result.stdout + result.stderr


# --- what is written ----------------------------------------------------------------------------


def test_every_account_is_asserted_at_every_month_end(small_trust, tmp_path):
    trust, _ = small_trust
    text = export(tmp_path, "beancount").read_text()
    for first_of_next in ("2026-02-01", "2026-03-01", "2026-04-01"):
        asserted = re.findall(rf"^{first_of_next} balance (\S+) ", text, re.MULTILINE)
        assert sorted(asserted) == sorted(account_names(list(trust.accounts.all())).values())
    assert f"2026-04-01 balance Assets:T{trust.pk}:1000-BANK  150.00 ~ 0 USD" in text
    assert f"2026-02-01 balance Liabilities:T{trust.pk}:2100-MV-1  -100.00 ~ 0 USD" in text
    assert "2026-05-01 balance" not in text


def test_amounts_are_exact_in_each_currency_s_minor_unit(tmp_path):
    trust = random_ledger(8)
    text = export(tmp_path, "hledger").read_text()
    assert re.search(r"^commodity 1000\. JPY$", text, re.MULTILINE)
    assert re.search(r"^commodity 1000\.000 BHD$", text, re.MULTILINE)
    assert re.search(r"^commodity 1000\.00 USD$", text, re.MULTILINE)
    assert re.search(r"  -?\d+ JPY$", text, re.MULTILINE)
    assert re.search(r"  -?\d+\.\d{3} BHD$", text, re.MULTILINE)
    assert not re.search(r"\d\.\d{4,}|e[+-]?\d", text)
    assert trust.pk


@pytest.mark.parametrize(
    ("code", "component"),
    [
        ("1000-BANK", "1000-BANK"),
        ("2100-Minor Victim A", "2100-Minor-Victim-A"),
        ("2100-Niño B", "2100-Nino-B"),
        ("2100-#42", "2100-42"),
        ("2100-O'Neil.Jr", "2100-O-Neil-Jr"),
        ("cash", "Cash"),
    ],
)
def test_account_codes_become_components_both_tools_accept(code, component):
    assert account_component(code) == component
    assert COMPONENT.match(component)


def test_codes_that_reduce_alike_get_distinct_names():
    trust = TrustFactory()
    a = beneficiary(trust, "MV-1")[1]
    b = beneficiary(trust, "MV 1")[1]
    names = account_names(list(trust.accounts.all()))
    assert names[a.pk] == f"Liabilities:T{trust.pk}:2100-MV-1"
    assert names[b.pk] == f"Liabilities:T{trust.pk}:2100-MV-1-A{b.pk}"
    assert len(set(names.values())) == len(names)


def test_stdout_export_is_the_file_export(small_trust, tmp_path):
    out, err = StringIO(), StringIO()
    call_command("export_ledger", "--format", "hledger", stdout=out, stderr=err)
    assert out.getvalue() == export(tmp_path, "hledger").read_text()
    assert "balance assertions to stdout" in err.getvalue()


def test_the_export_streams_in_a_fixed_number_of_queries(django_assert_max_num_queries):
    trust = random_ledger(9)
    out = StringIO()
    with django_assert_max_num_queries(8):
        summary = journal_export(out=out, fmt="beancount", trust=trust)
    assert summary.postings == sum(e.postings.count() for e in trust.entries.all())


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "ledger"], "unknown format 'ledger'"),
        (["--format", "beancount", "--trust", "999999"], "no trust with id '999999'"),
        (["--format", "hledger", "--trust", "abc"], "no trust with id 'abc'"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_written(small_trust, tmp_path, args, message):
    out = tmp_path / "ledger.txt"
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("export_ledger", *args, "--out", str(out), stdout=StringIO())
    assert list(tmp_path.iterdir()) == []


def test_an_export_that_fails_leaves_no_file(small_trust, tmp_path, monkeypatch):
    import trust.management.commands.export_ledger as command

    def broken(**kwargs: Any) -> None:
        kwargs["out"].write("partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(command, "journal_export", broken)
    with pytest.raises(RuntimeError):
        call_command("export_ledger", "--format", "beancount", "--out", str(tmp_path / "x"))
    assert list(tmp_path.iterdir()) == []
