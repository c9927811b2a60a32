"""Each child gets a data key of their own (wrapped by the field keys), under which their date of
birth and identity are now encrypted; trusts get a closing date and a retention period; erasures
of a child's identifying data are recorded (two trustees).

Existing rows are converted here: a key generated per beneficiary, the date of birth encrypted
under it, the identity token (under the field keys until now) re-encrypted under it."""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _forward(apps, schema_editor):
    from trust import crypto

    Beneficiary = apps.get_model("trust", "Beneficiary")
    BeneficiaryIdentity = apps.get_model("trust", "BeneficiaryIdentity")
    for beneficiary in Beneficiary.objects.order_by("pk").iterator(chunk_size=500):
        beneficiary.uid = uuid.uuid4()
        key = crypto.DataKey.generate()
        beneficiary.data_key_token = key.wrap(context=f"beneficiary-key:{beneficiary.uid}")
        if beneficiary.date_of_birth is not None:
            beneficiary.dob_token = key.encrypt_text(
                beneficiary.date_of_birth.isoformat(), context="beneficiary-dob"
            )
        beneficiary.save(update_fields=["uid", "data_key_token", "dob_token"])
        identity = BeneficiaryIdentity.objects.filter(beneficiary_id=beneficiary.pk).first()
        if identity is not None and identity.token:
            context = f"beneficiary-identity:{beneficiary.pk}"
            identity.token = key.encrypt_text(
                crypto.decrypt_text(identity.token, context=context), context=context
            )
            identity.save(update_fields=["token"])


def _backward(apps, schema_editor):
    from trust import crypto

    Beneficiary = apps.get_model("trust", "Beneficiary")
    BeneficiaryIdentity = apps.get_model("trust", "BeneficiaryIdentity")
    for beneficiary in Beneficiary.objects.order_by("pk").iterator(chunk_size=500):
        if not beneficiary.data_key_token:
            continue  # erased: nothing to bring back
        key = crypto.DataKey.unwrap(
            beneficiary.data_key_token, context=f"beneficiary-key:{beneficiary.uid}"
        )
        if beneficiary.dob_token:
            from datetime import date

            beneficiary.date_of_birth = date.fromisoformat(
                key.decrypt_text(beneficiary.dob_token, context="beneficiary-dob")
            )
            beneficiary.save(update_fields=["date_of_birth"])
        identity = BeneficiaryIdentity.objects.filter(beneficiary_id=beneficiary.pk).first()
        if identity is not None and identity.token:
            context = f"beneficiary-identity:{beneficiary.pk}"
            identity.token = crypto.encrypt_text(
                key.decrypt_text(identity.token, context=context), context=context
            )
            identity.save(update_fields=["token"])


class Migration(migrations.Migration):
    dependencies = [
        ("trust", "0014_trust_caseworker_second_factor"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="beneficiary",
            name="uid",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.AddField(
            model_name="beneficiary",
            name="data_key_token",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.AddField(
            model_name="beneficiary",
            name="dob_token",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.AddField(
            model_name="beneficiary",
            name="identity_erased_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(_forward, _backward, elidable=False),
        migrations.AlterField(
            model_name="beneficiary",
            name="uid",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.RemoveConstraint(
            model_name="beneficiary",
            name="beneficiary_dob_individuals_only",
        ),
        migrations.RemoveField(
            model_name="beneficiary",
            name="date_of_birth",
        ),
        migrations.AddConstraint(
            model_name="beneficiary",
            constraint=models.CheckConstraint(
                condition=models.Q(("kind", "individual"), ("dob_token", ""), _connector="OR"),
                name="beneficiary_dob_individuals_only",
            ),
        ),
        migrations.AddField(
            model_name="trust",
            name="closed_on",
            field=models.DateField(
                blank=True,
                help_text="The day the books closed for good (a final account).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="trust",
            name="retention_years",
            field=models.PositiveSmallIntegerField(
                default=7,
                help_text="Years the children's identifying data is kept after the trust closes; "
                "then it may be erased (two trustees).",
            ),
        ),
        migrations.AddConstraint(
            model_name="trust",
            constraint=models.CheckConstraint(
                condition=models.Q(("retention_years__gte", 1), ("retention_years__lte", 100)),
                name="trust_retention_years_range",
            ),
        ),
        migrations.CreateModel(
            name="Erasure",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("proposed", "Proposed"),
                            ("done", "Erased"),
                            ("withdrawn", "Withdrawn"),
                        ],
                        default="proposed",
                        max_length=10,
                    ),
                ),
                (
                    "reason",
                    models.TextField(
                        help_text="Why now (no identifying data): e.g. the retention period."
                    ),
                ),
                ("proposed_at", models.DateTimeField(auto_now_add=True)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                (
                    "beneficiary",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="erasures",
                        to="trust.beneficiary",
                    ),
                ),
                (
                    "decided_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "proposed_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"db_table": "trust_erasure", "ordering": ["-proposed_at", "-id"]},
        ),
        migrations.AddConstraint(
            model_name="erasure",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "proposed")),
                fields=("beneficiary",),
                name="erasure_one_open_per_child",
            ),
        ),
        migrations.AddConstraint(
            model_name="erasure",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "done")),
                fields=("beneficiary",),
                name="erasure_once_per_child",
            ),
        ),
        migrations.AddConstraint(
            model_name="erasure",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "done"), _negated=True),
                    models.Q(("decided_by", models.F("proposed_by")), _negated=True),
                    _connector="OR",
                ),
                name="erasure_two_trustees",
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                fields=["object_id", "-at"],
                condition=models.Q(
                    ("action__in", ["beneficiary.viewed", "beneficiary.identity_revealed"]),
                    ("object_type", "beneficiary"),
                ),
                name="audit_event_child_views",
            ),
        ),
    ]
