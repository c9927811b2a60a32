"""What other apps reserve on the children's sub-ledgers (disbursements: approved, unpaid
requests), as the trust app may ask without importing them: each provider is a function
trust -> {sub-ledger account id: reserved minor units}, registered in the app's ``ready``
(``trust.bank.services.charges.reserved_provider_register``). Anything that takes money out of a
sub-ledger other than a payment (a fee, a receipt's reversal) leaves at least this much."""

from __future__ import annotations

from collections.abc import Callable

from trust.models import Trust

ReservedProvider = Callable[[Trust], dict[int, int]]
RESERVED_PROVIDERS: list[ReservedProvider] = []


def reserved_by_account(*, trust: Trust) -> dict[int, int]:
    """Sub-ledger account id -> what is reserved on it (every registered provider, summed)."""
    total: dict[int, int] = {}
    for provider in RESERVED_PROVIDERS:
        for account_id, minor in provider(trust).items():
            total[account_id] = total.get(account_id, 0) + int(minor)
    return total
