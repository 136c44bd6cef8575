"""``make fuzz``: schemathesis's own CLI, with a deep budget, against a real server on a real Redis.

Starts a private redis-server, a private PostgreSQL (migrated with ``flashsale db upgrade``, so the reconcile
routes answer for real) and ``flashsale serve`` (demo mode on, so the unsafe route is fuzzed too) on free
loopback ports, seeds two sales the generated purchases can hit, mints a buyer token from that server's demo
issuer (schemathesis.toml sends it on the buyer routes, the admin token goes everywhere else), runs
``schemathesis run`` with every phase (examples, coverage, fuzzing, stateful) and every check, then stops both
servers by PID. Exits with
schemathesis's status: 0 only when it found nothing. CI runs the faster in-process budget of test_fuzz.py.

    python -m tests.deep_fuzz [--max-examples N] [--seed S] [--report-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from flashsale.local import LocalServer
from tests.postgres import PostgresProcess
from tests.servers import RedisProcess

SEED_SALES = ("demo", "fuzz")
CONFIG = Path(__file__).with_name("schemathesis.toml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=300)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--workers", default="1")
    parser.add_argument("--report-dir", default=str(Path(tempfile.gettempdir()) / "flashsale-fuzz"))
    args = parser.parse_args(argv)
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if cli is None:
        print("schemathesis not installed: `make venv` installs the dev extra", file=sys.stderr)
        return 2
    report_dir = Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    redis = RedisProcess("--appendonly", "no").start()
    postgres = PostgresProcess().start()
    env = {"FLASHSALE_DEMO": "true", "FLASHSALE_LOG_LEVEL": "INFO", "FLASHSALE_DATABASE_URL": postgres.url}
    server = LocalServer(redis.url, env=env)
    server_log = report_dir / "server.log"
    server_log.unlink(missing_ok=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "flashsale", "db", "upgrade"], env={**os.environ, **env}, check=True, timeout=120
        )
        server.start(log_path=str(server_log))
        auth = {"Authorization": f"Bearer {server.admin_token}"}
        for sale in SEED_SALES:
            httpx.post(
                f"{server.url}/admin/sales",
                headers=auth,
                timeout=5,
                json={"sale_id": sale, "name": sale, "stock": 1_000_000},
            ).raise_for_status()
        command = [
            cli,
            "--config-file",
            str(CONFIG),
            "run",
            f"{server.url}/schema/openapi.json",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--mode",
            "all",
            "--checks",
            "all",
            "--max-examples",
            str(args.max_examples),
            "--workers",
            args.workers,
            "-H",
            f"Authorization: Bearer {server.admin_token}",
            "--suppress-health-check",
            "all",
            "--request-timeout",
            "10",
            "--report",
            "junit",
            "--report-dir",
            str(report_dir),
        ]
        if args.seed is not None:
            command += ["--seed", str(args.seed)]
        print(
            "running:", " ".join(c if "Bearer" not in c else "Authorization: Bearer ***" for c in command), flush=True
        )
        tokens = {"NO_COLOR": "1", "FLASHSALE_FUZZ_BUYER_TOKEN": server.token("fuzz-buyer", ttl_s=24 * 3600)}
        status = subprocess.run(command, env={**os.environ, **tokens}, cwd=report_dir, check=False).returncode
    finally:
        server.stop()
        redis.cleanup()
        postgres.cleanup()
    tracebacks = server_log.read_text(errors="replace").count("Traceback") if server_log.exists() else -1
    print(f"server log: {server_log} ({tracebacks} tracebacks)")
    return status


if __name__ == "__main__":
    sys.exit(main())
