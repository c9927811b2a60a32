"""The admin for people, orders, receipts and the audit of identity reveals (trust/admin.py).

The admin only looks: orders, receipts and allocations are written by the services, beneficiaries
and defendants too, so even a superuser can add, change or delete nothing here. Identifying
details never reach an admin page: ``BeneficiaryIdentity`` has no page, and no page shows an
encrypted token, a blind index or the plain text behind them. The data are the fictitious demo
trust (``seed_demo_trust``), which has all of these.
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Model
from django.test import Client, RequestFactory
from django.utils.formats import date_format

from tests.factories import TrustFactory, appoint
from trust.demo import AGENCY, seed_demo_trust
from trust.models import (
    Allocation,
    AllocationShare,
    Beneficiary,
    BeneficiaryIdentity,
    Defendant,
    IdentityReveal,
    ImplicatedPerson,
    OrderLine,
    Receipt,
    RestitutionOrder,
    Trust,
)
from trust.services.people import beneficiary_identity_reveal

# Models this admin shows, read-only, with the URL name Django gives them.
READ_ONLY = [Beneficiary, Defendant, RestitutionOrder, Receipt, Allocation, ImplicatedPerson]
VIEWABLE = [*READ_ONLY, IdentityReveal]
# The plain text the demo stores encrypted (trust/demo.py): it must never reach a page.
PLAINTEXTS = ("Legal name on file", "Guardian contact on file", "Invented Relative Name")


def url(model: type[Model], suffix: str = "") -> str:
    return f"/admin/trust/{model._meta.model_name}/{suffix}"


def counts() -> dict[str, int]:
    models = [*VIEWABLE, OrderLine, AllocationShare, BeneficiaryIdentity]
    return {model.__name__: model.objects.count() for model in models}


@pytest.fixture(autouse=True)
def _static_root(settings, tmp_path):
    # An empty STATIC_ROOT of this test's own, as in tests/test_web.py (var/static may be absent).
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()


@pytest.fixture
def root(db, django_user_model):
    return django_user_model.objects.create_superuser("root", "root@demo.invalid", "root-pass-demo")


@pytest.fixture
def keeper(db, django_user_model):
    """A trustee with the admin's staff flag (appointed to the demo trust by ``demo``)."""
    return django_user_model.objects.create_user("keeper", is_staff=True)


@pytest.fixture
def demo(root, keeper) -> Trust:
    """The small demo trust, with one recorded reveal of a child's details."""
    trust = seed_demo_trust(beneficiaries=3, months=2, seed=41).trust
    appoint(keeper, trust)
    beneficiary_identity_reveal(
        beneficiary=trust.beneficiaries.get(pseudonym="MV-1"),
        actor=keeper,
        purpose="Demo audit of a reveal",
    )
    return trust


@pytest.fixture
def staff(client: Client, keeper, demo) -> Client:
    client.force_login(keeper)
    return client


def first(model: type[Model]) -> Model:
    obj = model.objects.order_by("pk").first()
    assert obj is not None, f"the demo has no {model.__name__}"
    return obj


