"""``python -m load.run CAMPAIGN [--host URL]``: one locust campaign, headless and bounded, with its reports.

Without ``--host`` it starts its own stack on loopback: an embedded Redis and the API (``LocalServer`` with
FLASHSALE_DEMO=true), stopped afterwards. With ``--host`` it loads that server instead, which must be a
loopback address unless ``--allow-remote`` is given; FLASHSALE_ADMIN_TOKEN must then hold the server's
admin token, since every campaign creates its own sales, and the buyers need tokens that server accepts:
FLASHSALE_DEMO_ISSUER_KEY (a demo server's issuer key file, on this machine) or LOAD_BUYER_TOKENS (a file of
``<buyer>\\t<token>`` lines from the server's identity provider). With a key file (its own stack's, or the
given one) it mints one token per simulated buyer before locust starts, into a private temporary file it hands
locust as LOAD_BUYER_TOKENS and deletes afterwards.

Every run is bounded: at most MAX_USERS users and MAX_RUN_TIME_S seconds, and the locust process is killed
if it overruns its run time by more than a minute.

Reports (git-ignored) in load/reports/: CAMPAIGN.html, CAMPAIGN_stats.csv (and _failures, _exceptions,
_stats_history), CAMPAIGN.json (the verdict: end checks, SLOs, outcomes) and server-CAMPAIGN.log.
Exit code: 0 passed, 1 an end check or an SLO failed, 2 the run could not be set up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from load.buyers import LOAD_BUYERS_ENV, mint_file
from load.checks import refuse_target

LOAD_DIR = Path(__file__).resolve().parent
ROOT = LOAD_DIR.parent
REPORTS = LOAD_DIR / "reports"
MAX_USERS = 2000
MAX_RUN_TIME_S = 600
OVERRUN_GRACE_S = 60


@dataclass(frozen=True)
class Spec:
    locustfile: str
    users: int
    run_time_s: int
    spawn_rate: float | None = None
    """Users started per second (None: all within a second; ignored by campaigns with a load shape)."""
    buyers_per_user: int = 1
    """Buyer accounts (tokens) each user signs in as: the campaign's ``Campaign.buyers_per_user``."""


CAMPAIGNS: dict[str, Spec] = {
    "rush": Spec("rush.py", users=300, run_time_s=20),
    "steady": Spec("steady.py", users=50, run_time_s=30, spawn_rate=10, buyers_per_user=3),
    "soldout-storm": Spec("soldout_storm.py", users=200, run_time_s=20),
    "unsafe-vs-safe": Spec("unsafe_vs_safe.py", users=200, run_time_s=15),
    "checkout": Spec("checkout.py", users=100, run_time_s=20),
    "queue": Spec("queue.py", users=300, run_time_s=25),
    "sizes": Spec("sizes.py", users=600, run_time_s=20),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m load.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("campaign", choices=sorted(CAMPAIGNS))
    p.add_argument("--host", help="target API base URL (default: start an embedded Redis and API)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host that is not a loopback address (only a server you own)",
    )
    p.add_argument("--users", type=int, help="peak users (default: the campaign's)")
    p.add_argument("--run-time", type=int, help="seconds (default: the campaign's)")
    p.add_argument("--stock", type=int, help="units of the campaign's main sale (default: the campaign's)")
    p.add_argument("--slo-p99-ms", type=float, help="override the campaign's p99 threshold")
    p.add_argument("--slo-error-ratio", type=float, help="override the campaign's error-ratio threshold")
    p.add_argument("--workers", type=int, default=1, help="API worker processes of the local stack")
    p.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn", help="ASGI server, local stack")
    p.add_argument("--reports", type=Path, default=REPORTS, help="report folder (default: load/reports)")
    args = p.parse_args(argv)
    spec = CAMPAIGNS[args.campaign]
    args.users = args.users or spec.users
    args.run_time = args.run_time or spec.run_time_s
    if not 1 <= args.users <= MAX_USERS:
        p.error(f"--users must be within 1..{MAX_USERS}")
    if not 5 <= args.run_time <= MAX_RUN_TIME_S:
        p.error(f"--run-time must be within 5..{MAX_RUN_TIME_S} seconds")
    if args.host:
        refused = refuse_target(args.host, args.allow_remote)
        if refused:
            p.error(refused)
        if not os.environ.get("FLASHSALE_ADMIN_TOKEN"):
            p.error("with --host, set FLASHSALE_ADMIN_TOKEN to the target's admin token (campaigns create sales)")
        if not (os.environ.get("FLASHSALE_DEMO_ISSUER_KEY") or os.environ.get("LOAD_BUYER_TOKENS")):
            p.error(
                "with --host, set FLASHSALE_DEMO_ISSUER_KEY to the target's demo issuer key file, or "
                "LOAD_BUYER_TOKENS to a file of '<buyer>\\t<token>' lines (buyers sign in with tokens)"
            )
    return args


def locust_command(args: argparse.Namespace, host: str) -> list[str]:
    spec = CAMPAIGNS[args.campaign]
    prefix = args.reports / args.campaign
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOAD_DIR / spec.locustfile),
        "--config",
        str(LOAD_DIR / "locust.conf"),
        "--headless",
        "--only-summary",
        "--host",
        host,
        "--users",
        str(args.users),
        "--spawn-rate",
        str(spec.spawn_rate or args.users),
        "--run-time",
        f"{args.run_time}s",
        "--csv",
        str(prefix),
        "--csv-full-history",
        "--html",
        f"{prefix}.html",
        "--report-json",
        f"{prefix}.json",
    ]
    for flag, value in (
        ("--stock", args.stock),
        ("--slo-p99-ms", args.slo_p99_ms),
        ("--slo-error-ratio", args.slo_error_ratio),
    ):
        if value is not None:
            command += [flag, str(value)]
    if args.allow_remote:
        command.append("--allow-remote")
    return command


