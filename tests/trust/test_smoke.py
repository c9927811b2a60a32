from tests.factories import TrustFactory, beneficiary, fund
from trust.models import Account
from trust.selectors import account_balance


def test_fund_credits_sub_ledger_and_bank(db):
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-1")
    fund(trust, sub, "100.00")
    assert str(account_balance(account_id=sub.pk).amount) == "100.00"
    bank = trust.accounts.get(role=Account.Role.BANK)
    assert str(account_balance(account_id=bank.pk).amount) == "100.00"
