"""``python -m benchmarks [--quick] [--json PATH] [--seconds N]``: see docs/benchmarks.md.

Runs on a scratch database (``var/bench/bench.sqlite3``, or ``<dbname>_bench`` on the PostgreSQL
server of ``DATABASE_URL``), never on the database the application uses.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.runner import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Ledger benchmarks on a scratch database; prints a table and writes JSON.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes and 2 s per timed row: the whole run in a minute or two (CI smoke)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="where to write the results (default var/bench/results-<backend>.json)",
    )
    parser.add_argument(
        "--seconds",
        type=int,
        metavar="N",
        help="seconds per timed row and per pgbench run (default 10, or 2 with --quick)",
    )
    parser.add_argument(
        "--only",
        choices=["all", "posting", "reports", "pages", "api", "bank"],
        default="all",
        help="posting, reports, pages or api: only the pgbench ceiling, the two ledgers and the"
        " posting rows (1 writer on both ledgers, 8 writers, bulk; issue 22), the report rows"
        " (issue 6), the page rows (issue 19) or the API rows (issue 20)",
    )
    args = parser.parse_args(argv)
    if args.seconds is not None and args.seconds < 1:
        parser.error("--seconds must be at least 1")
    return run(quick=args.quick, seconds=args.seconds, json_path=args.json, only=args.only)


if __name__ == "__main__":
    raise SystemExit(main())
