"""The ``flashsale`` command (issue 18): one-line errors without tracebacks, ranges, help that shows defaults and
variables, ``--version``, scheduled sales from ``create-sale``, and an unsafe attack that refuses a target
without the demo route. Both through click's CliRunner and as the installed console script in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from flashsale import __version__
from flashsale.cli import cli
from flashsale.embedded import free_port
from flashsale.local import LocalServer
from tests.conftest import start_api
from tests.idp import OidcProvider
from tests.servers import RedisProcess

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "flashsale"
STATE_HOME = tempfile.mkdtemp(prefix="flashsale-cli-state-")
"""XDG_STATE_HOME of the commands run here: a demo issuer key they make lands in it, not in the user's home."""


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any FLASHSALE_* variable of the caller, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASHSALE_")}
    env["PYTHONPATH"] = str(ROOT / "service")
    env["XDG_STATE_HOME"] = STATE_HOME
    return {**env, **extra}


def production_api(redis_url: str, idp: OidcProvider) -> LocalServer:
    """A server outside demo mode: buyers verified by the suite's OpenID provider (no demo route, no demo issuer)."""
    return start_api(
        redis_url,
        FLASHSALE_DEMO="false",
        FLASHSALE_OIDC_ISSUER=idp.issuer,
        FLASHSALE_OIDC_AUDIENCE=idp.audience,
        FLASHSALE_OIDC_ALLOW_HTTP="true",  # the provider listens on loopback without TLS
    )


def script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``flashsale`` console script, as a user does."""
    assert SCRIPT.exists(), f"{SCRIPT} missing: the package is not installed in this venv"
    return subprocess.run(
        [str(SCRIPT), *args], env=clean_env(**env), capture_output=True, text=True, timeout=120, check=False
    )


def one_line_error(stderr: str) -> str:
    """The single line a failing command prints; no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["attack", "--buyers", "0"], "'--buyers'"),
        (["attack", "--buyers", "100000"], "'--buyers'"),
        (["attack", "--stock", "-1"], "'--stock'"),
        (["attack", "--url", "localhost:8000"], "'--url'"),
        (["serve", "--port", "0"], "'--port'"),
        (["serve", "--workers", "0"], "'--workers'"),
        (["create-sale", "Bad_Id", "--stock", "5"], "SALE_ID"),
        (["create-sale", "s1", "--stock", "5", "--hold-ttl", "0"], "'--hold-ttl'"),
        (["create-sale", "s1", "--stock", "5", "--opens-at", "2026-12-24T09:00:00"], "no UTC offset"),
        (["create-sale", "s1", "--stock", "5", "--opens-at", "tomorrow"], "not an RFC 3339 date-time"),
        (
            [
                "create-sale",
                "s1",
                "--stock",
                "5",
                "--opens-at",
                "2026-12-24T10:00:00Z",
                "--closes-at",
                "2026-12-24T09:00Z",
            ],
            "'--closes-at'",
        ),
    ],
)
def test_bad_values_are_one_line_usage_errors(args: list[str], names: str) -> None:
    result = CliRunner().invoke(cli, args, env={"FLASHSALE_PORT": None, "FLASHSALE_REDIS_URL": None})
    assert result.exit_code == 2, result.output
    line = one_line_error(result.stderr)
    assert names in line
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_port_zero_names_the_option_not_the_variable() -> None:
    typed = CliRunner().invoke(cli, ["serve", "--port", "0"], env={"FLASHSALE_PORT": None})
    assert "FLASHSALE_PORT" not in typed.stderr
    from_env = CliRunner().invoke(cli, ["serve"], env={"FLASHSALE_PORT": "0"})
    assert from_env.exit_code == 2
    assert "'--port' (from FLASHSALE_PORT)" in one_line_error(from_env.stderr)


