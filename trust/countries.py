"""ISO 3166-1 countries, from pycountry (kept with each release of the standard), for validating
and naming a beneficiary's or a care partner's country. No Django."""

from __future__ import annotations

import pycountry

# Alpha-2 codes of the officially assigned countries.
COUNTRY_CODES: frozenset[str] = frozenset(country.alpha_2 for country in pycountry.countries)


def country_name(code: str) -> str:
    """The country's short name ("Philippines" for "PH"), or the code itself if unknown."""
    country = pycountry.countries.get(alpha_2=(code or "").upper())
    return country.name if country else code
