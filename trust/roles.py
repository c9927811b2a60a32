"""The roles, named once: every check of "is this user a trustee" and every group name comes from
here (docs/roles.md). A role is a Django group today; the permission layer that scopes each role
to its trusts and partners builds on these names.

- **trustee**: records orders and receipts, decides and pays disbursements, reports to the court;
- **auditor**: reads everything, changes nothing;
- **caseworker**: works for one care partner and sees only that partner's beneficiaries.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

TRUSTEE = "trustee"
AUDITOR = "auditor"
CASEWORKER = "caseworker"
ROLES = (TRUSTEE, AUDITOR, CASEWORKER)

# Who reads every trust's books, requests, reports and the audit trail today.
READERS = (TRUSTEE, AUDITOR)
# Who is told by email when a nightly check of the ledger or the audit trail fails.
ALERTED = (TRUSTEE, AUDITOR)


def _signed_in(user: Any) -> bool:
    return bool(
        getattr(user, "pk", None)
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
    )


def has_role(user: Any, *roles: str) -> bool:
    """Whether ``user`` is active and in any of ``roles`` (a superuser is in no role of its own)."""
    return _signed_in(user) and user.groups.filter(name__in=roles).exists()


def is_trustee(user: Any) -> bool:
    return has_role(user, TRUSTEE)


def reads_everything(user: Any) -> bool:
    """Trustees, auditors and superusers: they read every report and the audit trail."""
    return _signed_in(user) and (user.is_superuser or has_role(user, *READERS))


def role_emails(roles: tuple[str, ...] = ALERTED) -> list[str]:
    """The addresses of the active users in ``roles``, each once (for alerts)."""
    return list(
        get_user_model()
        .objects.filter(groups__name__in=roles, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
        .distinct()
    )