@pytest.mark.parametrize(
    ("command", "variables"),
    [
        ("serve", ["FLASHSALE_HOST", "FLASHSALE_PORT", "FLASHSALE_WORKERS"]),
        ("attack", ["FLASHSALE_ADMIN_TOKEN"]),
        ("create-sale", ["FLASHSALE_REDIS_URL"]),
    ],
)
def test_help_shows_defaults_and_variables_without_backticks(command: str, variables: list[str]) -> None:
    result = CliRunner().invoke(cli, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "`" not in result.output
    assert "default:" in result.output
    flat = " ".join(result.output.split())  # help wraps at the terminal width
    for name in variables:
        assert f"env var: {name}" in flat
    top = CliRunner().invoke(cli, ["--help"])
    assert "`" not in top.output
    assert "--version" in top.output


def test_help_states_the_ranges() -> None:
    out = " ".join(CliRunner().invoke(cli, ["attack", "--help"]).output.split())
    assert "default: 500; 1<=x<=25000" in out
    out = " ".join(CliRunner().invoke(cli, ["serve", "--help"]).output.split())
    assert "default: 8000; 1<=x<=65535" in out


def test_version_is_the_package_version() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert __version__ == declared
    assert script("--version").stdout.strip() == f"flashsale {declared}"
    runner = CliRunner().invoke(cli, ["--version"])
    assert runner.exit_code == 0
    assert runner.output.strip() == f"flashsale {declared}"


@pytest.mark.parametrize(
    ("args"), [["attack", "--buyers", "0"], ["attack", "--buyers", "100000"], ["serve", "--port", "0"]]
)
def test_installed_script_refuses_bad_values_in_one_line(args: list[str]) -> None:
    r = script(*args)
    assert r.returncode == 2
    assert args[1] in one_line_error(r.stderr)


def test_python_dash_m_runs_the_same_command() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "flashsale", "serve", "--port", "0"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2
    assert "'--port'" in one_line_error(r.stderr)


def test_create_sale_with_redis_down_is_one_line() -> None:
    port = free_port()  # loopback, nothing listening
    r = script("create-sale", "down", "--stock", "5", FLASHSALE_REDIS_URL=f"redis://127.0.0.1:{port}/0")
    assert r.returncode == 1
    line = one_line_error(r.stderr)
    assert f"Redis at redis://127.0.0.1:{port}/0 unavailable" in line


def test_create_sale_without_redis_url_is_a_usage_error() -> None:
    r = script("create-sale", "nourl", "--stock", "5")
    assert r.returncode == 2
    assert "FLASHSALE_REDIS_URL" in one_line_error(r.stderr)


def test_attack_on_an_unreachable_url_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    r = script("attack", "--url", url, "--path", "safe", "--buyers", "5", FLASHSALE_ADMIN_TOKEN="t" * 40)
    assert r.returncode == 1
    assert f"cannot connect to {url}" in one_line_error(r.stderr)
    assert r.stdout == ""


def test_attack_with_url_and_no_token_is_a_usage_error() -> None:
    r = script("attack", "--url", "http://127.0.0.1:1", "--path", "safe")
    assert r.returncode == 2
    assert "FLASHSALE_ADMIN_TOKEN" in one_line_error(r.stderr)


def test_create_sale_schedules_opens_and_closes(redis_server: RedisProcess) -> None:
    sale = f"cli-{uuid.uuid4().hex[:8]}"
    opens, closes = "2030-01-02T03:04:05+01:00", "2030-01-03T00:00:00Z"
    r = script(
        "create-sale",
        sale,
        "--stock",
        "7",
        "--opens-at",
        opens,
        "--closes-at",
        closes,
        FLASHSALE_REDIS_URL=redis_server.url,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "created"
    stored = redis.Redis.from_url(redis_server.url, decode_responses=True).hgetall(f"fs:{{{sale}}}:sale")
    assert int(stored["opens_ms"]) == int(datetime(2030, 1, 2, 2, 4, 5, tzinfo=UTC).timestamp() * 1000)
    assert int(stored["closes_ms"]) == int(datetime(2030, 1, 3, tzinfo=UTC).timestamp() * 1000)
    again = script("create-sale", sale, "--stock", "7", FLASHSALE_REDIS_URL=redis_server.url)
    assert again.returncode == 1
    assert "exists already" in one_line_error(again.stderr)


@pytest.mark.parametrize("path", ["unsafe", "both"])
def test_unsafe_attack_on_a_server_without_the_demo_route_says_so(
    redis_server: RedisProcess, oidc_provider: OidcProvider, path: str
) -> None:
    server = production_api(redis_server.url, oidc_provider)
    try:
        r = script(
            "attack",
            "--url",
            server.url,
            "--path",
            path,
            "--buyers",
            "20",
            "--stock",
            "5",
            FLASHSALE_ADMIN_TOKEN=server.admin_token,
        )
    finally:
        server.stop()
    assert r.returncode == 1
    assert "unsafe demo route" in one_line_error(r.stderr)
    assert "FLASHSALE_DEMO=true" in r.stderr
    assert "invariants hold" not in r.stdout


def test_attack_with_a_wrong_token_is_one_line(redis_server: RedisProcess, oidc_provider: OidcProvider) -> None:
    server = production_api(redis_server.url, oidc_provider)
    try:
        r = script("attack", "--url", server.url, "--path", "safe", "--buyers", "5", FLASHSALE_ADMIN_TOKEN="w" * 40)
    finally:
        server.stop()
    assert r.returncode == 1
    assert "HTTP 401" in one_line_error(r.stderr)
