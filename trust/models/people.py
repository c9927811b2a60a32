"""The people a trust knows: beneficiaries (by pseudonym), defendants, and people implicated in the
case. Identifying details are kept encrypted in rows of their own and read only through an explicit,
recorded reveal (``trust.services.people.beneficiary_identity_reveal``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from trust import crypto
from trust.models.ledger import Trust

ERASED = "(erased)"


def majority_date(born: date | None, majority_age: int) -> date | None:
    """The day someone born on ``born`` reaches ``majority_age``; 29 February births reach it on
    1 March in years that have no 29 February."""
    if born is None:
        return None
    year = born.year + majority_age
    try:
        return born.replace(year=year)
    except ValueError:
        return date(year, 3, 1)


def share_data_keys(children: Iterable[Beneficiary]) -> None:
    """Let instances of the same child (one per row of a list) share one unwrapped data key, so
    that a list opens each child's key once. Keys are kept on the instances only (never across
    requests: an erasure elsewhere takes effect at once)."""
    opened: dict[int, crypto.DataKey] = {}
    for child in children:
        if child.pk in opened:
            child.__dict__["_data_key"] = opened[child.pk]
        elif child.data_key_token and child.identity_erased_at is None:
            opened[child.pk] = child.data_key()


class IdentityErased(Exception):
    """The child's data key was destroyed: what it encrypted can no longer be read."""


class VictimKind(models.TextChoices):
    """Individuals are paid before organisations (18 U.S.C. 3664(i))."""

    INDIVIDUAL = "individual", "Individual"
    GOVERNMENT = "government", "Government agency"
    INSURER = "insurer", "Insurer"
    ORGANISATION = "organisation", "Other organisation"


class Beneficiary(models.Model):
    """A victim, known only by the pseudonym used in court filings.

    Everything identifying about the child (identity, date of birth, request purposes and notes,
    documents) is encrypted under the child's own data key, stored here only wrapped by the field
    keys (``data_key_token``). Erasing the child's identifying data destroys that token
    (crypto-shredding): the ledger and the audit trail keep only pseudonyms and amounts."""

    ENCRYPTED_FIELDS = {"data_key_token": lambda row: f"beneficiary-key:{row.uid}"}

    class Status(models.TextChoices):
        MINOR = "minor", "Minor"
        ADULT = "adult", "Adult"
        CLOSED = "closed", "Closed"

    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="beneficiaries")
    pseudonym = models.CharField(max_length=60)
    kind = models.CharField(
        max_length=12, choices=VictimKind.choices, default=VictimKind.INDIVIDUAL
    )
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    data_key_token = models.TextField(blank=True, default="", editable=False)
    # The date of birth, encrypted under the data key ("" when unknown): see ``date_of_birth``.
    dob_token = models.TextField(blank=True, default="", editable=False)
    identity_erased_at = models.DateTimeField(null=True, blank=True, editable=False)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 code.")
    care_partner = models.ForeignKey(
        "disbursements.CarePartner",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="beneficiaries",
        help_text="The care partner currently responsible.",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.MINOR)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "trust_beneficiary"
        verbose_name_plural = "beneficiaries"
        ordering = ["trust_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["trust", "pseudonym"], name="beneficiary_unique_pseudonym"
            ),
            models.CheckConstraint(
                condition=Q(kind="individual") | Q(dob_token=""),
                name="beneficiary_dob_individuals_only",
            ),
        ]

    def __str__(self) -> str:
        return self.pseudonym

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Every child has a data key from the start, so that erasing one is always the same act.
        if self._state.adding and not self.data_key_token and self.identity_erased_at is None:
            self.data_key(create=True)
        super().save(*args, **kwargs)

    @property
    def is_individual(self) -> bool:
        return self.kind == VictimKind.INDIVIDUAL

    # --- the child's data key and what it encrypts ---------------------------------------------

    @property
    def erased(self) -> bool:
        return self.identity_erased_at is not None

    def data_key(self, *, create: bool = False) -> crypto.DataKey:
        """The child's data key, unwrapped (once per instance). A child without one gets one
        when ``create`` (written at once for a saved row, compare-and-set, so two writers agree);
        ``IdentityErased`` once it was destroyed, or when there is none and ``create`` is off."""
        cached = self.__dict__.get("_data_key")
        if cached is not None:
            return cached
        if self.identity_erased_at is not None:
            raise IdentityErased(f"the identifying data of {self.pseudonym} was erased")
        if not self.data_key_token:
            if not create:
                raise IdentityErased(f"{self.pseudonym} has no data key")
            key = crypto.DataKey.generate()
            token = key.wrap(context=f"beneficiary-key:{self.uid}")
            if self.pk is not None:
                claimed = Beneficiary.objects.filter(
                    pk=self.pk, data_key_token="", identity_erased_at__isnull=True
                ).update(data_key_token=token)
                if not claimed:  # another writer gave it one first, or it was erased
                    fresh = Beneficiary.objects.get(pk=self.pk)
                    self.data_key_token = fresh.data_key_token
                    self.identity_erased_at = fresh.identity_erased_at
                    return self.data_key(create=False)
            self.data_key_token = token
        else:
            key = crypto.DataKey.unwrap(self.data_key_token, context=f"beneficiary-key:{self.uid}")
        self.__dict__["_data_key"] = key
        return key

    def forget_data_key(self) -> None:
        self.__dict__.pop("_data_key", None)

    def seal_text(self, plaintext: str, *, context: str) -> str:
        """``plaintext`` encrypted under the child's data key ("" stays "")."""
        if not plaintext:
            return ""
        return self.data_key(create=True).encrypt_text(plaintext, context=context)

    def open_text(self, token: str, *, context: str) -> str:
        """What ``seal_text`` sealed; ``ERASED`` once the child's data key was destroyed."""
        if not token:
            return ""
        try:
            return self.data_key().decrypt_text(token, context=context)
        except IdentityErased:
            return ERASED

    @property
    def date_of_birth(self) -> date | None:
        """Only to know the majority date; individuals only. Encrypted at rest."""
        if not self.dob_token or self.identity_erased_at is not None:
            return None
        text = self.open_text(self.dob_token, context="beneficiary-dob")
        return None if text == ERASED else date.fromisoformat(text)

    @date_of_birth.setter
    def date_of_birth(self, value: date | str | None) -> None:
        if value in (None, ""):
            self.dob_token = ""
            return
        if isinstance(value, str):
            value = date.fromisoformat(value)
        self.dob_token = self.seal_text(value.isoformat(), context="beneficiary-dob")

    def majority_date(self, majority_age: int) -> date | None:
        """The day the beneficiary reaches ``majority_age`` (``None`` without a date of birth)."""
        return majority_date(self.date_of_birth, majority_age)


