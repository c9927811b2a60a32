"""Scratch databases for one benchmark run; the user's own database is never opened.

SQLite (no ``DATABASE_URL``): a fresh file ``var/bench/bench.sqlite3``. PostgreSQL: a database named
``<dbname>_bench`` on the same server, dropped and created again through the ``postgres``
maintenance database. Both are left in place after the run for inspection and replaced by the next.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

REPO_DIR = Path(__file__).resolve().parent.parent
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}


def var_dir() -> Path:
    """The same ``var/`` folder the settings use (``TRUST_VAR_DIR`` or ``var/`` in the checkout)."""
    return Path(os.environ.get("TRUST_VAR_DIR", REPO_DIR / "var"))


def bench_dir() -> Path:
    path = var_dir() / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class ServerUrl:
    """A PostgreSQL ``DATABASE_URL`` taken apart: the server, and the user's database on it."""

    url: str

    @property
    def dbname(self) -> str:
        name = urlsplit(self.url).path.lstrip("/")
        if not name:
            raise SystemExit("DATABASE_URL names no database")
        return name

    def with_dbname(self, dbname: str) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path="/" + dbname))

    def maintenance_conninfo(self) -> str:
        # libpq reads the URL itself; only the database is replaced.
        return make_conninfo(self.url, dbname="postgres")

    def params(self) -> dict[str, str]:
        """host, port, user, password as libpq reads them (for pgbench's command line)."""
        return {k: str(v) for k, v in conninfo_to_dict(self.url).items() if v is not None}

    def redacted(self, dbname: str | None = None) -> str:
        parts = urlsplit(self.with_dbname(dbname) if dbname else self.url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            if ":" in userinfo:
                userinfo = userinfo.split(":", 1)[0] + ":***"
            netloc = f"{userinfo}@{host}"
        return urlunsplit(parts._replace(netloc=netloc))


def is_postgres_url(url: str) -> bool:
    return urlsplit(url).scheme in POSTGRES_SCHEMES


def recreate_postgres_database(server: ServerUrl, dbname: str) -> None:
    """Drop ``dbname`` (closing any session on it) and create it empty."""
    if dbname == server.dbname:  # belt and braces: never the user's database
        raise SystemExit(f"refusing to recreate the configured database {dbname!r}")
    with psycopg.connect(server.maintenance_conninfo(), autocommit=True) as conn:
        ident = sql.Identifier(dbname)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))


def drop_postgres_database(server: ServerUrl, dbname: str) -> None:
    if dbname == server.dbname:
        raise SystemExit(f"refusing to drop the configured database {dbname!r}")
    with psycopg.connect(server.maintenance_conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )


def fresh_sqlite_file() -> Path:
    """Delete ``var/bench/bench.sqlite3`` and its WAL and shared-memory files; return its path."""
    path = bench_dir() / "bench.sqlite3"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


@dataclass(frozen=True)
class Scratch:
    """Where this run writes: the URL handed to Django, and a description safe to print."""

    backend: str  # "sqlite" or "postgresql"
    url: str
    shown: str
    server: ServerUrl | None = None


def prepare_scratch(user_url: str | None) -> Scratch:
    """Create the empty scratch database for this run (not yet migrated)."""
    if not user_url:
        path = fresh_sqlite_file()
        return Scratch(backend="sqlite", url=f"sqlite:///{path}", shown=str(path))
    if not is_postgres_url(user_url):
        raise SystemExit(f"benchmarks run on SQLite or PostgreSQL, not {urlsplit(user_url).scheme}")
    server = ServerUrl(user_url)
    name = f"{server.dbname}_bench"
    recreate_postgres_database(server, name)
    return Scratch(
        backend="postgresql",
        url=server.with_dbname(name),
        shown=server.redacted(name),
        server=server,
    )
