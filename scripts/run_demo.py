#!/usr/bin/env python
"""Serve the demo: a real Celery worker (with beat) beside Django's server, until Ctrl-C.

The worker uses whatever broker is configured: with nothing set, kombu's filesystem transport under
var/, so the demo needs no server besides this one.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    if not port_free(args.host, args.port):
        print(
            f"Port {args.port} on {args.host} is in use: stop what runs there, or PORT=8001 make demo"
        )
        return 1

    from trust.demo_logins import DEMO_LOGINS

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    python = sys.executable
    worker = subprocess.Popen(
        [python, "-m", "celery", "-A", "config", "worker", "-B", "-P", "solo", "-l", "WARNING"],
        cwd=REPO,
        env=env,
    )
    web = subprocess.Popen(
        [python, "manage.py", "runserver", f"{args.host}:{args.port}", "--noreload"],
        cwd=REPO,
        env=env,
    )
    time.sleep(1.5)
    print("\n" + "=" * 72)
    print(f"  Restitution Trust Ledger demo: http://{args.host}:{args.port}/")
    print("  Logins (fictitious, demo only):")
    for username, password, role, _ in DEMO_LOGINS:
        print(f"    {role:<11} {username:<11} / {password}")
    print("  A Celery worker with beat runs beside it. Ctrl-C stops both.")
    print("=" * 72 + "\n", flush=True)

    def stop(*_: object) -> None:
        for process in (web, worker):
            if process.poll() is None:
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while web.poll() is None and worker.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for process in (web, worker):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
