"""Throttles: per token (per user for the session) and per client address. The counters live in
the cache: Redis in production (``TRUST_CACHE_URL``), so several web processes count together."""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import SimpleRateThrottle

from trust.models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    """Per token (per user for the session): ``TRUST_API_RATE_TOKEN``."""

    scope = "token"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if isinstance(request.auth, ApiToken):
            ident = f"t:{request.auth.token_key}"
        elif request.user and request.user.is_authenticated:
            ident = f"u:{request.user.pk}"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AddressRateThrottle(SimpleRateThrottle):
    """Per client address, signed in or not: ``TRUST_API_RATE_ADDRESS``."""

    scope = "address"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
