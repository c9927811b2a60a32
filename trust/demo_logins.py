"""The demo logins (username, password, role, name). For the embedded demo only: the demo_users
command refuses to create them on a configured production database.

The trustees and the auditor are appointed to every demo trust; the caseworkers are placed with a
care partner each by ``demo_disbursements`` (the first with MV-1's partner, the second with
another), so that one caseworker never sees the other's children."""

from trust.roles import AUDITOR, CASEWORKER, TRUSTEE

DEMO_LOGINS = [
    (TRUSTEE, "demo-trustee-pass", TRUSTEE, "Tess Trustee (demo)"),
    (f"{TRUSTEE}2", "demo-trustee2-pass", TRUSTEE, "Theo Second-Trustee (demo)"),
    (CASEWORKER, "demo-caseworker-pass", CASEWORKER, "Carlo Caseworker (demo)"),
    (f"{CASEWORKER}2", "demo-caseworker2-pass", CASEWORKER, "Cora Other-Partner (demo)"),
    (AUDITOR, "demo-auditor-pass", AUDITOR, "Aud Itor (demo)"),
]
SECOND_TRUSTEE = DEMO_LOGINS[1][0]
SECOND_CASEWORKER = DEMO_LOGINS[3][0]
