"""What a year of minute checkpoints costs the audit trail's verification (issue 22 follow-up).

A checkpoint is signed every minute when events were sealed since the last one, so a year holds
up to 525,600 of them. This builds a scratch PostgreSQL database with a year's worth (or a
fraction: ``--scale``), then times ``verify_audit``, ``verify_audit --deep``, the nightly run, the
export and the standalone verifier, the audit page's checkpoint status and the per-minute
checkpoint itself, each in its own process under ``/usr/bin/time -v`` (seconds, peak RSS).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trustledger_audityear \\
    TRUST_EMBEDDED_KEYS=1 TRUST_VAR_DIR=$(mktemp -d) \\
        python -m benchmarks.audit_year run --scale 0.1 [--json PATH]

Only a database named ``*_audityear`` is ever dropped or created. Sub-commands (``build``,
``real``, ``page``, ``nightly``, ``consistency``) are the steps ``run`` starts; ``drop`` drops the
scratch database.

How the checkpoints are made. ``audit_checkpoint_if_grown`` (the beat task) per minute would take
hours for 525,600 of them, and would stamp them all with today's date (one witness folder of
525,600 heads instead of 365 of 1,440). ``build`` does what one call of it does, in a loop, with
the same functions: events are written by ``audit_record_many`` (``benchmarks.cases.audit_fill``)
and sealed by ``audit_seal_pending``; then, for minute i of the year, the frontier grows by the
events of that minute (``frontier_append(leaf_hash(data))``), the statement is
``tree_head_statement(size, root, signed_at)`` signed by ``signing_key()``, the row holds the same
columns and frontier as ``_sign`` writes, and ``witness_write`` stores the head. Only
``signed_at`` differs from a live run: one minute apart over the year that ends now. ``real``
then times the real function (2 new events per call) on top of that year.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

REPO_DIR = Path(__file__).resolve().parent.parent
MINUTES_A_YEAR = 525_600
EVENTS_A_YEAR = 1_100_000
BATCH = 5_000


def _django() -> None:
    sys.path.insert(0, str(REPO_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _dbname() -> str:
    url = os.environ.get("DATABASE_URL", "")
    name = urlsplit(url).path.lstrip("/")
    if urlsplit(url).scheme not in {"postgres", "postgresql"} or not name.endswith("_audityear"):
        raise SystemExit("DATABASE_URL must name a PostgreSQL database called *_audityear")
    return name


def _server_args() -> list[str]:
    parts = urlsplit(os.environ["DATABASE_URL"])
    args = ["-h", parts.hostname or "127.0.0.1", "-U", parts.username or "postgres"]
    if parts.port:
        args += ["-p", str(parts.port)]
    return args


# --- build --------------------------------------------------------------------------------------


def minute_sizes(events: int, minutes: int, seed: int = 22) -> list[int]:
    """The log's size at each of ``minutes`` checkpoints: every minute has at least one new event
    (a checkpoint is signed only when the log grew), ``events`` in all, the rest spread at random."""
    if events < minutes:
        raise SystemExit("fewer events than checkpoints: some minute would sign nothing")
    extra = [0] * minutes
    rng = random.Random(seed)
    for _ in range(events - minutes):
        extra[rng.randrange(minutes)] += 1
    sizes, size = [], 0
    for more in extra:
        size += 1 + more
        sizes.append(size)
    return sizes


def cmd_build(args: argparse.Namespace) -> dict:
    _django()
    from django.db import connection, transaction
    from django.utils import timezone

    from benchmarks.cases import audit_fill, audit_seal_timed
    from trust.audit.keys import public_key_bytes, signing_key, tree_head_statement
    from trust.audit.merkle import frontier_append, frontier_root, leaf_hash
    from trust.audit.models import AuditCheckpoint
    from trust.audit.witness import witness_write

    out: dict = {"events": args.events, "checkpoints": args.checkpoints}
    out["fill_s"] = audit_fill(args.events)
    sealed, out["seal_s"] = audit_seal_timed()
    out["sealed"] = sealed

    sizes = minute_sizes(args.events, args.checkpoints)
    key, public_key = signing_key(), public_key_bytes()
    end = timezone.now().replace(microsecond=0) - timedelta(minutes=10)
    start_at = end - timedelta(minutes=len(sizes))
    rng = random.Random(5)
    frontier: list = []
    size = 0
    pending: list = []
    started = time.perf_counter()
    signing = witnessing = inserting = 0.0

    def flush() -> None:
        nonlocal inserting, witnessing
        t0 = time.perf_counter()
        with transaction.atomic():
            AuditCheckpoint.objects.bulk_create(pending)
        t1 = time.perf_counter()
        for checkpoint in pending:
            witness_write(checkpoint)
        inserting += t1 - t0
        witnessing += time.perf_counter() - t1
        pending.clear()

    minute = 0
    with connection.cursor() as cursor:
        while minute < len(sizes):
            cursor.execute(
                "SELECT sealed, data FROM trust_audit_event WHERE sealed > %s"
                " ORDER BY sealed LIMIT 50000",
                [size],
            )
            rows = cursor.fetchall()
            if not rows:
                raise SystemExit(f"the log ends at {size}, the checkpoints want {sizes[-1]}")
            for position, data in rows:
                frontier_append(frontier, leaf_hash(bytes(data)))
                size = position
                while minute < len(sizes) and sizes[minute] == size:
                    t0 = time.perf_counter()
                    root = frontier_root(frontier)
                    signed_at = start_at + timedelta(minutes=minute, seconds=rng.randrange(1, 20))
                    statement = tree_head_statement(size, root, signed_at)
                    pending.append(
                        AuditCheckpoint(
                            size=size,
                            root=root,
                            signed_at=signed_at,
                            statement=statement,
                            signature=key.sign(statement),
                            public_key=public_key,
                            frontier=[[h, node.hex()] for h, node in frontier],
                        )
                    )
                    signing += time.perf_counter() - t0
                    minute += 1
                    if len(pending) >= BATCH:
                        flush()
    if pending:
        flush()
    out["checkpoints_build_s"] = time.perf_counter() - started
    out["sign_s"], out["insert_s"], out["witness_write_s"] = signing, inserting, witnessing
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        # What autovacuum does to a live database; a bulk load has no statistics until then.
        cursor.execute("VACUUM (ANALYZE) trust_audit_event")
        cursor.execute("VACUUM (ANALYZE) trust_audit_checkpoint")
        cursor.execute(
            "SELECT pg_total_relation_size('trust_audit_event'),"
            " pg_total_relation_size('trust_audit_checkpoint')"
        )
        out["event_table_mb"], out["checkpoint_table_mb"] = (
            round(b / 2**20) for b in cursor.fetchone()
        )
    out["vacuum_s"] = time.perf_counter() - t0
    return out


# --- the real per-minute checkpoint ----------------------------------------------------------------


def cmd_real(args: argparse.Namespace) -> dict:
    """``audit_checkpoint_if_grown`` (the beat task's function) ``count`` times, 2 new events
    before each: seconds per call."""
    _django()
    from django.db import transaction

    from trust.audit.checkpoints import audit_checkpoint_if_grown
    from trust.audit.events import AuditSpec, audit_record_many

    times = []
    for i in range(args.count):
        with transaction.atomic():
            audit_record_many(
                [
                    AuditSpec(action="bench.filler", object_type="bench", object_id=f"r{i}-{j}")
                    for j in range(2)
                ]
            )
        t0 = time.perf_counter()
        checkpoint = audit_checkpoint_if_grown()
        times.append(time.perf_counter() - t0)
        assert checkpoint is not None
    times.sort()
    return {
        "calls": len(times),
        "mean_ms": 1000 * statistics.fmean(times),
        "median_ms": 1000 * times[len(times) // 2],
        "p95_ms": 1000 * times[int(len(times) * 0.95)],
        "per_s": len(times) / sum(times),
    }


# --- the audit page ------------------------------------------------------------------------------


def cmd_page(args: argparse.Namespace) -> dict:
    """The audit page's checkpoint status (``checkpoint_status``: latest checkpoint, events not
    covered, latest witnessed head), timed part by part; best of ``repeat``."""
    _django()
    from django.db import connection
    from django.db.models import Q

    from trust.audit.models import AuditEvent
    from trust.audit.selectors import checkpoint_latest, checkpoint_status
    from trust.audit.witness import witness_latest

    def best(fn) -> float:
        runs = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - t0)
        return 1000 * min(runs)

    latest = checkpoint_latest()
    size = latest.size
    out = {
        "status_ms": best(checkpoint_status),
        "latest_checkpoint_ms": best(checkpoint_latest),
        "uncovered_count_ms": best(
            lambda: AuditEvent.objects.filter(Q(sealed__isnull=True) | Q(sealed__gt=size)).count()
        ),
        "witness_latest_ms": best(witness_latest),
    }
    plans = {}
    with connection.cursor() as cursor:
        queries = {
            "latest": str(type(latest).objects.order_by("-size", "-id")[:1].query),
            "uncovered": str(
                AuditEvent.objects.filter(Q(sealed__isnull=True) | Q(sealed__gt=size))
                .values("id")
                .query
            ),
        }
        for name, sql in queries.items():
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            plans[name] = [row[0] for row in cursor.fetchall()]
    out["plans"] = plans
    return out


# --- the nightly verification ----------------------------------------------------------------------


def cmd_nightly(args: argparse.Namespace) -> dict:
    _django()
    import uuid

    from trust.audit.runs import audit_verification_run

    t0 = time.perf_counter()
    run = audit_verification_run(operation_id=uuid.uuid4().hex)
    return {
        "s": time.perf_counter() - t0,
        "ok": run.ok,
        **run.summary,
        "problems": run.problems[:3],
    }


# --- orchestration -------------------------------------------------------------------------------


def timed(cmd: list[str], *, timeout: float | None = None, **kw) -> dict:
    """Run ``cmd`` under /usr/bin/time -v: wall seconds, peak RSS (MB), exit code, output tail."""
    full = ["/usr/bin/time", "-v", *cmd]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            full, cwd=REPO_DIR, capture_output=True, text=True, timeout=timeout, **kw
        )
    except subprocess.TimeoutExpired:
        return {"s": time.perf_counter() - t0, "timeout": True}
    wall = time.perf_counter() - t0
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    user = re.search(r"User time \(seconds\): ([\d.]+)", proc.stderr)
    return {
        "s": round(wall, 2),
        "user_s": float(user.group(1)) if user else None,
        "rss_mb": round(int(rss.group(1)) / 1024) if rss else None,
        "rc": proc.returncode,
        "stdout": proc.stdout.strip().splitlines()[-4:],
        "stderr": [line for line in proc.stderr.strip().splitlines() if not line.startswith("\t")][
            -4:
        ],
    }


def step(name: str, *extra: str, timeout: float | None = None) -> dict:
    """A sub-command of this module in its own process; its JSON result joined to the timing."""
    result = timed([sys.executable, "-m", "benchmarks.audit_year", name, *extra], timeout=timeout)
    lines = result.get("stdout") or []
    if lines:
        try:
            result["result"] = json.loads(lines[-1])
            del result["stdout"]
        except ValueError:
            pass
    return result


def manage(*argv: str, timeout: float | None = None) -> dict:
    return timed([sys.executable, "manage.py", *argv], timeout=timeout)


def cmd_drop(args: argparse.Namespace) -> dict:
    name = _dbname()
    subprocess.run(["dropdb", "--if-exists", *_server_args(), name], check=True)
    return {"dropped": name}


def cmd_consistency(args: argparse.Namespace) -> dict:
    """``verify_bundle.py consistency --kept`` with ``heads`` heads of the witness store copied to
    a folder (the documented use is the whole store: too slow to finish at a year's size)."""
    import shutil
    import tempfile

    store = Path(os.environ["TRUST_VAR_DIR"]) / "audit-witness"
    heads = sorted(store.rglob("*.json"))
    rng = random.Random(1)
    chosen = sorted(rng.sample(heads, min(args.heads, len(heads))))
    with tempfile.TemporaryDirectory() as tmp:
        for path in chosen:
            shutil.copy(path, Path(tmp) / path.name)
        result = timed(
            [
                sys.executable,
                str(REPO_DIR / "tools" / "verify_bundle.py"),
                "consistency",
                args.bundle,
                "--kept",
                tmp,
                "--trusted-key",
                args.key,
            ]
        )
    result["heads"] = len(chosen)
    result["store_heads"] = len(heads)
    return result


def cmd_run(args: argparse.Namespace) -> dict:
    name = _dbname()
    events = round(EVENTS_A_YEAR * args.scale)
    checkpoints = round(MINUTES_A_YEAR * args.scale)
    var = Path(os.environ["TRUST_VAR_DIR"])
    report: dict = {"scale": args.scale, "events": events, "checkpoints": checkpoints}

    def note(key: str, value: dict) -> None:
        report[key] = value
        print(f"{key}: {json.dumps(value, default=str)}", file=sys.stderr, flush=True)

    subprocess.run(["dropdb", "--if-exists", *_server_args(), name], check=True)
    subprocess.run(["createdb", *_server_args(), name], check=True)
    for folder in ("audit-witness", "audit-bundle"):
        subprocess.run(["rm", "-rf", str(var / folder)], check=True)
    note("migrate", manage("migrate", "--noinput", "-v0"))
    note("build", step("build", "--events", str(events), "--checkpoints", str(checkpoints)))
    note("verify_audit", manage("verify_audit"))
    note("verify_audit_deep", manage("verify_audit", "--deep"))
    note("nightly", step("nightly"))
    note("page", step("page"))
    bundle = var / "audit-bundle"
    note("export_audit", manage("export_audit", "--out", str(bundle)))
    key = json.loads((bundle / "keys.json").read_text())["current"]
    note(
        "verify_bundle",
        timed(
            [
                sys.executable,
                str(REPO_DIR / "tools" / "verify_bundle.py"),
                "verify",
                str(bundle),
                "--trusted-key",
                key,
            ]
        ),
    )
    for heads in args.kept:
        note(
            f"consistency_{heads}",
            step("consistency", str(bundle), "--key", key, "--heads", str(heads)),
        )
    note("real_checkpoint", step("real", "--count", str(args.real)))
    subprocess.run(["rm", "-rf", str(bundle)], check=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.audit_year", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="recreate the scratch database, build a year, time everything")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of a year (default 1)")
    p.add_argument("--real", type=int, default=300, help="real checkpoint calls at the end")
    p.add_argument(
        "--kept", type=int, nargs="*", default=[1, 10], help="kept heads for consistency"
    )
    p.add_argument("--json", help="write the results here")
    p = sub.add_parser("build")
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--checkpoints", type=int, required=True)
    p = sub.add_parser("real")
    p.add_argument("--count", type=int, default=300)
    p = sub.add_parser("page")
    p.add_argument("--repeat", type=int, default=5)
    sub.add_parser("nightly")
    p = sub.add_parser("consistency")
    p.add_argument("bundle")
    p.add_argument("--key", required=True)
    p.add_argument("--heads", type=int, default=10)
    sub.add_parser("drop")
    args = parser.parse_args(argv)
    command = {
        "run": cmd_run,
        "build": cmd_build,
        "real": cmd_real,
        "page": cmd_page,
        "nightly": cmd_nightly,
        "consistency": cmd_consistency,
        "drop": cmd_drop,
    }[args.command]
    _dbname()
    print(json.dumps(command(args), default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
