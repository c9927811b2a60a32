"""The ceiling: what this PostgreSQL server commits per second with pgbench's simple-update script.

``pgbench -N`` runs, per transaction, one UPDATE, one SELECT and one INSERT and commits: about the
smallest durable write transaction there is. A posting cannot commit faster than the server commits,
so the posting rows are read as a share of this figure, measured in the same run on the same server.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from benchmarks.scratch import ServerUrl, drop_postgres_database, recreate_postgres_database

PGBENCH_FALLBACK = "/usr/bin/pgbench"
_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)
_PROCESSED = re.compile(r"^number of transactions actually processed: ([0-9]+)", re.MULTILINE)


@dataclass(frozen=True)
class Ceiling:
    clients: int
    threads: int
    seconds: int
    tps: float
    transactions: int


class PgbenchError(RuntimeError):
    pass


def pgbench_path() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    return PGBENCH_FALLBACK if os.access(PGBENCH_FALLBACK, os.X_OK) else None


def _base_command(binary: str, server: ServerUrl) -> tuple[list[str], dict[str, str]]:
    params = server.params()
    command = [binary]
    for flag, key in (("-h", "host"), ("-p", "port"), ("-U", "user")):
        if params.get(key):
            command += [flag, params[key]]
    env = dict(os.environ)
    if params.get("password"):
        env["PGPASSWORD"] = params["password"]
    return command, env


def _run(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PgbenchError(f"{' '.join(command[:1] + command[-6:])} failed: {done.stderr.strip()}")
    return done.stdout


def measure_ceiling(
    binary: str,
    server: ServerUrl,
    seconds: int,
    configs: tuple[tuple[int, int], ...] = ((1, 1), (8, 2)),
    log: bool = True,
) -> list[Ceiling]:
    """``pgbench -n -N -c C -j J -T seconds`` for each (C, J) in ``configs``, on
    ``<dbname>_pgbench`` (recreated with ``pgbench -i -s 1``, dropped afterwards)."""
    dbname = f"{server.dbname}_pgbench"
    recreate_postgres_database(server, dbname)
    base, env = _base_command(binary, server)
    results: list[Ceiling] = []
    try:
        _run([*base, "-i", "-s", "1", "-q", dbname], env)
        for clients, threads in configs:
            command = ["-n", "-N", "-c", str(clients), "-j", str(threads), "-T", str(seconds)]
            if log:
                print(f"  pgbench {' '.join(command)} …", flush=True)
            out = _run([*base, *command, dbname], env)
            match = _TPS.search(out)
            if match is None:
                raise PgbenchError(f"no 'tps = ' line in pgbench output:\n{out}")
            tps = float(match.group(1))
            processed = _PROCESSED.search(out)
            transactions = int(processed.group(1)) if processed else round(tps * seconds)
            results.append(Ceiling(clients, threads, seconds, tps, transactions))
    finally:
        drop_postgres_database(server, dbname)
    return results
