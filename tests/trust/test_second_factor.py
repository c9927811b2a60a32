"""The second factor (trust/twofactor.py): trustees, auditors and administrators enrol an
authenticator and give a code after their password; recovery codes work once; approving, paying
and revealing ask for a factor given within 15 minutes; caseworkers only where their trust says."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import REPO
from tests.disbursements.test_requests import make_world, submitted
from trust.models import AuditEvent
from trust.twofactor import VERIFIED_AT

pytestmark = [pytest.mark.django_db, pytest.mark.second_factor]


def now_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = timezone.now().timestamp()
    return f"{totp.token():06d}"


def enrol(client: Client) -> tuple[TOTPDevice, list[str]]:
    page = client.get("/account/two-factor/setup/")
    assert page.status_code == 200 and b"<svg" in page.content
    assert "no-store" in page["Cache-Control"]
    device = TOTPDevice.objects.get(pk=page.context["device"].pk)
    done = client.post(
        "/account/two-factor/setup/", {"device": device.pk, "code": now_code(device), "next": "/"}
    )
    assert done.status_code == 200, done.content
    return TOTPDevice.objects.get(pk=device.pk), done.context["codes"]


def test_a_trustee_enrols_then_gives_a_code_after_the_password(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path
    w = make_world()
    client = Client()
    client.force_login(w.trustee)
    first = client.get(f"/trusts/{w.trust.pk}/")
    assert first.status_code == 302 and first["Location"].startswith("/account/two-factor/setup/")
    assert client.get("/api/v1/trusts/").json()["code"] == "second_factor_required"
    device, codes = enrol(client)
    assert device.confirmed and len(codes) == 10 and len(set(codes)) == 10
    assert client.get(f"/trusts/{w.trust.pk}/").status_code == 200  # verified by the enrolment
    assert AuditEvent.objects.filter(action="second_factor.enrolled").count() == 1

    again = Client()
    again.force_login(w.trustee)
    sent = again.get(f"/trusts/{w.trust.pk}/")
    assert sent.status_code == 302 and sent["Location"].startswith("/account/two-factor/verify/")
    wrong = again.post("/account/two-factor/verify/", {"code": "000000", "next": "/"})
    assert wrong.status_code == 400 and b"not right" in wrong.content
    assert again.get(f"/trusts/{w.trust.pk}/").status_code == 302
    event = AuditEvent.objects.filter(action="second_factor.failed").get()
    assert b"000000" not in bytes(event.data)
    # django-otp throttles after a failure (the next try waits 1 s, then 2, 4...): a second try
    # at once is refused even with a good code.
    assert again.post("/account/two-factor/verify/", {"code": codes[0]}).status_code == 400
    from django_otp.plugins.otp_static.models import StaticDevice

    for throttled in (
        *TOTPDevice.objects.filter(user=w.trustee),
        *StaticDevice.objects.filter(user=w.trustee),
    ):
        throttled.throttle_reset()  # as if the wait had passed
    # A recovery code lets one in once.
    used = again.post("/account/two-factor/verify/", {"code": codes[0], "next": "/"})
    assert used.status_code == 302 and again.get(f"/trusts/{w.trust.pk}/").status_code == 200
    third = Client()
    third.force_login(w.trustee)
    assert third.post("/account/two-factor/verify/", {"code": codes[0]}).status_code == 400


def test_acts_on_money_and_identity_need_a_fresh_factor(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path
    w = make_world()
    request = submitted(w, amount="100.00")
    client = Client()
    client.force_login(w.trustee)
    enrol(client)
    session = client.session
    session[VERIFIED_AT] = (timezone.now() - timedelta(minutes=16)).isoformat()
    session.save()
    stale = client.post(f"/requests/{request.pk}/approve/", {})
    assert stale.status_code == 302 and "fresh=1" in stale["Location"]
    request.refresh_from_db()
    assert request.status == "submitted" and not request.approvals.exists()
    device = TOTPDevice.objects.get(user=w.trustee)
    device.refresh_from_db()
    # The same 30-second code cannot be used twice: wait for the next step's code.
    device.last_t = -1
    device.save(update_fields=["last_t"])
    assert client.post("/account/two-factor/verify/", {"code": now_code(device)}).status_code == 302
    fresh = client.post(f"/requests/{request.pk}/approve/", {})
    assert fresh.status_code == 302 and "two-factor" not in fresh["Location"]
    request.refresh_from_db()
    assert request.status == "approved"


def test_a_caseworker_only_where_the_trust_says_so(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path
    w = make_world()
    client = Client()
    client.force_login(w.caseworker)
    assert client.get("/children/").status_code == 200
    w.trust.caseworker_second_factor = True
    w.trust.save(update_fields=["caseworker_second_factor"])
    later = Client()
    later.force_login(w.caseworker)
    assert later.get("/children/").status_code == 302


def test_a_token_is_its_own_credential(settings, tmp_path) -> None:
    from trust.services.tokens import token_create

    w = make_world()
    _, raw = token_create(actor=w.trustee, name="script", scope="read")
    assert Client(HTTP_AUTHORIZATION=f"Token {raw}").get("/api/v1/trusts/").status_code == 200


def test_the_demo_switch_is_refused_on_a_server() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "TRUST_DEMO_SKIP_SECOND_FACTOR": "1",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
        "TRUST_EMBEDDED_KEYS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "TRUST_DEMO_SKIP_SECOND_FACTOR" in done.stderr


def test_an_operator_resets_a_lost_second_factor_and_it_is_recorded(settings, tmp_path) -> None:
    from django.core.management import CommandError, call_command

    w = make_world()
    client = Client()
    client.force_login(w.trustee)
    enrol(client)
    with pytest.raises(CommandError):
        call_command("second_factor_reset", w.trustee.username, reason="x")
    call_command("second_factor_reset", w.trustee.username, reason="phone lost")
    assert not TOTPDevice.objects.filter(user=w.trustee).exists()
    assert AuditEvent.objects.filter(action="second_factor.reset").count() == 1
    later = Client()
    later.force_login(w.trustee)
    assert later.get("/children/")["Location"].startswith("/account/two-factor/setup/")


def test_a_password_alone_cannot_swap_the_authenticator(settings, tmp_path) -> None:
    w = make_world()
    owner = Client()
    owner.force_login(w.trustee)
    device, _ = enrol(owner)
    thief = Client()
    thief.force_login(w.trustee)  # the password, not the phone
    page = thief.get("/account/two-factor/setup/")
    assert page.status_code == 302 and page["Location"].startswith("/account/two-factor/verify/")
    tried = thief.post("/account/two-factor/setup/", {"device": device.pk, "code": "123456"})
    assert tried.status_code == 302 and "verify" in tried["Location"]
    assert list(TOTPDevice.objects.filter(user=w.trustee)) == [device]
