"""Sign-in that cannot be guessed (docs/security.md, "Sign-in"): the lockout on every sign-in form
(django-axes), by username and by address, and how it ends; what the audit trail keeps of a failed
sign-in (a keyed hash, never the text typed) and that a flood of tries cannot grow it without bound;
the password rules, the change page and the reset by e-mail; idle and absolute session limits."""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db.models import F
from django.test import Client, RequestFactory
from django.utils import timezone

from trust.audit.signin import username_digest
from trust.demo_logins import DEMO_LOGINS
from trust.lockout import client_address
from trust.models import AuditEvent
from trust.sessions import SIGNED_IN_AT

pytestmark = pytest.mark.django_db

PASSWORD = "plum-tractor-violet-42"
SIGN_IN_EVENTS = ("user.login_failed", "user.locked_out")
MINUTES = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)  # 30 unless configured
ELSEWHERE = "198.51.100.7"


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tess(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(
        "tess", email="tess@example.invalid", password=PASSWORD, is_staff=True
    )


def sign_in(client: Client, username: str, password: str, path: str = "/login/", **extra: Any):
    return client.post(path, {"username": username, "password": password}, **extra)


def fail(client: Client, times: int, username: str = "tess", **extra: Any) -> None:
    for _ in range(times):
        sign_in(client, username, "not-the-password", **extra)


def signed_in(client: Client) -> bool:
    return client.get("/").status_code == 200


def sign_in_events() -> list[dict[str, Any]]:
    rows = AuditEvent.objects.filter(action__in=SIGN_IN_EVENTS).order_by("id")
    return [{"action": r.action, **json.loads(bytes(r.data))["changes"]} for r in rows]


# --- the lockout --------------------------------------------------------------------------------


def test_login_locks_after_the_failure_limit_and_refuses_the_right_password(client, tess) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = sign_in(client, "tess", "not-the-password")
        assert response.status_code == 200
        assert "do not match" in response.content.decode()
    last = sign_in(client, "tess", "not-the-password")
    assert last.status_code == 429

    refused = sign_in(client, "tess", PASSWORD)
    assert refused.status_code == 429
    assert not signed_in(client)
    page = refused.content.decode()
    assert "Signing in is locked" in page
    assert f"{MINUTES} minutes" in page and "axes_reset_username" in page
    assert "ledger.css" in page and "Restitution Trust Ledger" in page  # the site's own page
    assert "tess" not in page  # the text typed is not repeated


def test_admin_login_locks_too(client, tess) -> None:
    fail(client, settings.AXES_FAILURE_LIMIT, path="/admin/login/")
    refused = sign_in(client, "tess", PASSWORD, path="/admin/login/")
    assert refused.status_code == 429
    assert "Signing in is locked" in refused.content.decode()
    assert client.get("/admin/").status_code == 302  # still signed out


def test_failures_at_the_admin_lock_our_form_as_well(client, tess) -> None:
    fail(client, settings.AXES_FAILURE_LIMIT, path="/admin/login/")
    assert sign_in(client, "tess", PASSWORD).status_code == 429


def test_an_address_is_locked_across_usernames(client, tess) -> None:
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, f"guess-{n}", "not-the-password")
    assert sign_in(client, "tess", PASSWORD).status_code == 429
    # Tess herself has no failure: from another address she signs in.
    assert sign_in(Client(), "tess", PASSWORD, REMOTE_ADDR=ELSEWHERE).status_code == 302


def test_a_username_is_locked_across_addresses(client, tess) -> None:
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "tess", "not-the-password", REMOTE_ADDR=f"203.0.113.{n + 1}")
    assert sign_in(Client(), "tess", PASSWORD, REMOTE_ADDR=ELSEWHERE).status_code == 429


