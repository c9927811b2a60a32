"""The sign-in lockout and the forgotten-password page, signed out, in a real browser: a person who
mistypes their password too often gets the site's own page saying how to get back in, and both it
and the reset page pass axe-core (the signed-in pages are in the access-matrix sweep)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from tests.browser import assert_accessible, screenshot

PASSWORD = "browser-lockout-pass-1"


def test_too_many_failed_sign_ins_show_the_lockout_page(page: Any, django_user_model: Any) -> None:
    django_user_model.objects.create_user("lockout-trustee", password=PASSWORD)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.goto("/login/")
        page.get_by_label("Username").fill("lockout-trustee")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
    page.get_by_role("heading", name="Signing in is locked for now").wait_for()
    assert page.get_by_text("axes_reset_username").is_visible()
    screenshot(page, "signin-locked-out")
    assert_accessible(page)

    # The right password is refused too, with the same page.
    page.goto("/login/")
    page.get_by_label("Username").fill("lockout-trustee")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Signing in is locked for now").wait_for()


def test_the_forgotten_password_page_is_linked_and_accessible(page: Any) -> None:
    page.goto("/login/")
    page.get_by_role("link", name="Forgotten your password?").click()
    page.get_by_role("heading", name="Forgotten your password?").wait_for()
    screenshot(page, "password-reset")
    assert_accessible(page)
    page.get_by_label("Email").fill("nobody@example.invalid")
    page.get_by_role("button", name="Send the link").click()
    page.get_by_role("heading", name="Check your e-mail").wait_for()
    assert_accessible(page)
