"""Importing a file of the bank's statements: checked first (nothing written: its statements with
their balances and continuity, its first lines, which were imported before, or the parser's error
naming the line or element at fault), then recorded exactly as checked, whole or not at all.

As on the receipts' import page, the checked file is kept in the session (compressed) by its
SHA-256 until it is recorded, so what is recorded is what the trustee saw."""

from __future__ import annotations

import base64
import zlib
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from trust.bank.forms import StatementUploadForm, mapping_initial
from trust.bank.parsing.base import CsvMapping
from trust.bank.selectors.preview import statement_preview
from trust.bank.services.statements import (
    csv_mapping_save,
    saved_mapping,
    statement_import,
)
from trust.bank.views.accounts import bank_of, managing
from trust.forms import add_service_errors

IMPORT_STASH = "bank-statement-import"
# A file checked on the page waits in the session until it is recorded: larger files go
# through the API (POST .../imports/, up to the importer's 50 MiB).
PAGE_MAX_BYTES = 10 * 1024 * 1024


def _stash(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data)).decode("ascii")


def _unstash(text: str) -> bytes:
    return zlib.decompress(base64.b64decode(text))


@login_required
def import_view(request: HttpRequest, trust_id: int, bank_id: int) -> HttpResponse:
    trust = managing(request, trust_id)
    bank = bank_of(trust, bank_id)
    saved = saved_mapping(bank)
    preview = None
    if request.method == "POST" and "record" in request.POST:
        return _record(request, trust.pk, bank)
    if request.method != "POST":
        request.session.pop(IMPORT_STASH, None)  # a fresh page forgets a file checked before
    form = StatementUploadForm(
        request.POST or None, request.FILES or None, initial=mapping_initial(saved)
    )
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > PAGE_MAX_BYTES:
            form.add_error(
                "file",
                "The file is larger than 10 MiB: import it through the API "
                "(docs/api.md), which takes files up to 50 MiB.",
            )
        else:
            data = upload.read()
            mapping = form.mapping()
            fmt = form.cleaned_data["format"] or None
            try:
                preview = statement_preview(
                    bank=bank, data=data, format=fmt, mapping=mapping or saved
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                request.session[IMPORT_STASH] = {
                    "trust": trust.pk,
                    "bank": bank.pk,
                    "sha256": preview.sha256,
                    "file_name": upload.name or "",
                    "format": fmt,
                    "mapping": dict(mapping.__dict__) if mapping else None,
                    "save_mapping": bool(form.cleaned_data["save_mapping"] and mapping),
                    "data": _stash(data),
                }
    return render(
        request,
        "trust/bank/import.html",
        {
            "trust": trust,
            "bank": bank,
            "currency": bank.account.currency,
            "form": form,
            "preview": preview,
            "saved_mapping": saved,
        },
        status=400 if form.errors else 200,
    )


def _record(request: HttpRequest, trust_id: int, bank: Any) -> HttpResponse:
    stash = request.session.get(IMPORT_STASH) or {}
    if (
        stash.get("trust") != trust_id
        or stash.get("bank") != bank.pk
        or stash.get("sha256") != request.POST.get("sha256")
    ):
        messages.error(request, "Check the file again before recording it.")
        return redirect("bank-import", trust_id=trust_id, bank_id=bank.pk)
    mapping = CsvMapping(**stash["mapping"]) if stash.get("mapping") else None
    try:
        outcome = statement_import(
            actor=request.user,
            bank=bank,
            data=_unstash(stash["data"]),
            file_name=stash.get("file_name", ""),
            format=stash.get("format"),
            mapping=mapping,
        )
    except ValidationError as error:
        form = StatementUploadForm(initial=mapping_initial(saved_mapping(bank)))
        add_service_errors(form, error)
        return render(
            request,
            "trust/bank/import.html",
            {"trust": bank.trust, "bank": bank, "currency": bank.account.currency, "form": form},
            status=400,
        )
    request.session.pop(IMPORT_STASH, None)
    if mapping is not None and stash.get("save_mapping"):
        try:
            csv_mapping_save(actor=request.user, bank=bank, mapping=mapping)
        except ValidationError as error:
            messages.warning(request, "The CSV columns were not kept: " + " ".join(error.messages))
        else:
            messages.info(request, "The CSV columns were kept for this account's next import.")
    if outcome.already_imported:
        messages.info(request, outcome.summary)
    elif outcome.gaps:
        messages.warning(request, outcome.summary)
    else:
        messages.success(request, outcome.summary)
    return redirect("bank-account", trust_id=trust_id, bank_id=bank.pk)
