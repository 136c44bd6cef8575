"""Issue 24: outside demo mode and laptop runs, a start without what production needs stops with exit status 2 and
one line naming the variable, before a Redis starts or a port is bound; every deployment sets what it needs.

The rules live in one place (security.PRODUCTION_RULES, applied by check_production); `serve --embedded` is
in tests/test_serve.py, the image's own environment in tests/test_supply_chain.py.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flashsale.app import create_app
from flashsale.embedded import free_port
from flashsale.security import PRODUCTION_RULES, check_production
from flashsale.settings import PREFIX, Settings, SettingsError

ROOT = Path(__file__).resolve().parent.parent
STRONG = "fail-closed-" + "a1b2c3d4" * 4


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    return {**env, "TMPDIR": str(tmp_path), **extra}


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


IDP = {"oidc_issuer": "https://idp.example", "oidc_audience": "urn:flashsale:api"}
KEY = {"admission_key": "k3y-" + "a1b2c3d4e5f6g7h8" * 2}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_without_redis_url_stops_before_anything_listens(tmp_path: Path, workers: str) -> None:
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "flashsale", "serve"],
        env=clean_env(tmp_path, FLASHSALE_PORT=str(port), FLASHSALE_WORKERS=workers, FLASHSALE_ADMIN_TOKEN=STRONG),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # no "serving" line, no uvicorn line: it stopped before them
    assert lines[0].startswith("flashsale: FLASHSALE_REDIS_URL is not set"), lines
    assert "--embedded" in lines[0]  # says how a laptop gets its private Redis
    assert result.stdout == ""
    assert not listening(port)
    assert not list(tmp_path.glob("flashsale-redis-*")), "no embedded Redis was started"


def test_the_rules_name_real_variables_in_one_line() -> None:
    names = {PREFIX + f.upper() for f in Settings.__struct_fields__}
    assert [r.variable for r in PRODUCTION_RULES][:2] == ["FLASHSALE_REDIS_URL", "FLASHSALE_ADMIN_TOKEN"]
    for rule in PRODUCTION_RULES:
        assert rule.variable in names, rule.variable
        assert "\n" not in rule.why


@pytest.mark.parametrize(
    ("settings", "refused"),
    [
        (Settings(), "FLASHSALE_REDIS_URL"),
        (Settings(admin_token=STRONG), "FLASHSALE_REDIS_URL"),
        (Settings(redis_url="redis://127.0.0.1:1/0"), "FLASHSALE_ADMIN_TOKEN"),
        (Settings(redis_url="redis://127.0.0.1:1/0", admin_token="changeme"), "FLASHSALE_ADMIN_TOKEN"),
        (Settings(embedded=True), "FLASHSALE_ADMIN_TOKEN"),  # a laptop still needs a strong token
        (Settings(redis_url="redis://127.0.0.1:1/0", admin_token=STRONG), "FLASHSALE_OIDC_ISSUER"),
        (Settings(redis_url="redis://127.0.0.1:1/0", admin_token=STRONG, **IDP), "FLASHSALE_ADMISSION_KEY"),
        (Settings(redis_url="redis://127.0.0.1:1/0", admin_token=STRONG, **IDP, **KEY), None),
        (Settings(redis_url="redis://127.0.0.1:1/0", admin_enabled=False, **IDP, **KEY), None),
        (
            Settings(redis_url="redis://127.0.0.1:1/0", admin_token=STRONG, oidc_issuer="http://idp.example"),
            "FLASHSALE_OIDC_AUDIENCE",
        ),
        (
            Settings(
                redis_url="redis://127.0.0.1:1/0", admin_token=STRONG, **{**IDP, "oidc_issuer": "http://idp.example"}
            ),
            "FLASHSALE_OIDC_ISSUER",
        ),
        (Settings(demo=True, oidc_algorithms="RS256,HS256"), "FLASHSALE_OIDC_ALGORITHMS"),
        (Settings(embedded=True, admin_token=STRONG), "FLASHSALE_ADMISSION_KEY"),
        (Settings(embedded=True, admin_token=STRONG, **KEY), None),
        (Settings(demo=True), None),
    ],
)
def test_check_production(settings: Settings, refused: str | None) -> None:
    if refused is None:
        check_production(settings)
        return
    with pytest.raises(SettingsError) as caught:
        check_production(settings)
    assert str(caught.value).startswith(f"{refused} "), caught.value


def test_create_app_refuses_too() -> None:
    """Each worker checks again: an app factory called by another server (granian, a test) is held to the rules."""
    with pytest.raises(SettingsError, match=r"^FLASHSALE_REDIS_URL "):
        create_app(Settings(admin_token=STRONG))


# --- what the deployments set -----------------------------------------------------------------------------


def test_compose_gives_every_flashsale_container_its_redis_url() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    ours = {name: s for name, s in compose["services"].items() if s.get("image") == "flashsale:local"}
    assert set(ours) >= {"api", "exporter"}
    for name, service in ours.items():
        env = service["environment"]
        assert env["FLASHSALE_REDIS_URL"] == "redis://redis:6379/0", name
        assert "FLASHSALE_EMBEDDED" not in env, name
        assert "--embedded" not in " ".join(service.get("command", [])), name
    assert ours["api"]["environment"]["FLASHSALE_DEMO"] == "${FLASHSALE_DEMO:-false}"


def test_terraform_user_data_writes_the_redis_url_for_the_container() -> None:
    template = (ROOT / "terraform" / "modules" / "app" / "templates" / "user_data.sh.tftpl").read_text()
    env_file = re.search(r"\{\n(.*?)\n\} > \"\$tmp\"\nmv -f \"\$tmp\" /run/flashsale/env", template, re.S)
    assert env_file, "the boot script assembles /run/flashsale/env"
    assert "printf 'FLASHSALE_REDIS_URL=rediss://" in env_file[1]
    api = template.split("ExecStart=/usr/bin/docker run --rm --name flashsale ", 1)[1].split("\n\n", 1)[0]
    assert "--env-file /run/flashsale/env" in api
    everything = "\n".join(p.read_text() for p in (ROOT / "terraform").rglob("*") if p.suffix in (".tf", ".tftpl"))
    assert "FLASHSALE_EMBEDDED=" not in everything and "--embedded" not in everything
    variables = (ROOT / "terraform" / "modules" / "app" / "variables.tf").read_text()
    assert '["FLASHSALE_DEMO", "FLASHSALE_EMBEDDED"]' in variables  # refused in extra_environment


def test_the_image_never_asks_for_a_laptop_run() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["flashsale", "serve"]' in text
    assert "FLASHSALE_EMBEDDED" not in text and "FLASHSALE_DEMO" not in text and "--embedded" not in text