def text(html: str) -> str:
    """The page as a person reads it: tags dropped, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- pages open -------------------------------------------------------------------------------


@pytest.mark.parametrize("model", VIEWABLE, ids=lambda m: m.__name__)
def test_changelist_opens_for_a_trustee(staff, model):
    response = staff.get(url(model))
    assert response.status_code == 200
    assert url(model, f"{first(model).pk}/change/") in response.content.decode()


@pytest.mark.parametrize("model", VIEWABLE, ids=lambda m: m.__name__)
def test_change_page_opens_for_a_trustee(staff, model):
    response = staff.get(url(model, f"{first(model).pk}/change/"))
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()


def test_beneficiary_identity_has_no_admin_page(staff):
    assert BeneficiaryIdentity not in admin.site._registry
    identity = first(BeneficiaryIdentity)
    assert staff.get("/admin/trust/beneficiaryidentity/").status_code == 404
    assert staff.get(f"/admin/trust/beneficiaryidentity/{identity.pk}/change/").status_code == 404


def test_admin_is_closed_to_non_staff(client, demo, django_user_model):
    client.force_login(django_user_model.objects.create_user("caseworker-demo"))
    response = client.get(url(IdentityReveal))
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


# --- nothing can be written -------------------------------------------------------------------


@pytest.mark.parametrize("model", VIEWABLE, ids=lambda m: m.__name__)
def test_changelist_has_no_add_button(staff, model):
    html = staff.get(url(model)).content.decode()
    assert url(model, "add/") not in html
    assert 'name="action"' not in html  # no bulk delete either


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", "add/"), ("post", "add/"), ("post", "{pk}/change/"), ("get", "{pk}/delete/"),
     ("post", "{pk}/delete/")],
)  # fmt: skip
@pytest.mark.parametrize("model", VIEWABLE, ids=lambda m: m.__name__)
def test_add_change_and_delete_are_refused_and_write_nothing(staff, model, method, suffix):
    obj = first(model)
    before = counts()
    data = {"pseudonym": "MV-99", "reference": "Edited", "reason": "edited", "post": "yes"}

    response = getattr(staff, method)(url(model, suffix.format(pk=obj.pk)), data)

    assert response.status_code == 403
    assert counts() == before
    assert model.objects.filter(pk=obj.pk).exists()


@pytest.mark.parametrize("model", VIEWABLE, ids=lambda m: m.__name__)
def test_bulk_delete_action_deletes_nothing(staff, model):
    before = counts()
    staff.post(
        url(model),
        {"action": "delete_selected", "_selected_action": [first(model).pk], "post": "yes"},
    )
    assert counts() == before


@pytest.mark.parametrize("model", VIEWABLE, ids=lambda m: m.__name__)
def test_model_admin_grants_no_write_permission_even_to_a_superuser(staff, model):
    request = RequestFactory().get("/admin/")
    request.user = get_user_model().objects.get(username="keeper")
    model_admin = admin.site._registry[model]
    obj = first(model)
    assert model_admin.has_view_permission(request, obj)
    request.user = get_user_model().objects.get(username="root")
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, obj)
    assert not model_admin.has_delete_permission(request, obj)
    for inline in model_admin.get_inline_instances(request, obj):
        assert not inline.has_add_permission(request, obj)
        assert not inline.has_change_permission(request, obj)
        assert not inline.has_delete_permission(request, obj)


# --- what the pages show ----------------------------------------------------------------------


def test_beneficiary_list_shows_the_working_fields(staff, demo):
    page = text(staff.get(url(Beneficiary)).content.decode())
    for header in ("Pseudonym", "Trust", "Kind", "Status", "Country", "Care partner"):
        assert header in page
    assert "Majority date" in page
    child = demo.beneficiaries.get(pseudonym="MV-1")
    assert child.care_partner.name in page
    assert date_format(child.majority_date(demo.majority_age)) in page
    assert AGENCY in page
    assert "Government agency" in page


def test_beneficiary_page_has_no_identity_fields_nor_date_of_birth(staff, demo):
    child = demo.beneficiaries.get(pseudonym="MV-1")
    html = staff.get(url(Beneficiary, f"{child.pk}/change/")).content.decode()
    assert "MV-1" in html
    for hidden in (
        "Date of birth",
        "date_of_birth",
        "Legal name",
        "Guardian",
        "beneficiaryidentity",
    ):
        assert hidden.lower() not in html.lower()
    assert child.date_of_birth.isoformat() not in html


def test_beneficiary_search_is_by_pseudonym_only(staff, demo):
    assert admin.site._registry[Beneficiary].search_fields == ("pseudonym",)
    found = staff.get(url(Beneficiary), {"q": "MV-2"}).content.decode()
    assert "1 result" in text(found)
    by_name = staff.get(url(Beneficiary), {"q": "Legal name on file"}).content.decode()
    assert "0 results" in text(by_name)


def test_order_page_shows_version_status_supersedes_and_lines(staff, demo):
    amended = RestitutionOrder.objects.get(trust=demo, version=2)
    page = text(staff.get(url(RestitutionOrder, f"{amended.pk}/change/")).content.decode())
    assert "Version: 2" in page or "Version 2" in page
    assert "Current" in page
    assert str(amended.supersedes) in page
    assert "13,500.00 USD" in page  # line 1 as amended
    assert "Joint and several" in page and "Several" in page
    lines = text(staff.get(url(RestitutionOrder)).content.decode())
    assert "Superseded by an amended judgment" in lines


def test_order_lines_are_shown_as_text_not_inputs(staff, demo):
    amended = RestitutionOrder.objects.get(trust=demo, version=2)
    html = staff.get(url(RestitutionOrder, f"{amended.pk}/change/")).content.decode()
    fields = [m.group(0) for m in re.finditer(r"<(?:input|select|textarea)\b[^>]*>", html)]
    lines = [f for f in fields if 'name="lines-' in f]
    assert lines  # the inline is there (its management form) ...
    assert [f for f in lines if 'type="hidden"' not in f] == []  # ... with nothing to edit


def test_receipt_page_shows_amount_unallocated_and_allocations(staff, demo):
    receipt = Receipt.objects.get(trust=demo, payer__isnull=True, unallocated_minor__gt=0)
    page = text(staff.get(url(Receipt, f"{receipt.pk}/change/")).content.decode())
    assert page.count("420.00 USD") >= 2  # the amount, and all of it unallocated
    assert "Pro rata" in page


def test_implicated_person_shows_only_reference_and_date(staff, demo):
    person = ImplicatedPerson.objects.get(trust=demo)
    model_admin = admin.site._registry[ImplicatedPerson]
    assert model_admin.list_display == ("reference", "created_at")
    assert model_admin.fields == ("reference", "created_at")
    html = staff.get(url(ImplicatedPerson, f"{person.pk}/change/")).content.decode()
    assert "Facilitator 1" in html
    for hidden in ("Token", "Name index", "name_index", person.token, person.name_index):
        assert hidden not in html


def test_identity_reveal_is_shown_for_audit(staff, demo):
    reveal = IdentityReveal.objects.get()
    page = text(staff.get(url(IdentityReveal, f"{reveal.pk}/change/")).content.decode())
    assert "Demo audit of a reveal" in page
    assert "keeper" in page
    assert "legal_name" in page  # which fields were shown, not their values


# --- no identifying data on any page ----------------------------------------------------------


def every_admin_page(client: Client) -> dict[str, str]:
    """The index, every changelist of this app and every object's change and history page."""
    pages = {"/admin/": client.get("/admin/").content.decode()}
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "trust":
            continue
        pages[url(model)] = client.get(url(model)).content.decode()
        request = RequestFactory().get("/")
        request.user = get_user_model().objects.get(username="keeper")
        for pk in model_admin.get_queryset(request).values_list("pk", flat=True):
            for suffix in (f"{pk}/change/", f"{pk}/history/"):
                response = client.get(url(model, suffix))
                assert response.status_code == 200, url(model, suffix)
                pages[url(model, suffix)] = response.content.decode()
    return pages


