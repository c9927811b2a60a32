"""A request's purpose, its budget-override reason and its events' reasons are now encrypted
under the child's data key (``Beneficiary.seal_text``); documents record whether their stored
file is sealed (those stored before are sealed by ``rotate_field_keys``)."""

from django.db import migrations, models


def _forward(apps, schema_editor):
    from trust import crypto

    Beneficiary = apps.get_model("trust", "Beneficiary")
    Request = apps.get_model("disbursements", "DisbursementRequest")
    RequestEvent = apps.get_model("disbursements", "RequestEvent")
    RequestDocument = apps.get_model("disbursements", "RequestDocument")
    keys: dict[int, crypto.DataKey] = {}

    def key_of(beneficiary_id: int) -> crypto.DataKey:
        if beneficiary_id not in keys:
            b = Beneficiary.objects.get(pk=beneficiary_id)
            keys[beneficiary_id] = crypto.DataKey.unwrap(
                b.data_key_token, context=f"beneficiary-key:{b.uid}"
            )
        return keys[beneficiary_id]

    for request in Request.objects.order_by("beneficiary_id", "pk").iterator(chunk_size=500):
        key = key_of(request.beneficiary_id)
        request.purpose_token = key.encrypt_text(
            request.purpose, context=f"request-purpose:{request.uid}"
        )
        if request.budget_override_reason:
            request.budget_override_token = key.encrypt_text(
                request.budget_override_reason, context=f"request-override:{request.uid}"
            )
        request.save(update_fields=["purpose_token", "budget_override_token"])
        for event in RequestEvent.objects.filter(request_id=request.pk).exclude(reason=""):
            event.reason_token = key.encrypt_text(
                event.reason, context=f"request-event:{request.uid}"
            )
            event.save(update_fields=["reason_token"])
        for document in RequestDocument.objects.filter(request_id=request.pk).exclude(title=""):
            document.title_token = key.encrypt_text(
                document.title, context=f"request-document-title:{document.uid}"
            )
            document.save(update_fields=["title_token"])
        if len(keys) > 1000:
            keys.clear()


class Migration(migrations.Migration):
    dependencies = [
        ("disbursements", "0004_payments"),
        ("trust", "0015_child_data_keys_retention"),
    ]

    operations = [
        migrations.AddField(
            model_name="disbursementrequest",
            name="purpose_token",
            field=models.TextField(default="", editable=False),
        ),
        migrations.AddField(
            model_name="disbursementrequest",
            name="budget_override_token",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.AddField(
            model_name="requestevent",
            name="reason_token",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.AddField(
            model_name="requestdocument",
            name="sealed",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.AddField(
            model_name="requestdocument",
            name="title_token",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(_forward, migrations.RunPython.noop, elidable=False),
        migrations.RemoveField(model_name="requestdocument", name="title"),
        migrations.RemoveField(model_name="disbursementrequest", name="purpose"),
        migrations.RemoveField(model_name="disbursementrequest", name="budget_override_reason"),
        migrations.RemoveField(model_name="requestevent", name="reason"),
    ]
