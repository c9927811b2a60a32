"""The bank: statements imported from the bank, matched with the ledger, and reconciled."""
