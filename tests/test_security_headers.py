"""The security headers (docs/security.md, "Headers"): a strict Content-Security-Policy on every
page and no inline script or style left for it to block, the production headers (HSTS, the redirect
to HTTPS, the proxy's header), and ``Cache-Control: no-store`` on whatever a signed-in user is
shown. The browser's side (no violation reported, htmx and the request form working under the
policy) is tests/browser/test_content_security_policy.py."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from config.middleware import NoStoreMiddleware
from config.settings import proxy_ssl_header
from tests.disbursements.test_requests import World, make_world
from tests.test_access_matrix import MATRIX, world  # noqa: F401 (the fixture)
from tests.test_access_matrix import World as MatrixWorld
from trust.services.tokens import token_create

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = sorted(
    path
    for app in ("config", "trust", "disbursements", "reports")
    for path in (REPO / app).rglob("templates")
    if path.is_dir()
)
STRICT = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def policy(response: Any) -> dict[str, str]:
    """The response's Content-Security-Policy as {directive: its sources}."""
    header = response["Content-Security-Policy"]
    parts = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {part[0]: (part[1] if len(part) > 1 else "") for part in parts}


class InlineCode(HTMLParser):
    """Finds what a strict policy blocks: a ``<script>`` with no ``src`` (a ``json_script`` tag,
    ``type="application/json"``, is data and allowed), a ``<style>`` element, a ``style=`` or
    ``on…=`` attribute, a ``javascript:`` link."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        where = f"line {self.getpos()[0]}: <{tag}>"
        if tag == "script" and "src" not in named and named.get("type") != "application/json":
            self.found.append(f"{where} an inline script")
        if tag == "style":
            self.found.append(f"{where} a <style> element")
        for name, value in attrs:
            if name == "style":
                self.found.append(f"{where} a style attribute")
            elif name.startswith("on"):
                self.found.append(f"{where} an event handler attribute {name}=")
            elif (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"{where} a javascript: URL")


# Django's comments say what a template leaves out ("no <style> of htmx's own"): not markup.
TEMPLATE_COMMENT = re.compile(r"{#.*?#}|{% comment %}.*?{% endcomment %}", re.DOTALL)


def inline_code(html: str) -> list[str]:
    finder = InlineCode()
    finder.feed(html)
    finder.close()
    return finder.found


# --- no inline script or style ------------------------------------------------------------------


def test_the_inline_finder_finds_each_kind_of_inline_code() -> None:
    found = inline_code(
        '<script>alert(1)</script><style>p{}</style><p style="color: red">'
        '<button onclick="go()">x</button><a href="javascript:go()">y</a>'
    )
    assert len(found) == 5, found
    assert not inline_code(
        '<script src="/static/js/request-form.js" defer></script>'
        '<script id="funds-data" type="application/json">{}</script>'
        '<link rel="stylesheet" href="/static/ledger.css"><p class="hint">ok</p>'
    )


def test_no_template_has_an_inline_script_or_style() -> None:
    assert len(TEMPLATE_DIRS) >= 4, TEMPLATE_DIRS  # config's and each app's
    found = [
        f"{template.relative_to(REPO)} {problem}"
        for folder in TEMPLATE_DIRS
        for template in sorted(folder.rglob("*.html"))
        for problem in inline_code(TEMPLATE_COMMENT.sub("", template.read_text()))
    ]
    assert not found, "move it to config/static/ (docs/security.md, Headers):\n" + "\n".join(found)


# People who may open the pages of trust A in the access matrix, between them every page.
SWEEP = ("trustee_a", "auditor_a", "caseworker_a", "admin_a", "root")
NOT_HTML = {"report-download", "document-download", "audit-checkpoint", "audit-bundle"}


@pytest.mark.django_db
def test_every_page_has_the_strict_policy_no_inline_code_and_no_store(
    world: MatrixWorld,  # noqa: F811 (the fixture)
) -> None:
    seen = set()
    for who in SWEEP:
        client = Client()
        client.force_login(world.users[who])
        for name, cell in sorted(MATRIX.items()):
            if cell.method != "get" or cell.status[who] != 200:
                continue
            url = reverse(name, kwargs=cell.kwargs(world))
            response = client.get(url)
            assert response.status_code == 200, url
            assert "no-store" in response["Cache-Control"], f"{who} {url}"
            assert policy(response)["script-src"] == "'self'", url
            if name in {"api-docs", "api-swagger"}:
                continue  # their own policies: the tests below
            assert policy(response) == STRICT, url
            if name in NOT_HTML or not response["Content-Type"].startswith("text/html"):
                continue
            assert not inline_code(response.content.decode()), (who, url)
            seen.add(name)
    assert {"beneficiary-detail", "request-new", "trust-detail", "report-batch"} <= seen


@pytest.mark.django_db
def test_the_admin_pages_carry_no_inline_code(
    world: MatrixWorld,  # noqa: F811 (the fixture)
) -> None:
    client = Client()
    client.force_login(world.users["root"])
    trust = world.trust_a.pk
    for url in ("/admin/", "/admin/trust/trust/", f"/admin/trust/trust/{trust}/change/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert policy(response) == STRICT, url
        assert not inline_code(response.content.decode()), url


# --- the API's documentation pages ----------------------------------------------------------------


@pytest.mark.django_db
def test_redoc_gets_inline_styles_and_a_blob_worker_and_no_inline_script() -> None:
    response = Client().get("/api/docs/")
    assert policy(response) == {
        **STRICT,
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data:",
        "worker-src": "blob:",
    }
    assert not inline_code(response.content.decode())


@pytest.mark.django_db
def test_swagger_ui_gets_data_images_only_and_loads_its_script_from_its_own_url() -> None:
    client = Client()
    page = client.get("/api/swagger/")
    assert policy(page) == {**STRICT, "img-src": "'self' data:"}
    assert not inline_code(page.content.decode())
    script = client.get("/api/swagger/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


# --- the headers of production --------------------------------------------------------------------

PRODUCTION = {
    "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 31_536_000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_HSTS_PRELOAD": True,
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
}


@pytest.mark.django_db
def test_every_response_says_nosniff_same_origin_and_deny() -> None:
    response = Client().get("/login/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert policy(response) == STRICT


@pytest.mark.django_db
def test_production_sends_hsts_with_subdomains_and_preload() -> None:
    with override_settings(**PRODUCTION):
        response = Client().get("/login/", secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


@pytest.mark.django_db
def test_production_redirects_plain_http_to_https() -> None:
    with override_settings(**PRODUCTION):
        response = Client().get("/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/login/"
    assert "Strict-Transport-Security" not in response  # only ever over HTTPS


@pytest.mark.django_db
def test_behind_a_tls_proxy_its_header_says_the_request_was_https() -> None:
    proxy = proxy_ssl_header("X-Forwarded-Proto")
    with override_settings(**PRODUCTION, SECURE_PROXY_SSL_HEADER=proxy):
        client = Client()
        through_proxy = client.get("/login/", headers={"X-Forwarded-Proto": "https"})
        plain = client.get("/login/", headers={"X-Forwarded-Proto": "http"})
    assert through_proxy.status_code == 200 and "Strict-Transport-Security" in through_proxy
    assert plain.status_code == 301


def test_the_proxy_header_setting_reads_a_header_name_and_an_optional_value() -> None:
    assert proxy_ssl_header("") is None
    assert proxy_ssl_header("X-Forwarded-Proto") == ("HTTP_X_FORWARDED_PROTO", "https")
    assert proxy_ssl_header(" X-Forwarded-Ssl = on ") == ("HTTP_X_FORWARDED_SSL", "on")


# --- Cache-Control: no-store ----------------------------------------------------------------------


@pytest.fixture
def w(settings: Any, tmp_path: Path) -> World:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    return make_world()


@pytest.mark.django_db
def test_a_beneficiary_page_is_not_stored(w: World) -> None:
    client = Client()
    client.force_login(w.trustee)
    url = reverse("beneficiary-detail", args=[w.trust.pk, w.mv1.pk])
    response = client.get(url)
    assert response.status_code == 200 and "MV-1" in response.content.decode()
    assert response["Cache-Control"] == "private, no-store"


@pytest.mark.django_db
def test_an_api_answer_to_a_token_is_not_stored(w: World) -> None:
    token = token_create(actor=w.trustee, name="headers", scope="read")[1]
    client = Client(headers={"Authorization": f"Token {token}"})
    response = client.get(reverse("api-beneficiary-detail", args=[w.mv1.pk]))
    assert response.status_code == 200 and response.json()["pseudonym"] == "MV-1"
    assert response["Cache-Control"] == "private, no-store"


@pytest.mark.django_db
def test_a_signed_out_visitor_gets_no_cache_control_from_us() -> None:
    response = Client().get("/api/docs/")  # the sign-in page says never_cache itself
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def _through_middleware(path: str, user: Any, cache_control: str | None = None) -> HttpResponse:
    def view(request: Any) -> HttpResponse:
        response = HttpResponse("ok")
        if cache_control:
            response["Cache-Control"] = cache_control
        return response

    request = RequestFactory().get(path)
    request.user = user
    return NoStoreMiddleware(view)(request)


@pytest.mark.django_db
def test_no_store_adds_to_what_a_view_said_and_leaves_static_files_alone(w: World) -> None:
    assert _through_middleware("/x/", w.trustee, "max-age=60")["Cache-Control"] == (
        "max-age=60, private, no-store"
    )
    assert _through_middleware("/x/", w.trustee, "no-store")["Cache-Control"] == (
        "no-store, private"
    )
    static = _through_middleware(f"{settings.STATIC_URL}ledger.css", w.trustee, "max-age=60")
    assert static["Cache-Control"] == "max-age=60"
