"""The three demo logins (username, password, group, name). For the embedded demo only: the
demo_users command refuses to create them on a configured production database."""

DEMO_LOGINS = [
    ("trustee", "demo-trustee-pass", "trustee", "Tess Trustee (demo)"),
    ("caseworker", "demo-caseworker-pass", "caseworker", "Carlo Caseworker (demo)"),
    ("auditor", "demo-auditor-pass", "auditor", "Aud Itor (demo)"),
]
