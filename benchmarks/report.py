"""Rows of the benchmark table, printed as plain text and written as JSON."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MET, MISSED, NO_TARGET = "met", "missed", "-"


@dataclass
class Row:
    """One measured operation.

    ``size`` is the number of postings already in the ledger when the row ran. ``rate`` is per
    second of wall time; read rows also carry the median and p99 latency of a single call.
    ``share`` is ``rate`` as a fraction of pgbench's tps with ``share_of`` clients (PostgreSQL).
    """

    key: str
    operation: str
    backend: str
    size: int
    count: int
    seconds: float
    rate: float
    unit: str
    median_us: float | None = None
    p99_us: float | None = None
    target: str = ""
    share: float | None = None
    share_of: str | None = None
    verdict: str = NO_TARGET
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _int(value: float) -> str:
    return f"{round(value):,}"


def _rate(row: Row) -> str:
    if row.rate >= 100:
        return f"{_int(row.rate)} {row.unit}"
    return f"{row.rate:,.1f} {row.unit}"


def _us(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:,.0f} ms"
    if value >= 1000:
        return f"{value / 1000:,.1f} ms"
    return f"{value:,.0f} µs"


def _latency(row: Row) -> str:
    if row.median_us is None or row.p99_us is None:
        return ""
    return f"{_us(row.median_us)} / {_us(row.p99_us)}"


def _share(row: Row) -> str:
    if row.share is None:
        return ""
    return f"{row.share * 100:.0f}% of {row.share_of}"


def format_table(rows: list[Row], with_share: bool) -> str:
    headers = ["#", "operation", "backend", "size", "count", "time", "rate", "median / p99"]
    headers += ["target"]
    if with_share:
        headers.append("share of pgbench")
    headers.append("verdict")
    lines: list[list[str]] = []
    for number, row in enumerate(rows, start=1):
        cells = [
            str(number),
            row.operation,
            row.backend,
            "-" if row.unit == "tx/s" else _int(row.size),
            _int(row.count),
            f"{row.seconds:,.2f} s",
            _rate(row),
            _latency(row),
            row.target,
        ]
        if with_share:
            cells.append(_share(row))
        cells.append(row.verdict)
        lines.append(cells)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    right = {"#", "size", "count", "time", "rate", "median / p99"}

    def render(cells: list[str]) -> str:
        out = [
            cell.rjust(width) if header in right else cell.ljust(width)
            for cell, width, header in zip(cells, widths, headers, strict=True)
        ]
        return "  ".join(out).rstrip()

    text = [render(headers), render(["-" * w for w in widths])]
    text += [render(line) for line in lines]
    notes = [(n, row.note) for n, row in enumerate(rows, start=1) if row.note]
    if notes:
        text.append("")
        text += [f"{n:>2}. {note}" for n, note in notes]
    return "\n".join(text)


def markdown_table(rows: list[Row], with_share: bool) -> str:
    """The rows as the Markdown table of docs/benchmarks.md (missed verdicts in bold)."""
    headers = ["#", "Operation", "Size", "Count", "Time", "Rate", "Median / p99", "Target"]
    headers += ["Share of pgbench"] if with_share else []
    headers.append("Verdict")
    aligns = ["---", "---", "---:", "---:", "---:", "---:", "---:", "---"]
    aligns += ["---"] if with_share else []
    aligns.append("---")
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(aligns) + " |"]
    for number, row in enumerate(rows, start=1):
        target = row.target.replace(">=", "≥").replace("<=", "≤")
        cells = [
            str(number),
            row.operation,
            "\u2013" if row.unit == "tx/s" else _int(row.size),  # an en dash
            _int(row.count),
            f"{row.seconds:,.2f} s",
            _rate(row),
            _latency(row),
            target,
        ]
        if with_share:
            cells.append(_share(row))
        cells.append(
            f"**{row.verdict}**"
            if row.verdict == MISSED
            else ("" if row.verdict == NO_TARGET else row.verdict)
        )
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def read_json(path: Path) -> tuple[dict[str, Any], list[Row]]:
    payload = json.loads(path.read_text(encoding="utf-8"))
    return payload["meta"], [Row(**row) for row in payload["rows"]]


def write_json(path: Path, meta: dict[str, Any], rows: list[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "rows": [asdict(row) for row in rows]}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.report PATH``: a results JSON as the Markdown table of the docs."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(
            "usage: python -m benchmarks.report var/bench/results-<backend>.json", file=sys.stderr
        )
        return 2
    meta, rows = read_json(Path(args[0]))
    print(markdown_table(rows, with_share=any(row.share is not None for row in rows)))
    notes = [(n, row.note) for n, row in enumerate(rows, start=1) if row.note]
    print()
    for n, note in notes:
        print(f"{n}. {note}")
    print(
        f"\nload average {meta['load_average']['start']} at the start, {meta['load_average']['end']} at the end"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
