"""The three demo logins (username, password, group, name): each demo user is named after its
role. For the embedded demo only: the demo_users command refuses to create them on a configured
production database."""

from trust.roles import AUDITOR, CASEWORKER, TRUSTEE

DEMO_LOGINS = [
    (TRUSTEE, "demo-trustee-pass", TRUSTEE, "Tess Trustee (demo)"),
    (CASEWORKER, "demo-caseworker-pass", CASEWORKER, "Carlo Caseworker (demo)"),
    (AUDITOR, "demo-auditor-pass", AUDITOR, "Aud Itor (demo)"),
]
