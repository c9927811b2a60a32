"""The demo logins (username, password, role, name). For the embedded demo only: the demo_users
command refuses to create them on a configured production database.

The trustees and the auditor are appointed to every demo trust; the caseworkers are placed with a
care partner each by ``demo_disbursements`` (the first with MV-1's partner, the second with
another), so that one caseworker never sees the other's children. The passwords pass the password
rules (``AUTH_PASSWORD_VALIDATORS``: not like the username, name or address)."""

from trust.roles import AUDITOR, CASEWORKER, TRUSTEE

DEMO_LOGINS = [
    (TRUSTEE, "demo-pass-for-tess", TRUSTEE, "Tess Trustee (demo)"),
    (f"{TRUSTEE}2", "demo-pass-for-theo", TRUSTEE, "Theo Second-Trustee (demo)"),
    (CASEWORKER, "demo-pass-for-carlo", CASEWORKER, "Carlo Caseworker (demo)"),
    (f"{CASEWORKER}2", "demo-pass-for-cora", CASEWORKER, "Cora Other-Partner (demo)"),
    (AUDITOR, "demo-pass-for-aud", AUDITOR, "Aud Itor (demo)"),
]
SECOND_TRUSTEE = DEMO_LOGINS[1][0]
SECOND_CASEWORKER = DEMO_LOGINS[3][0]