def test_the_lock_ends_after_the_window(client, tess) -> None:
    fail(client, settings.AXES_FAILURE_LIMIT)
    assert sign_in(client, "tess", PASSWORD).status_code == 429
    # Time passes: every try is older than the lockout window.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=MINUTES + 1))
    assert sign_in(client, "tess", PASSWORD).status_code == 302
    assert signed_in(client)


def test_an_administrator_unlocks_a_username(client, tess) -> None:
    fail(client, settings.AXES_FAILURE_LIMIT, REMOTE_ADDR=ELSEWHERE)
    assert sign_in(client, "tess", PASSWORD).status_code == 429
    call_command("axes_reset_username", "tess", stdout=StringIO())
    assert sign_in(client, "tess", PASSWORD).status_code == 302


def test_a_success_resets_the_count(client, tess) -> None:
    fail(client, settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in(client, "tess", PASSWORD).status_code == 302
    client.post("/logout/")
    fail(client, settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in(client, "tess", PASSWORD).status_code == 302


def test_the_address_is_the_proxys_client_only_behind_a_proxy(settings) -> None:
    request = RequestFactory().post(
        "/login/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.5"
    )
    assert client_address(request) == "10.0.0.2"  # no proxy: the header is the client's own
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert client_address(request) == "203.0.113.5"  # what our one proxy saw


# --- the audit trail ----------------------------------------------------------------------------


def test_a_failed_sign_in_is_recorded_as_a_keyed_hash(client, tess) -> None:
    sign_in(client, " Tess ", "not-the-password")
    [event] = sign_in_events()
    assert event == {
        "action": "user.login_failed",
        "username_hmac": username_digest("tess"),  # normalised: counts with "tess"
        "address": "127.0.0.1",
        "form": "/login/",
    }
    assert event["username_hmac"] != hashlib.sha256(b"tess").hexdigest()  # keyed, not a bare hash
    assert re.fullmatch(r"[0-9a-f]{64}", event["username_hmac"])


def test_a_flood_of_failed_sign_ins_writes_a_bounded_trail(client, tess) -> None:
    """200 tries at one username from one address: the first failure and the lockout, nothing
    else; no event holds the text typed in either box."""
    typed = "Hunter2-typed-in-the-username-box"
    secret = "the-password-that-was-tried"
    for _ in range(200):
        sign_in(client, typed, secret)
    events = sign_in_events()
    assert [e["action"] for e in events] == ["user.login_failed", "user.locked_out"]
    assert events[1]["failures"] == settings.AXES_FAILURE_LIMIT
    assert events[1]["locked_minutes"] == MINUTES
    assert {e["username_hmac"] for e in events} == {username_digest(typed)}
    for row in AuditEvent.objects.all():
        data = bytes(row.data)
        for text in (typed, typed.casefold(), secret):
            assert text.encode() not in data, row.action
    assert AccessAttempt.objects.get().failures_since_start == 200  # axes counts them all


def test_a_flood_of_usernames_from_one_address_writes_a_bounded_trail(client, tess) -> None:
    """200 usernames from one address: a failure each until the address is locked, then the
    lockout, then nothing."""
    for n in range(200):
        sign_in(client, f"guess-{n}", "not-the-password")
    actions = [e["action"] for e in sign_in_events()]
    limit = settings.AXES_FAILURE_LIMIT
    assert actions == ["user.login_failed"] * (limit - 1) + ["user.locked_out"]


# --- passwords ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Short-pw-1", "at least 12 characters"),
        ("password1234", "too common"),
        ("908172635412837", "entirely numeric"),
        ("tess-example-invalid", "too similar"),
    ],
    ids=["short", "common", "numeric", "similar"],
)
def test_the_change_page_refuses_a_weak_password(client, tess, password, reason) -> None:
    client.force_login(tess)
    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": password, "new_password2": password},
    )
    assert response.status_code == 200
    assert reason in response.content.decode()
    tess.refresh_from_db()
    assert tess.check_password(PASSWORD)


