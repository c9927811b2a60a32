"""The people a trust knows: beneficiaries (by pseudonym), defendants, and people implicated in the
case. Identifying details are kept encrypted in rows of their own and read only through an explicit,
recorded reveal (``trust.services.people.beneficiary_identity_reveal``)."""

from __future__ import annotations

import uuid
from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q

from trust.models.ledger import Trust


class VictimKind(models.TextChoices):
    """Individuals are paid before organisations (18 U.S.C. 3664(i))."""

    INDIVIDUAL = "individual", "Individual"
    GOVERNMENT = "government", "Government agency"
    INSURER = "insurer", "Insurer"
    ORGANISATION = "organisation", "Other organisation"


class Beneficiary(models.Model):
    """A victim, known only by the pseudonym used in court filings."""

    class Status(models.TextChoices):
        MINOR = "minor", "Minor"
        ADULT = "adult", "Adult"
        CLOSED = "closed", "Closed"

    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="beneficiaries")
    pseudonym = models.CharField(max_length=60)
    kind = models.CharField(
        max_length=12, choices=VictimKind.choices, default=VictimKind.INDIVIDUAL
    )
    date_of_birth = models.DateField(
        null=True, blank=True, help_text="Only to know the majority date; individuals only."
    )
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
                condition=Q(kind="individual") | Q(date_of_birth__isnull=True),
                name="beneficiary_dob_individuals_only",
            ),
        ]

    def __str__(self) -> str:
        return self.pseudonym

    @property
    def is_individual(self) -> bool:
        return self.kind == VictimKind.INDIVIDUAL

    def majority_date(self, majority_age: int) -> date | None:
        """The day the beneficiary reaches ``majority_age``; 29 February births reach it on
        1 March in years that have no 29 February."""
        born = self.date_of_birth
        if born is None:
            return None
        year = born.year + majority_age
        try:
            return born.replace(year=year)
        except ValueError:
            return date(year, 3, 1)


class BeneficiaryIdentity(models.Model):
    """Identifying details of one beneficiary (legal name, guardian contact), encrypted as one
    token bound to the beneficiary. Never shown except through a recorded reveal."""

    ENCRYPTED_FIELDS = {"token": lambda row: f"beneficiary-identity:{row.beneficiary_id}"}

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
