"""The error pages are the site's own, with a way back, and say nothing about what was asked."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _static(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    settings.DEBUG = False


def test_not_found_is_the_sites_own_page_with_a_way_back(client: Client, django_user_model) -> None:
    client.force_login(django_user_model.objects.create_user("someone"))
    response = client.get("/trusts/999999/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Not found" in page and 'href="/"' in page and "ledger.css" in page
    assert "999999" not in page


def test_forbidden_is_the_sites_own_page(client: Client, django_user_model) -> None:
    client.force_login(django_user_model.objects.create_user("someone"))
    response = client.get("/requests/new/")  # not a caseworker
    assert response.status_code == 403
    assert "You may not do this" in response.content.decode()


def test_a_server_error_is_the_sites_own_page(client: Client, monkeypatch) -> None:
    from trust.views import trusts as views

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "render", broken)
    client.raise_request_exception = False
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("someone"))
    response = client.get("/")
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