def test_the_change_page_changes_the_password_and_keeps_the_session(client, tess) -> None:
    client.force_login(tess)
    page = client.get("/account/password/")
    assert page.status_code == 200 and "Change your password" in page.content.decode()
    new = "orchard lantern pebble 7"
    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response["Location"] == "/account/password/changed/"
    tess.refresh_from_db()
    assert tess.check_password(new)
    assert signed_in(client)


def test_the_header_links_the_change_page(client, tess) -> None:
    client.force_login(tess)
    assert 'href="/account/password/"' in client.get("/").content.decode()


def test_the_demo_passwords_pass_the_rules(db, settings) -> None:
    settings.DEMO_ALLOWED = True
    call_command("demo_users", stdout=StringIO())
    users = get_user_model().objects
    for username, password, _, _ in DEMO_LOGINS:
        validate_password(password, users.get(username=username))  # raises if refused
    with pytest.raises(ValidationError):
        validate_password("demo-pass")


def test_a_reset_says_the_same_for_an_unknown_address_and_sends_it_nothing(client, tess) -> None:
    unknown = client.post("/account/password/reset/", {"email": "nobody@example.invalid"})
    assert mail.outbox == []
    known = client.post("/account/password/reset/", {"email": "tess@example.invalid"})
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["tess@example.invalid"]
    assert unknown.status_code == known.status_code == 302
    assert unknown["Location"] == known["Location"] == "/account/password/reset/sent/"
    sent = client.get(known["Location"]).content.decode()
    assert "If an account has the address you typed" in sent


def test_the_reset_link_sets_a_new_password_once(client, tess) -> None:
    client.post("/account/password/reset/", {"email": "tess@example.invalid"})
    [link] = re.findall(r"http://testserver(/account/password/reset/\S+/)", mail.outbox[0].body)
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    new = "quarry meadow kettle 19"
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new}, follow=True
    )
    assert "Your new password is set" in done.content.decode()
    tess.refresh_from_db()
    assert tess.check_password(new)
    assert "This link does not work" in client.get(link, follow=True).content.decode()


# --- sessions -----------------------------------------------------------------------------------


def test_the_session_cookie_lasts_30_minutes_renewed_on_each_request(client, tess) -> None:
    response = sign_in(client, "tess", PASSWORD)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == 1800
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    key = cookie.value
    Session.objects.filter(pk=key).update(expire_date=timezone.now() + timedelta(minutes=1))
    assert signed_in(client)
    renewed = Session.objects.get(pk=key).expire_date - timezone.now()
    assert timedelta(minutes=29) < renewed <= timedelta(minutes=30)


def test_a_session_idle_for_30_minutes_is_signed_out(client, tess) -> None:
    sign_in(client, "tess", PASSWORD)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    Session.objects.filter(pk=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def age_session(client: Client, seconds: int) -> None:
    session = client.session
    session[SIGNED_IN_AT] = int(time.time()) - seconds
    session.save()


def test_signing_in_keeps_the_time_in_the_session(client, tess) -> None:
    sign_in(client, "tess", PASSWORD)
    assert abs(client.session[SIGNED_IN_AT] - time.time()) < 60


def test_a_busy_session_ends_12_hours_after_sign_in(client, tess) -> None:
    sign_in(client, "tess", PASSWORD)
    age_session(client, 11 * 3600)
    assert signed_in(client)
    age_session(client, 12 * 3600)
    response = client.get("/trusts/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/trusts/"
    login = client.get(response["Location"]).content.decode()
    assert "a session lasts at most 12 hours" in login
    assert not signed_in(client)
    assert AuditEvent.objects.filter(action="user.logged_out").exists()


def test_an_api_call_on_an_expired_session_goes_on_signed_out(client, tess) -> None:
    sign_in(client, "tess", PASSWORD)
    assert client.get("/api/v1/trusts/").status_code == 200
    age_session(client, 12 * 3600 + 1)
    assert client.get("/api/v1/trusts/").status_code == 401
