"""The audit trail, in one package (docs/audit.md has the design).

- ``models``: events, chain heads, signed checkpoints, verification runs (app label ``trust``).
- ``canonical``: the one serialisation that is hashed (no Django).
- ``events``: recording events in the transaction of the change they describe.
- ``sealing``: chaining committed events and giving them their place in the log.
- ``keys``: the signing key, trusted public keys and the statement a checkpoint signs.
- ``checkpoints``: signing a tree head of the sealed log.
- ``verify``: checking every chain, tree head and signature from the database.
- ``runs``: verification runs queued by an auditor or the nightly schedule.
- ``export`` and ``proofs``: the bundle for auditors, inclusion and consistency proofs.
- ``merkle``: RFC 9162 tree hashing (pure Python, no Django).
- ``selectors``, ``views``, ``urls``: the auditor's pages.
- ``signin``: users, roles and sign-ins, recorded from Django's auth signals.

This file imports nothing, so ``trust.audit.merkle`` and ``trust.audit.canonical`` load alone.
"""
