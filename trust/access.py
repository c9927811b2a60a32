"""Who may see and do what: the one module that decides (docs/roles.md).

Every page, download, admin class, command or task acting for a user, and every service asks here:

- ``visible(user, Model, action)`` and the ``visible_<things>`` shortcuts: querysets scoped at the
  source, so what a user may not see is simply not there (a list never counts it, a page for it is
  "not found");
- ``<thing>_for(user, id)``: one object through that scope, or ``Http404`` whether it does not
  exist or is not theirs (the same answer, so nothing is learnt about other trusts or partners);
- ``can(user, action, obj)`` and ``require(actor, action, obj, ...)``: may this user do this to
  that; ``require`` is what services call, so a refusal holds whoever calls them.

The rules are data in ``trust.roles`` (``MAY``): a role holds in a trust, by appointment
(``Appointment``, current between its start and end dates) or, for a caseworker, through their care
partner, only for the children in that partner's care and what hangs off them. A superuser is an
administrator of every trust (users and configuration), never a trustee or a reader of the books.

The trust app sits below the others, so the models of ``disbursements`` and ``reports`` are named
through Django's app registry here, never imported: the rules stay in one place and the layers
stay one way.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone

from trust.models import (
    Account,
    Appointment,
    AuditEvent,
    Beneficiary,
    FailedJob,
    JournalEntry,
    Trust,
)
from trust.roles import (
    ADMINISTRATOR,
    ALERTED,
    APPOINTED,
    CASEWORKER,
    MAY,
    TRUSTEE,
    Action,
)

# --- what a user holds -----------------------------------------------------------------------


@dataclass(frozen=True)
class Grants:
    """A user's roles, read once: appointed roles per trust, and their care partner (if any)
    with the trusts it serves."""

    user_id: int | None = None
    appointed: dict[int, frozenset[str]] = field(default_factory=dict)
    partner_id: int | None = None
    partner_trusts: frozenset[int] = frozenset()
    superuser: bool = False

    def roles_in(self, trust_id: int | None) -> frozenset[str]:
        if trust_id is None or self.user_id is None:
            return frozenset()
        held = set(self.appointed.get(trust_id, ()))
        if self.partner_id is not None and trust_id in self.partner_trusts:
            held.add(CASEWORKER)
        if self.superuser:
            held.add(ADMINISTRATOR)
        return frozenset(held)

    def holds(self, role: str) -> bool:
        """Whether the user holds ``role`` in any trust."""
        if role == CASEWORKER:
            return self.partner_id is not None
        if role == ADMINISTRATOR and self.superuser:
            return True
        return any(role in held for held in self.appointed.values())


NOBODY = Grants()
_cache: contextvars.ContextVar[dict[int, Grants] | None] = contextvars.ContextVar(
    "access_grants", default=None
)


def _signed_in(user: Any) -> bool:
    return bool(
        getattr(user, "pk", None)
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
    )


def grants(user: Any) -> Grants:
    """What ``user`` holds today (three small queries; read once per web request)."""
    if not _signed_in(user):
        return NOBODY
    cache = _cache.get()
    if cache is not None and user.pk in cache:
        return cache[user.pk]
    today = timezone.localdate()
    appointed: dict[int, set[str]] = {}
    for trust_id, role in Appointment.objects.filter(
        Q(ends_on__isnull=True) | Q(ends_on__gte=today), user_id=user.pk, starts_on__lte=today
    ).values_list("trust_id", "role"):
        appointed.setdefault(trust_id, set()).add(role)
    caseworker = apps.get_model("disbursements", "Caseworker")
    partner_id = (
        caseworker.objects.filter(user_id=user.pk).values_list("partner_id", flat=True).first()
    )
    partner_trusts: frozenset[int] = frozenset()
    if partner_id is not None:
        partner_trusts = frozenset(
            Beneficiary.objects.filter(care_partner_id=partner_id)
            .values_list("trust_id", flat=True)
            .distinct()
        )
    found = Grants(
        user_id=user.pk,
        appointed={t: frozenset(r) for t, r in appointed.items()},
        partner_id=partner_id,
        partner_trusts=partner_trusts,
        superuser=bool(user.is_superuser),
    )
    if cache is not None:
        cache[user.pk] = found
    return found


@contextmanager
def grants_cached() -> Iterator[None]:
    """Read each user's grants once inside this block (a web request; ``AccessMiddleware``)."""
    token = _cache.set({})
    try:
        yield
    finally:
        _cache.reset(token)