class BeneficiaryIdentity(models.Model):
    """Identifying details of one beneficiary (legal name, guardian contact), encrypted as one
    token under the child's data key, bound to the beneficiary. Never shown except through a
    recorded reveal; emptied when the child's identifying data is erased."""

    beneficiary = models.OneToOneField(
        Beneficiary, on_delete=models.PROTECT, related_name="identity"
    )
    token = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "trust_beneficiary_identity"
        verbose_name_plural = "beneficiary identities"

    def __str__(self) -> str:
        return f"identity of beneficiary #{self.beneficiary_id} (encrypted)"


class IdentityReveal(models.Model):
    """One viewing of a beneficiary's identifying details: who, when, why, which fields."""

    beneficiary = models.ForeignKey(Beneficiary, on_delete=models.PROTECT, related_name="reveals")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    purpose = models.TextField()
    fields = models.JSONField(default=list)
    revealed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "trust_identity_reveal"
        ordering = ["-revealed_at"]

    def __str__(self) -> str:
        return f"reveal of #{self.beneficiary_id} by {self.actor_id} at {self.revealed_at}"


class Erasure(models.Model):
    """Erasing one child's identifying data once the trust is closed and its retention period has
    passed: proposed by one trustee, carried out when another confirms (crypto-shredding: the
    child's data key is destroyed)."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        DONE = "done", "Erased"
        WITHDRAWN = "withdrawn", "Withdrawn"

    beneficiary = models.ForeignKey(Beneficiary, on_delete=models.PROTECT, related_name="erasures")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    reason = models.TextField(help_text="Why now (no identifying data): e.g. the retention period.")
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "trust_erasure"
        ordering = ["-proposed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["beneficiary"],
                condition=Q(status="proposed"),
                name="erasure_one_open_per_child",
            ),
            models.UniqueConstraint(
                fields=["beneficiary"], condition=Q(status="done"), name="erasure_once_per_child"
            ),
            # Two trustees: whoever confirms is not whoever proposed.
            models.CheckConstraint(
                condition=~Q(status="done") | ~Q(decided_by=models.F("proposed_by")),
                name="erasure_two_trustees",
            ),
        ]

    def __str__(self) -> str:
        return f"erasure of #{self.beneficiary_id} ({self.status})"


class Defendant(models.Model):
    """A person ordered to pay restitution. Defendants' names are public court record."""

    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="defendants")
    name = models.CharField(max_length=200)
    reference = models.CharField(
        max_length=100, blank=True, help_text="Docket or defendant number in the case."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "trust_defendant"
        ordering = ["trust_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["trust", "name"], name="defendant_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class ImplicatedPerson(models.Model):
    """Someone recorded as implicated in the case (often a relative of a child), so that no
    payment ever goes to them. The name is encrypted (it could identify the child); a keyed
    blind index of it lets a payee be checked without decrypting anything."""

    ENCRYPTED_FIELDS = {"token": lambda row: f"implicated-person:{row.uid}"}

    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="implicated_people")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    reference = models.CharField(
        max_length=100, help_text="How court papers refer to them, e.g. 'Facilitator 1'."
    )
    token = models.TextField(blank=True, help_text="Encrypted name and note.")
    name_index = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "trust_implicated_person"
        ordering = ["trust_id", "reference"]
        constraints = [
            models.UniqueConstraint(
                fields=["trust", "reference"], name="implicated_unique_reference"
            ),
        ]

    def __str__(self) -> str:
        return self.reference
