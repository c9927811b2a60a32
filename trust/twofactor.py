"""The second factor (TOTP, django-otp): who must have one, enrolment with a QR code and recovery
codes, verification, and a fresh factor for the acts that move money or reveal a child.

- Trustees, auditors and administrators (and superusers) must sign in with a second factor;
  caseworkers too when one of the trusts their partner serves says so (``Trust.caseworker_second_factor``).
- ``SecondFactorMiddleware`` sends such a user, signed in with a password only, to enrol (no
  device yet) or to verify; the sign-in and sign-out pages, the enrolment and verification pages
  and static files stay open. API calls with a token are not asked: the token was created on a
  page behind the second factor and is its own credential (docs/api.md).
- Approving, paying, revealing an identity and rotating keys ask for a fresh factor when the last
  one is older than ``FRESH`` (``require_fresh``).
- ``TRUST_DEMO_SKIP_SECOND_FACTOR`` lets the embedded demo's users in without one; it is refused
  with ``DATABASE_URL`` set (config/settings.py), and the README says so.

Every enrolment, removal, failed code and use of a recovery code is an audit event (never the
code itself)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django_otp import login as otp_login
from django_otp import match_token, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from trust.access import grants
from trust.audit.events import audit_record
from trust.models import Trust
from trust.roles import ADMINISTRATOR, AUDITOR, TRUSTEE

FRESH = timedelta(minutes=15)
VERIFIED_AT = "second_factor_at"  # session key: when the last factor was given (ISO time)
RECOVERY_CODES = 10


def needs_second_factor(user: Any) -> bool:
    """Whether ``user`` must sign in with a second factor (see the module's docstring)."""
    if getattr(settings, "DEMO_SKIP_SECOND_FACTOR", False):
        return False
    if not getattr(user, "is_authenticated", False):
        return False
    held = grants(user)
    if held.superuser or any(held.holds(role) for role in (TRUSTEE, AUDITOR, ADMINISTRATOR)):
        return True
    if held.partner_id is not None and held.partner_trusts:
        return Trust.objects.filter(
            pk__in=held.partner_trusts, caseworker_second_factor=True
        ).exists()
    return False


def _record(action: str, user: Any, **changes: Any) -> None:
    with transaction.atomic():
        audit_record(
            action=action, actor=user, object_type="user", object_id=user.pk, changes=changes
        )


# --- enrolment ---------------------------------------------------------------------------------


def enrolment_start(*, user: Any) -> TOTPDevice:
    """A new, unconfirmed authenticator for ``user`` (an earlier unconfirmed one is replaced)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=False)


def enrolment_confirm(*, request: HttpRequest, device: TOTPDevice, code: str) -> list[str]:
    """Confirm ``device`` with a code it shows: it becomes the user's authenticator (any earlier
    one is removed), the session counts as verified, and ten recovery codes are made and returned
    (shown once; only they are kept, as django-otp keeps them, to be used once each)."""
    user = request.user
    if device.user_id != user.pk or device.confirmed:
        raise ValidationError("Start the enrolment again.", code="bad_device")
    if not device.verify_token((code or "").strip().replace(" ", "")):
        _record("second_factor.failed", user, during="enrolment")
        raise ValidationError(
            {
                "code": ValidationError(
                    "That code is not the one the app shows now.", code="bad_code"
                )
            }
        )
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        StaticDevice.objects.filter(user=user).delete()
        backup = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
        codes = [f"{secrets.randbelow(10**10):010d}" for _ in range(RECOVERY_CODES)]
        StaticToken.objects.bulk_create(StaticToken(device=backup, token=code) for code in codes)
        _record("second_factor.enrolled", user, recovery_codes=len(codes))
    _verified(request, device)
    return codes


def qr_svg(device: TOTPDevice, user: Any) -> str:
    """The enrolment QR code as SVG markup (segno: pure Python, no image library)."""
    import segno

    return segno.make(device.config_url, error="m").svg_inline(
        scale=4, dark="#1d2733", light="#ffffff", omitsize=True
    )


def secret_text(device: TOTPDevice) -> str:
    """The key in base32, in groups of four, for typing into an app that cannot scan."""
    from base64 import b32encode

    text = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


# --- verification ------------------------------------------------------------------------------


def verify(*, request: HttpRequest, code: str) -> None:
    """Check a code from the authenticator or a recovery code; the session counts as verified
    (now) or ``ValidationError``. A recovery code works once."""
    user = request.user
    device = match_token(user, (code or "").strip().replace(" ", ""))
    if device is None:
        _record("second_factor.failed", user, during="verification")
        raise ValidationError(
            {
                "code": ValidationError(
                    "That code is not right, or was used already.", code="bad_code"
                )
            }
        )
    if isinstance(device, StaticDevice):
        left = StaticToken.objects.filter(device=device).count()
        _record("second_factor.recovery_code_used", user, recovery_codes_left=left)
    _verified(request, device)


def _verified(request: HttpRequest, device: Any) -> None:
    otp_login(request, device)
    request.session[VERIFIED_AT] = timezone.now().isoformat()


def is_fresh(request: HttpRequest) -> bool:
    """Whether the second factor was given within ``FRESH`` (always, for users who need none)."""
    if not needs_second_factor(request.user):
        return True
    stamp = request.session.get(VERIFIED_AT)
    if not stamp:
        return False
    try:
        given = timezone.datetime.fromisoformat(stamp)
    except ValueError:
        return False
    return timezone.now() - given <= FRESH


def require_fresh(request: HttpRequest) -> HttpResponse | None:
    """For a page that approves, pays, reveals or rotates: ``None`` when the factor is fresh,
    else the redirect to give it again (back to the page the user was on)."""
    if is_fresh(request):
        return None
    back = request.headers.get("Referer") or request.get_full_path()
    return redirect(f"{reverse('second-factor-verify')}?fresh=1&next={_safe_next(request, back)}")


def _safe_next(request: HttpRequest, target: str) -> str:
    from urllib.parse import quote, urlparse

    parsed = urlparse(target)
    if parsed.netloc and parsed.netloc != request.get_host():
        target = "/"
    path = parsed.path if parsed.netloc else target
    return quote(path or "/", safe="/?=&")


# --- the middleware ----------------------------------------------------------------------------

OPEN_PREFIXES = ("/login/", "/logout/", "/account/two-factor/", "/static/", "/favicon")


class SecondFactorMiddleware:
    """A user who needs a second factor and has not given it reaches only the pages that let
    them enrol, verify or sign out."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(OPEN_PREFIXES)
            and not request.headers.get("Authorization", "").startswith("Token ")
            and not user.is_verified()
            and needs_second_factor(user)
        ):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {
                        "type": "https://restitution-trust-ledger.invalid/problems/second_factor_required",
                        "title": "Not allowed",
                        "status": 403,
                        "code": "second_factor_required",
                        "detail": "Give your second factor on /account/two-factor/verify/, or use a token.",
                    },
                    status=403,
                    content_type="application/problem+json",
                )
            page = "second-factor-verify" if user_has_device(user) else "second-factor-setup"
            return redirect(f"{reverse(page)}?next={_safe_next(request, request.get_full_path())}")
        return self.get_response(request)
