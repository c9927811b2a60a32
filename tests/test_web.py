"""The pages: login, the trusts, one trust's balances, the read-only admin and the stylesheet.

Users are the demo logins (``manage.py demo_users``, fictitious); trusts are built through the
services. Pages are read as HTML tables, so a test checks what a person sees in each cell.
"""

from __future__ import annotations

from html.parser import HTMLParser
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.http import HttpRequest
from django.test import Client, RequestFactory

from tests.factories import TrustFactory, account, appoint, beneficiary, fund
from trust.demo import seed_demo_trust
from trust.demo_logins import DEMO_LOGINS
from trust.models import (
    Account,
    Appointment,
    Beneficiary,
    JournalEntry,
    LedgerCheck,
    Posting,
    Trust,
)
from trust.services.checks import ledger_check_run

CSS = Path(settings.BASE_DIR) / "config" / "static" / "ledger.css"
PASSWORDS = {username: password for username, password, _, _ in DEMO_LOGINS}


class Page(HTMLParser):
    """Tables (rows of cell texts), links and stylesheets of an HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.links: list[str] = []
        self.stylesheets: list[str] = []
        self.inputs: list[dict[str, str | None]] = []
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in {"td", "th"}:
            self._cell = []
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "link" and a.get("rel") == "stylesheet":
            self.stylesheets.append(a["href"])
        elif tag in {"input", "textarea", "select"}:
            self.inputs.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def page(response) -> Page:
    assert response.status_code == 200
    return Page(response.content.decode())


def demo_users(*args: str) -> str:
    out = StringIO()
    call_command("demo_users", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _web_settings(settings, tmp_path):
    # A fast hasher: demo_users hashes three passwords per test. An empty STATIC_ROOT of this
    # test's own, rather than var/static (absent, or left by some earlier `make demo`).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()


@pytest.fixture
def demo_allowed(settings):
    settings.DEMO_ALLOWED = True


@pytest.fixture
def logins(db, demo_allowed) -> None:
    demo_users()


# ``client.login`` passes the request on: the sign-in lockout (django-axes) refuses to check a
# password without one.
@pytest.fixture
def trustee(client, logins) -> Client:
    assert client.login(request=HttpRequest(), username="trustee", password=PASSWORDS["trustee"])
    return client


def appoint_demo(*trusts: Trust) -> None:
    """Appoint the demo trustee and auditor to ``trusts`` (demo_users appoints them only to the
    demo trusts that exist when it runs)."""
    User = get_user_model()
    for trust in trusts:
        appoint(User.objects.get(username="trustee"), trust, "trustee")
        appoint(User.objects.get(username="auditor"), trust, "auditor")


@pytest.fixture
def funded(db) -> tuple[Trust, Account]:
    """A trust whose beneficiary MV-1 is owed 1,234.50 USD."""
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-1")
    fund(trust, sub, "1234.50")
    return trust, sub


# --- signing in ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/trusts/1/"])
def test_anonymous_visitor_is_sent_to_login(client, db, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


def test_login_page_renders(client, db):
    p = page(client.get("/login/"))
    names = {i.get("name") for i in p.inputs}
    assert {"username", "password", "csrfmiddlewaretoken"} <= names


def test_demo_users_prints_the_logins(db, demo_allowed):
    out = demo_users()
    lines = out.splitlines()
    assert lines[0] == "Demo logins (fictitious; for this demo only):"
    assert len(lines) == 1 + len(DEMO_LOGINS) + 1  # and: no demo trust yet
    for (username, password, role, _), line in zip(DEMO_LOGINS, lines[1:], strict=False):
        assert line.split() == [role, "user:", username, "password:", password]
    roles = [r for _, _, r, _ in DEMO_LOGINS]
    assert roles == ["trustee", "trustee", "caseworker", "caseworker", "auditor"]
    assert "No demo trust yet" in lines[-1]

    users = {u.username: u for u in get_user_model().objects.all()}
    assert sorted(users) == ["auditor", "caseworker", "caseworker2", "trustee", "trustee2"]
    for username, _, role, _ in DEMO_LOGINS:
        user = users[username]
        assert user.is_staff is (role in {"trustee", "auditor"})
        assert not user.is_superuser
        assert user.email.endswith("@demo.invalid")


def test_demo_users_are_appointed_to_every_demo_trust_once(db, demo_allowed):
    demo = seed_demo_trust(beneficiaries=2, months=2, seed=32).trust
    other = TrustFactory()
    demo_users()
    demo_users()
    held = set(Appointment.objects.values_list("user__username", "trust_id", "role"))
    assert held == {
        ("trustee", demo.pk, "trustee"),
        ("trustee2", demo.pk, "trustee"),
        ("auditor", demo.pk, "auditor"),
    }
    assert not Appointment.objects.filter(trust=other).exists()


def test_demo_users_twice_resets_instead_of_duplicating(client, db, demo_allowed):
    demo_users()
    User = get_user_model()
    trustee = User.objects.get(username="trustee")
    trustee.set_password("changed-by-someone")
    trustee.save()

    out = demo_users()

    assert out.count("user:") == len(DEMO_LOGINS)
    assert User.objects.count() == len(DEMO_LOGINS)
    assert User.objects.get(username="trustee").pk == trustee.pk
    # The password was reset again.
    assert client.login(request=HttpRequest(), username="trustee", password=PASSWORDS["trustee"])


def test_demo_users_are_refused_on_a_production_database(db, settings):
    settings.DEMO_ALLOWED = False
    with pytest.raises(CommandError, match="TRUST_ALLOW_DEMO=1"):
        demo_users()
    assert not get_user_model().objects.exists()
    assert demo_users("--force").count("user:") == len(DEMO_LOGINS)


@pytest.mark.parametrize("username", ["trustee", "caseworker", "auditor"])
def test_demo_user_logs_in_through_the_form(logins, username):
    client = Client(enforce_csrf_checks=True)
    form = client.get("/login/")
    token = form.cookies["csrftoken"].value
    response = client.post(
        "/login/",
        {"username": username, "password": PASSWORDS[username], "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert home.context["user"].username == username


def test_login_follows_next(client, logins, funded):
    trust, _ = funded
    response = client.post(
        "/login/",
        {"username": "auditor", "password": PASSWORDS["auditor"], "next": f"/trusts/{trust.pk}/"},
    )
    assert response["Location"] == f"/trusts/{trust.pk}/"


@pytest.mark.parametrize(
    ("username", "password"),
    [("trustee", "wrong-password"), ("trustee", ""), ("nobody", PASSWORDS["trustee"])],
    ids=["wrong-password", "empty-password", "unknown-user"],
)
def test_wrong_credentials_do_not_log_in(client, logins, username, password):
    response = client.post("/login/", {"username": username, "password": password})
    assert response.status_code == 200
    assert not response.context["user"].is_authenticated
    assert "That username and password do not match" in response.content.decode()
    assert client.get("/").status_code == 302


def test_inactive_demo_user_cannot_log_in(client, logins):
    get_user_model().objects.filter(username="caseworker").update(is_active=False)
    response = client.post(
        "/login/", {"username": "caseworker", "password": PASSWORDS["caseworker"]}
    )
    assert response.status_code == 200
    assert client.get("/").status_code == 302


def test_logout_is_a_post_and_ends_the_session(trustee):
    assert trustee.get("/logout/").status_code == 405
    response = trustee.post("/logout/")
    assert response["Location"] == "/login/"
    assert trustee.get("/").status_code == 302


# --- the trusts ---------------------------------------------------------------------------------


def test_home_without_a_role_says_who_appoints(trustee, funded):
    p = page(trustee.get("/"))
    assert p.tables[0][1][0].startswith("You hold no role in any trust yet.")
    assert funded[0].caption not in trustee.get("/").content.decode()


def test_home_lists_the_trusts_held_with_cash_owed_and_identity(trustee, funded):
    trust, _ = funded
    demo = seed_demo_trust(beneficiaries=2, months=2, seed=31).trust
    hidden = TrustFactory(caption="United States v. Not Yours")
    bank = account(demo, Account.Role.BANK).balance
    appoint_demo(trust, demo)

    p = page(trustee.get("/"))
    assert hidden.caption not in trustee.get("/").content.decode()

    header, *rows = p.tables[0]
    assert header == ["Trust", "Case", "Currency", "Cash in bank", "Owed", "Identity"]
    by_case = {row[1]: row for row in rows}
    assert sorted(by_case) == sorted([trust.case_number, demo.case_number])
    assert by_case[trust.case_number][2:] == ["USD", "1,234.50 USD", "1,234.50 USD", "holds"]
    demo_row = by_case[demo.case_number]
    assert demo_row[0] == demo.caption
    assert demo_row[3] == demo_row[4] == f"{bank.amount:,.2f} USD"
    assert demo_row[5] == "holds"
    assert {f"/trusts/{trust.pk}/", f"/trusts/{demo.pk}/"} <= set(p.links)


def test_home_shows_a_broken_identity_and_the_last_check(trustee, funded):
    trust, _ = funded
    appoint_demo(trust)
    bank = account(trust, Account.Role.BANK)
    Account.objects.filter(pk=bank.pk).update(balance_minor=bank.balance_minor + 1)
    ledger_check_run()

    response = trustee.get("/")

    [row] = page(response).tables[0][1:]
    assert row[3:] == ["1,234.51 USD", "1,234.50 USD", "off by 0.01 USD"]
    text = " ".join(response.content.decode().split())
    check = LedgerCheck.objects.get()
    assert f"{check.finished_at:%Y-%m-%d %H:%M}: 2 violation(s)" in text


def test_trust_page_shows_balances_as_money_and_the_identity(trustee, funded):
    trust, _ = funded
    appoint_demo(trust)
    p = page(trustee.get(f"/trusts/{trust.pk}/"))

    identity, accounts = p.tables
    assert identity[1] == ["USD", "1,234.50 USD", "1,234.50 USD", "holds"]
    rows = {row[0]: row for row in accounts[1:]}
    assert rows["2100-MV-1"] == [
        "2100-MV-1",
        "Sub-ledger MV-1",
        "Liability",
        "Beneficiary sub-ledger",
        "1,234.50 USD",
    ]
    assert rows["1000-BANK"][-1] == "1,234.50 USD"
    assert rows["2900-UNALLOCATED"][-1] == "0.00 USD"
    assert len(rows) == trust.accounts.count()


def test_trust_page_names_court_and_case(trustee, funded):
    trust, _ = funded
    appoint_demo(trust)
    text = " ".join(trustee.get(f"/trusts/{trust.pk}/").content.decode().split())
    assert f"<h1>{trust.caption}</h1>" in text
    assert f"{trust.court} · Case {trust.case_number} · Base currency USD" in text


@pytest.mark.parametrize(
    ("currency", "amount", "shown"),
    [("JPY", "150000", "150,000 JPY"), ("BHD", "12.345", "12.345 BHD")],
)
def test_trust_page_formats_each_currency_with_its_own_decimals(trustee, currency, amount, shown):
    trust = TrustFactory(base_currency=currency)
    appoint_demo(trust)
    _, sub = beneficiary(trust, "MV-1")
    fund(trust, sub, amount)
    identity, accounts = page(trustee.get(f"/trusts/{trust.pk}/")).tables
    assert identity[1] == [currency, shown, shown, "holds"]
    assert {row[0]: row[-1] for row in accounts[1:]}["2100-MV-1"] == shown


def test_a_caseworker_of_no_partner_sees_no_trust(client, logins, funded):
    trust, _ = funded
    assert client.login(
        request=HttpRequest(), username="caseworker", password=PASSWORDS["caseworker"]
    )
    assert client.get("/").status_code == 200
    assert trust.caption not in client.get("/").content.decode()
    assert client.get(f"/trusts/{trust.pk}/").status_code == 404


def test_unknown_trust_is_404(trustee, funded):
    trust, _ = funded
    assert trustee.get(f"/trusts/{trust.pk + 1000}/").status_code == 404
    assert trustee.get("/trusts/0/").status_code == 404
    assert trustee.get("/trusts/abc/").status_code == 404


# --- the admin ----------------------------------------------------------------------------------


@pytest.fixture
def staff(client, funded, django_user_model) -> Client:
    """Signed in as a trustee of the funded trust with the admin's staff flag; a superuser
    ("root") exists beside, who may administer but not read the books."""
    django_user_model.objects.create_superuser("root", "root@demo.invalid", "root-pass-demo")
    keeper = django_user_model.objects.create_user("keeper", is_staff=True)
    appoint(keeper, funded[0])
    client.force_login(keeper)
    return client


def test_admin_lists_ledger_entries(staff, funded):
    trust, _ = funded
    entry = trust.entries.get()
    response = staff.get("/admin/trust/journalentry/")
    p = page(response)
    assert f"/admin/trust/journalentry/{entry.pk}/change/" in p.links
    assert "/admin/trust/journalentry/add/" not in p.links
    assert 'name="action"' not in response.content.decode()  # no bulk delete


def test_admin_entry_page_is_read_only(staff, funded):
    trust, _ = funded
    entry = trust.entries.get()
    url = f"/admin/trust/journalentry/{entry.pk}/change/"
    response = staff.get(url)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="_save"' not in html
    editable = [
        i.get("name")
        for i in Page(html).inputs
        if i.get("type") not in {"hidden", "submit"} and i.get("name")
    ]
    assert editable == []
    # The postings are shown in the inline, as text.
    postings = Page(html).tables[-1]
    assert postings[0][1:4] == ["Account", "Amount minor", "Currency"]
    assert sorted(row[1:4] for row in postings[1:]) == [
        ["1000-BANK Trust bank account [USD]", "123450", "USD"],
        ["2100-MV-1 Sub-ledger MV-1 [USD]", "-123450", "USD"],
    ]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", "add/"), ("post", "add/"), ("post", "{pk}/change/"), ("get", "{pk}/delete/"),
     ("post", "{pk}/delete/")],
)  # fmt: skip
def test_admin_refuses_to_write_ledger_entries(staff, funded, method, suffix):
    trust, _ = funded
    entry = trust.entries.get()
    url = "/admin/trust/journalentry/" + suffix.format(pk=entry.pk)
    response = getattr(staff, method)(url, {"memo": "edited", "post": "yes"})
    assert response.status_code == 403
    entry = JournalEntry.objects.get(pk=entry.pk)
    assert entry.memo == "Receipt (test)"
    assert sorted(entry.postings.values_list("amount_minor", flat=True)) == [-123450, 123450]


def test_admin_has_no_page_of_its_own_for_postings(staff):
    assert staff.get("/admin/trust/posting/").status_code == 404
    assert Posting not in admin.site._registry


@pytest.mark.parametrize("model", [Trust, Beneficiary, Account, JournalEntry, LedgerCheck])
def test_admin_grants_no_write_permission_even_to_a_superuser(staff, funded, model):
    request = RequestFactory().get("/admin/")
    request.user = get_user_model().objects.get(username="keeper")
    model_admin = admin.site._registry[model]
    obj = model.objects.first()
    assert model_admin.has_view_permission(request, obj)
    request.user = get_user_model().objects.get(username="root")
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, obj)
    assert not model_admin.has_delete_permission(request, obj)


def test_posting_inline_grants_no_write_permission_even_to_a_superuser(staff, funded):
    """The postings shown on an entry's admin page come from ``PostingInline``: it must refuse
    add, change and delete itself, not rely on the parent entry's permissions alone."""
    trust, _ = funded
    entry = trust.entries.get()
    request = RequestFactory().get("/admin/")
    request.user = get_user_model().objects.get(username="root")
    [inline] = admin.site._registry[JournalEntry].get_inline_instances(request, entry)
    assert inline.model is Posting
    assert not inline.has_add_permission(request, entry)
    assert not inline.has_change_permission(request, entry)
    assert not inline.has_delete_permission(request, entry)