class AccessMiddleware:
    """One reading of the signed-in user's grants per request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with grants_cached():
            try:
                return self.get_response(request)
            finally:
                # A page about one trust shows its times in the trust's zone (``show_times_of``);
                # the next request on this thread starts from the installation's zone again.
                timezone.deactivate()


def roles_in(user: Any, trust: Trust | int | None) -> frozenset[str]:
    """The roles ``user`` holds in ``trust`` today."""
    trust_id = trust.pk if isinstance(trust, Trust) else trust
    return grants(user).roles_in(trust_id)


def _appointed(user: Any, role: str, trust_id: int | None = None) -> bool:
    """One query: whether ``user`` holds ``role`` by an appointment current today (in
    ``trust_id``, or anywhere)."""
    today = timezone.localdate()
    current = Appointment.objects.filter(
        Q(ends_on__isnull=True) | Q(ends_on__gte=today),
        user_id=user.pk,
        role=role,
        starts_on__lte=today,
    )
    if trust_id is not None:
        current = current.filter(trust_id=trust_id)
    return current.exists()


def holds(user: Any, role: str) -> bool:
    """Whether ``user`` holds ``role`` in any trust today (a trustee somewhere cannot also be a
    caseworker, for instance). Services ask it on every call: outside a web request (whose
    grants are read once) an appointed role costs one query, not a reading of all grants."""
    if _cache.get() is None and role in APPOINTED and _signed_in(user):
        return (role == ADMINISTRATOR and user.is_superuser) or _appointed(user, role)
    return grants(user).holds(role)


def is_trustee(user: Any, trust: Trust | int | None) -> bool:
    """Whether ``user`` is a trustee of ``trust`` today (one query outside a web request)."""
    trust_id = trust.pk if isinstance(trust, Trust) else trust
    if _cache.get() is None:
        return trust_id is not None and _signed_in(user) and _appointed(user, TRUSTEE, trust_id)
    return TRUSTEE in roles_in(user, trust_id)


# --- which trust and which partner a thing belongs to ----------------------------------------

# Model label -> (path to its trust id, path to the care partner it hangs off, or None when it
# belongs to the trust as a whole). A caseworker sees a thing only through its partner path.
SCOPES: dict[str, tuple[str, str | None]] = {
    "trust.trust": ("pk", None),
    "trust.beneficiary": ("trust_id", "care_partner_id"),
    "trust.account": ("trust_id", "beneficiary__care_partner_id"),
    "trust.journalentry": ("trust_id", None),
    "trust.posting": ("entry__trust_id", None),
    "trust.accountday": ("account__trust_id", None),
    "trust.defendant": ("trust_id", None),
    "trust.implicatedperson": ("trust_id", None),
    "trust.restitutionorder": ("trust_id", None),
    "trust.orderline": ("order__trust_id", None),
    "trust.receipt": ("trust_id", None),
    "trust.allocation": ("receipt__trust_id", None),
    "trust.allocationshare": ("allocation__receipt__trust_id", None),
    "trust.identityreveal": ("beneficiary__trust_id", None),
    "trust.erasure": ("beneficiary__trust_id", None),
    "trust.ledgercheck": ("trust_id", None),
    "trust.appointment": ("trust_id", None),
    "trust.auditevent": ("trust_id", None),
    "trust.bankaccount": ("trust_id", None),
    "trust.statementimport": ("trust_id", None),
    "trust.bankstatement": ("trust_id", None),
    "trust.statementline": ("trust_id", None),
    "trust.bankmatch": ("trust_id", None),
    "trust.matchedentry": ("match__trust_id", None),
    "trust.reconciliation": ("trust_id", None),
    "trust.reconciliationchange": ("reconciliation__trust_id", None),
    "trust.sharedcharge": ("trust_id", None),
    "trust.sharedchargeshare": ("charge__trust_id", None),
    "trust.failedjob": ("trust_id", None),
    "disbursements.disbursementpolicy": ("trust_id", None),
    "disbursements.budget": ("beneficiary__trust_id", "beneficiary__care_partner_id"),
    "disbursements.disbursementrequest": ("trust_id", "partner_id"),
    "disbursements.requestevent": ("request__trust_id", "request__partner_id"),
    "disbursements.approval": ("request__trust_id", "request__partner_id"),
    "disbursements.requestdocument": ("request__trust_id", "request__partner_id"),
    "disbursements.payment": ("trust_id", "request__partner_id"),
    "reports.report": ("trust_id", None),  # caseworkers: see _report_partner_q
    "reports.reportbatch": ("trust_id", None),
}

# The registry of care partners (and their caseworkers) is shared by the trusts: the field that
# names the partner. Trustees and auditors read it; a caseworker sees only their own partner.
REGISTRY: dict[str, str] = {
    "disbursements.carepartner": "pk",
    "disbursements.caseworker": "partner_id",
}

# What a model is read under, when a caller does not say.
VIEW_ACTIONS: dict[str, Action] = {
    "trust.trust": Action.TRUST_VIEW,
    "trust.beneficiary": Action.BENEFICIARY_VIEW,
    "trust.account": Action.LEDGER_VIEW,
    "trust.appointment": Action.APPOINTMENT_MANAGE,
    "trust.auditevent": Action.AUDIT_VIEW,
    "trust.identityreveal": Action.AUDIT_VIEW,
    "disbursements.budget": Action.BENEFICIARY_VIEW,
    "disbursements.carepartner": Action.REQUEST_VIEW,
    "disbursements.caseworker": Action.REQUEST_VIEW,
    "disbursements.disbursementrequest": Action.REQUEST_VIEW,
    "disbursements.requestevent": Action.REQUEST_VIEW,
    "disbursements.approval": Action.REQUEST_VIEW,
    "disbursements.requestdocument": Action.REQUEST_VIEW,
    "disbursements.payment": Action.REQUEST_VIEW,
    "reports.report": Action.REPORT_VIEW,
    "reports.reportbatch": Action.REPORT_REQUEST,
}


def _label(model: type[Model]) -> str:
    return model._meta.label_lower


# The documents a caseworker may read (reports.models.Kind): their children's statements and
# their partner's remittance advices; accounts to the court and the like are the trust's.
STATEMENT, REMITTANCE = "beneficiary_statement", "remittance_advice"


def _report_partner_q(partner_id: int) -> Q:
    return Q(kind=STATEMENT, beneficiary__care_partner_id=partner_id) | Q(
        kind=REMITTANCE, payment__request__partner_id=partner_id
    )


def _resolve(obj: Any, path: str) -> Any:
    for part in path.split("__"):
        if obj is None:
            return None
        obj = getattr(obj, part)
    return obj


def _scope_of(obj: Model) -> tuple[int | None, int | None]:
    label = _label(type(obj))
    if label == "reports.report":
        partner = None
        if obj.beneficiary_id:
            partner = obj.beneficiary.care_partner_id
        elif obj.payment_id:
            partner = obj.payment.request.partner_id
        if obj.kind not in {STATEMENT, REMITTANCE}:
            partner = None
        return obj.trust_id, partner
    trust_path, partner_path = SCOPES[label]
    return _resolve(obj, trust_path), (_resolve(obj, partner_path) if partner_path else None)


# --- deciding --------------------------------------------------------------------------------


def can(user: Any, action: Action, obj: Model) -> bool:
    """Whether ``user`` may do ``action`` to ``obj`` (a trust, or anything that belongs to one;
    a care partner for the registry of partners)."""
    if not _signed_in(user):
        return False
    held = grants(user)
    if _label(type(obj)) in REGISTRY:
        partner = obj if _label(type(obj)) == "disbursements.carepartner" else obj.partner
        return _can_partner(held, action, partner)
    trust_id, partner_id = _scope_of(obj)
    allowed = MAY[action] & held.roles_in(trust_id)
    if not allowed:
        return False
    if allowed - {CASEWORKER}:
        return True
    # Only as a caseworker: the thing must hang off a child in their partner's care.
    if isinstance(obj, Trust):
        return action == Action.TRUST_VIEW
    return partner_id is not None and partner_id == held.partner_id


def _reads_registry(held: Grants, action: Action) -> bool:
    return any(
        role in MAY[action] and role != CASEWORKER
        for roles in held.appointed.values()
        for role in roles
    )


def _can_partner(held: Grants, action: Action, partner: Model) -> bool:
    """Care partners are one registry shared by the trusts: trustees manage it, trustees and
    auditors read it; a caseworker sees only their own partner."""
    if action == Action.PARTNER_MANAGE:
        return held.holds(TRUSTEE)
    if held.partner_id is not None and held.partner_id == partner.pk:
        return True
    return _reads_registry(held, action)


def require(
    actor: Any,
    action: Action,
    obj: Model,
    message: str = "You may not do this.",
    code: str = "not_allowed",
    *,
    system: bool = False,
) -> None:
    """Refuse (``ValidationError`` with ``code``) unless ``actor`` may do ``action`` to ``obj``.
    ``system=True`` lets ``actor=None`` through: work the system does itself (a migration, a
    command run by an operator with access to the server, a scheduled task), never a user."""
    if actor is None and system:
        return
    if not can(actor, action, obj):
        raise ValidationError(message, code=code)


# --- what a user sees ------------------------------------------------------------------------


def trust_ids(user: Any, action: Action) -> tuple[set[int], set[int]]:
    """The trusts where ``user`` may do ``action``: (fully, only as their partner's caseworker)."""
    held = grants(user)
    candidates = set(held.appointed) | set(held.partner_trusts)
    if held.superuser:
        candidates |= set(Trust.objects.values_list("pk", flat=True))
    fully: set[int] = set()
    partner_only: set[int] = set()
    for trust_id in candidates:
        allowed = MAY[action] & held.roles_in(trust_id)
        if allowed - {CASEWORKER}:
            fully.add(trust_id)
        elif allowed:
            partner_only.add(trust_id)
    return fully, partner_only


def visible_q(user: Any, model: type[Model], action: Action | None = None) -> Q:
    """The filter that scopes ``model`` to what ``user`` may ``action`` (by default, read)."""
    label = _label(model)
    action = action or VIEW_ACTIONS.get(label, Action.LEDGER_VIEW)
    if not _signed_in(user):
        return Q(pk__in=[])
    held = grants(user)
    if label in REGISTRY:
        partner_field = REGISTRY[label]
        if action == Action.PARTNER_MANAGE:
            return Q() if held.holds(TRUSTEE) else Q(pk__in=[])
        if _reads_registry(held, action):
            return Q()
        if held.partner_id is None:
            return Q(pk__in=[])
        return Q(**{partner_field: held.partner_id})
    trust_path, partner_path = SCOPES[label]
    fully, partner_only = trust_ids(user, action)
    scope = Q(**{f"{trust_path}__in": sorted(fully)})
    if partner_only and held.partner_id is not None:
        if label == "reports.report":
            scope |= Q(trust_id__in=sorted(partner_only)) & _report_partner_q(held.partner_id)
        elif label == "trust.trust":
            scope |= Q(pk__in=sorted(partner_only))
        elif partner_path:
            scope |= Q(**{f"{trust_path}__in": sorted(partner_only), partner_path: held.partner_id})
    return scope


def visible(user: Any, model: type[Model], action: Action | None = None) -> QuerySet:
    """``model``'s rows that ``user`` may ``action`` (by default, read)."""
    return model._default_manager.filter(visible_q(user, model, action))


def visible_trusts(user: Any, action: Action = Action.TRUST_VIEW) -> QuerySet[Trust]:
    return visible(user, Trust, action)


def visible_beneficiaries(
    user: Any, action: Action = Action.BENEFICIARY_VIEW
) -> QuerySet[Beneficiary]:
    return visible(user, Beneficiary, action)


def visible_accounts(user: Any, action: Action = Action.LEDGER_VIEW) -> QuerySet[Account]:
    return visible(user, Account, action)


def visible_entries(user: Any) -> QuerySet[JournalEntry]:
    return visible(user, JournalEntry, Action.LEDGER_VIEW)


def visible_requests(user: Any, action: Action = Action.REQUEST_VIEW) -> QuerySet:
    return visible(user, apps.get_model("disbursements", "DisbursementRequest"), action)


def visible_documents(user: Any) -> QuerySet:
    return visible(user, apps.get_model("disbursements", "RequestDocument"), Action.REQUEST_VIEW)


def visible_payments(user: Any, action: Action = Action.REQUEST_VIEW) -> QuerySet:
    return visible(user, apps.get_model("disbursements", "Payment"), action)


def visible_partners(user: Any) -> QuerySet:
    return visible(user, apps.get_model("disbursements", "CarePartner"), Action.REQUEST_VIEW)


def visible_reports(user: Any) -> QuerySet:
    return visible(user, apps.get_model("reports", "Report"), Action.REPORT_VIEW)


def in_every_trust(user: Any, action: Action) -> bool:
    """Whether ``user`` may do ``action`` in every trust there is (and there is one): what
    covers all trusts at once (a check of the whole ledger, the whole audit log) is for them."""
    fully, _ = trust_ids(user, action)
    return bool(fully) and not Trust.objects.exclude(pk__in=fully).exists()


def audits_everything(user: Any) -> bool:
    """Whether ``user`` may read the audit trail of every trust there is: the whole log (its
    events of no trust, the bundle) holds every trust's events, so only such a user gets it."""
    return in_every_trust(user, Action.AUDIT_VIEW)


def visible_audit_events(user: Any) -> QuerySet[AuditEvent]:
    """Events of the trusts whose trail ``user`` may read; events of no trust (sign-ins, users,
    keys) only to one who may read every trust's."""
    scope = visible_q(user, AuditEvent, Action.AUDIT_VIEW)
    if audits_everything(user):
        scope |= Q(trust_id__isnull=True)
    return AuditEvent.objects.filter(scope)


def visible_failed_jobs(user: Any) -> QuerySet[FailedJob]:
    """Background jobs that gave up, of the trusts whose books ``user`` reads; jobs of no trust
    (the nightly checks of every trust, the audit trail's work) only to one who reads every
    trust's books."""
    scope = visible_q(user, FailedJob, Action.LEDGER_VIEW)
    if in_every_trust(user, Action.LEDGER_VIEW):
        scope |= Q(trust_id__isnull=True)
    return FailedJob.objects.filter(scope)


def can_resolve_failed_job(user: Any, job: FailedJob) -> bool:
    """Whether ``user`` may retry or dismiss ``job``: a trustee of its trust; for a job of no
    trust, one who is a trustee of every trust."""
    if job.trust_id is None:
        return _signed_in(user) and in_every_trust(user, Action.TRUST_MANAGE)
    return can(user, Action.TRUST_MANAGE, job)


# --- one object, or not found ----------------------------------------------------------------


def object_for(
    user: Any, model: type[Model], pk: Any, action: Action | None = None, **by: Any
) -> Any:
    """``model`` ``pk`` (or the row matching ``by``) if ``user`` may ``action`` it, else
    ``Http404``: the same answer as for a row that does not exist."""
    lookup = by or {"pk": pk}
    found = visible(user, model, action).filter(**lookup).first()
    if found is None:
        raise Http404(f"No such {model._meta.verbose_name}.")
    return found


def trust_for(user: Any, trust_id: Any, action: Action = Action.TRUST_VIEW) -> Trust:
    """The trust a page is about, if ``user`` may ``action`` it (else ``Http404``); the rest of
    the request shows times, and takes "today", in the trust's time zone."""
    trust = object_for(user, Trust, trust_id, action)
    show_times_of(trust)
    return trust


def show_times_of(trust: Trust) -> None:
    """Times on this request's page in ``trust``'s zone (``AccessMiddleware`` resets it)."""
    try:
        timezone.activate(ZoneInfo(trust.time_zone))
    except (ZoneInfoNotFoundError, ValueError):
        timezone.deactivate()


# --- who is told -----------------------------------------------------------------------------


def people_in(
    roles: tuple[str, ...] = ALERTED, trust: Trust | int | None = None, exclude: Any = None
) -> QuerySet:
    """Active users appointed today in ``roles`` (of ``trust``, or of any trust), each once."""
    today = timezone.localdate()
    appointed = Appointment.objects.filter(
        Q(ends_on__isnull=True) | Q(ends_on__gte=today), role__in=roles, starts_on__lte=today
    )
    if trust is not None:
        appointed = appointed.filter(trust_id=trust.pk if isinstance(trust, Trust) else trust)
    people = get_user_model().objects.filter(is_active=True, pk__in=appointed.values("user_id"))
    if exclude is not None:
        people = people.exclude(pk=getattr(exclude, "pk", exclude))
    return people.order_by("pk")


def alert_emails(roles: tuple[str, ...] = ALERTED, trust: Trust | int | None = None) -> list[str]:
    """The addresses of ``people_in(roles, trust)`` (for alerts), each once."""
    return list(
        people_in(roles, trust).exclude(email="").values_list("email", flat=True).distinct()
    )
