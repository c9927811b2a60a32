"""``manage.py generate_statements``: a progress bar, the PDFs, clear errors, resumable."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from reports.models import Report, ReportBatch
from tests.reports.scenario import build_case

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("generate_statements", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_generates_every_statement_with_progress(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    case = build_case()
    out, _ = run(
        "--trust", str(case.trust.pk), "--period", case.period.key, "--inline",
        "--operation-id", "cli-1", "--out", str(tmp_path / "pdfs"),
    )  # fmt: skip
    assert "2 of 2 generated, 0 failed." in out
    assert "generating" in capsys.readouterr().err  # tqdm's bar
    files = sorted(p.name for p in (tmp_path / "pdfs").iterdir())
    assert len(files) == 2 and all(name.endswith(".pdf") for name in files)
    assert any("MV-1" in name for name in files)
    # Run again with the same operation id: the same batch, nothing made twice.
    out, _ = run("--trust", str(case.trust.pk), "--period", case.period.key, "--inline",
                 "--operation-id", "cli-1")  # fmt: skip
    assert "2 of 2 generated" in out
    assert ReportBatch.objects.count() == 1 and Report.objects.count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trust", "999999", "--period", "2026-Q3"], "no trust with id 999999"),
        (["--trust", "{trust}", "--period", "2026-Q5"], "is not a period"),
        (["--trust", "{trust}", "--period", "2026-02-30..2026-03-01"], "not a valid period"),
        (["--trust", "{trust}", "--period", "2999-Q1"], "has not started"),
    ],
)
def test_bad_arguments_are_refused_and_write_nothing(args: list[str], message: str) -> None:
    case = build_case()
    args = [a.replace("{trust}", str(case.trust.pk)) for a in args]
    with pytest.raises(CommandError, match=message):
        run(*args, "--inline")
    assert not ReportBatch.objects.exists() and not Report.objects.exists()


def test_court_account_through_the_command() -> None:
    case = build_case()
    out, _ = run("--trust", str(case.trust.pk), "--period", case.period.key, "--inline",
                 "--kind", "court_account")  # fmt: skip
    assert "1 of 1 generated" in out
    assert Report.objects.get().kind == "court_account"