def test_admin_is_closed_to_non_staff(client, logins):
    assert client.login(
        request=HttpRequest(), username="caseworker", password=PASSWORDS["caseworker"]
    )
    response = client.get("/admin/trust/journalentry/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


# --- the stylesheet ------------------------------------------------------------------------------


def stylesheet_of(client: Client) -> str:
    [href] = page(client.get("/login/")).stylesheets
    return href


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_stylesheet_is_served_from_the_source_in_debug(db, settings):
    """With DEBUG on (``manage.py runserver`` in the demo), WhiteNoise finds files in place."""
    settings.DEBUG = True
    client = Client()  # the middleware reads DEBUG when the first request builds it
    href = stylesheet_of(client)
    assert href == "/static/ledger.css"
    response = client.get(href)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert body(response) == CSS.read_bytes()


def test_stylesheet_is_not_served_without_collectstatic_when_debug_is_off(db, settings):
    assert not any(settings.STATIC_ROOT.iterdir())
    client = Client()
    assert client.get(stylesheet_of(client)).status_code == 404


def test_stylesheet_is_served_after_collectstatic_with_hashed_names(db, settings):
    """Production (README): DJANGO_MANIFEST_STATIC=1 and ``collectstatic``; WhiteNoise serves the
    hashed, compressed files from STATIC_ROOT with a long cache lifetime."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", "--noinput", verbosity=0)
    client = Client()

    href = stylesheet_of(client)

    assert href.startswith("/static/ledger.") and href.endswith(".css")
    assert href != "/static/ledger.css"
    response = client.get(href)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert body(response) == CSS.read_bytes()
    assert "immutable" in response["Cache-Control"]
    assert (settings.STATIC_ROOT / "staticfiles.json").exists()


def test_the_trust_page_is_a_dashboard_for_its_trustee(trustee, funded):
    trust, _ = funded
    appoint_demo(trust)
    ledger_check_run()
    text = " ".join(trustee.get(f"/trusts/{trust.pk}/").content.decode().split())
    assert "Money in USD" in text
    assert "In the bank</dt><dd>1,234.50 USD" in text
    assert "Held for the children</dt><dd>1,234.50 USD" in text
    assert "Waiting for your decision" in text  # the disbursements' panel
    assert "every invariant holds" in text


def test_the_trust_page_lists_accounts_in_natural_order(trustee, db):
    trust = TrustFactory()
    appoint_demo(trust)
    for n in (10, 2, 1):
        beneficiary(trust, f"MV-{n}")
    codes = [row[0] for row in page(trustee.get(f"/trusts/{trust.pk}/")).tables[-1][1:]]
    subs = [c for c in codes if c.startswith("2100-")]
    assert subs == ["2100-MV-1", "2100-MV-2", "2100-MV-10"]
    assert codes.index("1000-BANK") < codes.index("2100-MV-1")