def run_locust(
    args: argparse.Namespace,
    host: str,
    admin_token: str,
    issuer_key: str | None = None,
    redis_url: str | None = None,
) -> int:
    """Run the campaign's locust. Its buyers' tokens: minted with ``issuer_key`` (the demo issuer key file of
    the server under test; default the caller's FLASHSALE_DEMO_ISSUER_KEY), else the caller's
    LOAD_BUYER_TOKENS file. ``redis_url``: the local stack's Redis, for campaigns that check their answers
    against the ledger (LOAD_LEDGER_REDIS_URL; the sizes campaign)."""
    args.reports.mkdir(parents=True, exist_ok=True)
    verdict = args.reports / f"{args.campaign}.json"
    verdict.unlink(missing_ok=True)
    env = {
        **os.environ,
        "FLASHSALE_ADMIN_TOKEN": admin_token,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    if redis_url:
        env["LOAD_LEDGER_REDIS_URL"] = redis_url
    issuer_key = issuer_key or os.environ.get("FLASHSALE_DEMO_ISSUER_KEY")
    with tempfile.TemporaryDirectory(prefix="flashsale-load-") as private:
        if issuer_key:
            tokens = Path(private) / "buyers.tsv"
            count = args.users * CAMPAIGNS[args.campaign].buyers_per_user
            try:
                mint_file(tokens, issuer_key, count, f"{args.campaign}-{uuid.uuid4().hex[:6]}")
            except FileNotFoundError as exc:
                print(f"load.run: {exc}", file=sys.stderr)
                return 2
            env[LOAD_BUYERS_ENV] = str(tokens)
        return _locust(args, host, env, verdict)


def _locust(args: argparse.Namespace, host: str, env: dict[str, str], verdict: Path) -> int:
    command = locust_command(args, host)
    print(f"load.run: {args.campaign} against {host}: {args.users} users, {args.run_time} s", flush=True)
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        code = process.wait(timeout=args.run_time + OVERRUN_GRACE_S)
    except subprocess.TimeoutExpired:
        print(f"load.run: locust overran its {args.run_time} s run time; killing it", file=sys.stderr)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return 2
    except KeyboardInterrupt:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
        raise
    if verdict.exists():
        report = json.loads(verdict.read_text())
        print(
            f"load.run: {args.campaign} {'PASSED' if report['passed'] else 'FAILED'} (exit {code}); reports: "
            f"{args.reports / args.campaign}.html, {args.reports / args.campaign}_stats.csv, {verdict}"
        )
    else:
        print(f"load.run: {args.campaign} wrote no verdict (exit {code})", file=sys.stderr)
        code = code or 2
    return code


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.host:
        return run_locust(args, args.host, os.environ["FLASHSALE_ADMIN_TOKEN"])
    from flashsale.embedded import EmbeddedRedis
    from flashsale.local import LocalServer

    args.reports.mkdir(parents=True, exist_ok=True)
    with EmbeddedRedis() as redis:
        server = LocalServer(
            redis.url,
            # Every locust user comes from this host: no per-address join limit (it would refuse the load itself).
            env={"FLASHSALE_DEMO": "true", "FLASHSALE_LOG_LEVEL": "WARNING", "FLASHSALE_JOIN_RATE_PER_ADDRESS": "0"},
            workers=args.workers,
            server=args.server,
        )
        server.start(log_path=str(args.reports / f"server-{args.campaign}.log"))
        try:
            return run_locust(args, server.url, server.admin_token, server.env["FLASHSALE_DEMO_ISSUER_KEY"], redis.url)
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
