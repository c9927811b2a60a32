"""What every page's header needs: which sections the signed-in user may open (asked of
``trust.access``, so the menu never offers a page that would answer "not found")."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from trust.access import grants, trust_ids
from trust.roles import Action


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    held = grants(user)
    children, partner_children = trust_ids(user, Action.BENEFICIARY_VIEW)
    requests, partner_requests = trust_ids(user, Action.REQUEST_VIEW)
    audit, _ = trust_ids(user, Action.AUDIT_VIEW)
    return {
        "nav": {
            "children": bool(children or partner_children),
            "requests": bool(requests or partner_requests),
            "audit": bool(audit),
            "partners": bool(requests or partner_requests),
            "admin": bool(user.is_staff and (held.appointed or held.superuser)),
        }
    }