def test_no_admin_page_shows_a_token_an_index_or_identifying_text(staff, demo):
    secrets = set(PLAINTEXTS)
    secrets |= set(BeneficiaryIdentity.objects.values_list("token", flat=True))
    for token, index in ImplicatedPerson.objects.values_list("token", "name_index"):
        secrets |= {token, index}
    secrets.discard("")
    assert len(secrets) >= len(PLAINTEXTS) + 4  # two identities, a token and an index

    pages = every_admin_page(staff)

    assert len(pages) > 40
    leaks = [(page, s[:12]) for page, html in pages.items() for s in secrets if s in html]
    assert leaks == []
    # Nor a fragment of a token (``v1:<kid>:``), however it were cut.
    assert not [page for page, html in pages.items() if re.search(r"v1:[0-9a-f]{8}:", html)]


def test_a_superuser_is_no_back_door_to_the_childrens_records(client: Client, root, demo):
    """A superuser administers (users, configuration): the trusts are listed, but not one
    beneficiary, account or receipt of them."""
    client.force_login(root)
    assert "demo" in text(client.get(url(Trust)).content.decode()).lower()
    for model in (Beneficiary, Receipt, RestitutionOrder):
        page = text(client.get(url(model)).content.decode())
        assert "MV-1" not in page and "MV-2" not in page, model
    child = demo.beneficiaries.get(pseudonym="MV-1")
    assert client.get(url(Beneficiary, f"{child.pk}/change/")).status_code == 302


def test_a_trustee_of_another_trust_sees_nothing_of_this_one(client: Client, demo):
    other = TrustFactory()
    stranger = get_user_model().objects.create_user("stranger", is_staff=True)
    appoint(stranger, other)
    client.force_login(stranger)
    page = text(client.get(url(Beneficiary)).content.decode())
    assert "MV-1" not in page
    child = demo.beneficiaries.get(pseudonym="MV-1")
    assert client.get(url(Beneficiary, f"{child.pk}/change/")).status_code == 302
