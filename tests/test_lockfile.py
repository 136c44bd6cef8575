"""requirements.lock (issue 14, item 8): the image installs hash-pinned dependencies that match pyproject.toml.

No network: tools/lock.py --check compares the lock's stored inputs digest with pyproject.toml and checks each
direct requirement against its pin with ``packaging``. Regenerate with ``make lock``.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lock() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_tool", ROOT / "tools" / "lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lock_tool"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path]:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(ROOT / "requirements.lock", tmp_path / "requirements.lock")
    return tmp_path / "pyproject.toml", tmp_path / "requirements.lock"


def test_lock_matches_pyproject(lock: ModuleType) -> None:
    found = lock.problems()
    assert found == [], "\n".join(found)
    pinned = lock.pins((ROOT / "requirements.lock").read_text())
    for requirement in lock.inputs():
        if requirement.marker is None or requirement.marker.evaluate(lock.TARGET_ENV):
            version = pinned[lock.canonicalize_name(requirement.name)]
            assert requirement.specifier.contains(version, prereleases=True), (requirement, version)
    assert {"setuptools", "wheel"} <= set(pinned), "the build backend must be locked too (--no-build-isolation)"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_a_new_dependency_is_caught(lock: ModuleType, copies: tuple[Path, Path]) -> None:
    pyproject, lockfile = copies
    edit(pyproject, "dependencies = [\n", 'dependencies = [\n  "psycopg[binary]>=3.2",\n')
    found = "\n".join(lock.problems(pyproject, lockfile))
    assert "inputs digest" in found
    assert "psycopg[binary]>=3.2 is not pinned" in found


def test_a_pin_outside_the_specifier_is_caught(lock: ModuleType, copies: tuple[Path, Path]) -> None:
    pyproject, lockfile = copies
    pinned = lock.pins(lockfile.read_text())["msgspec"]
    edit(pyproject, '"msgspec>=0.18"', f'"msgspec>{pinned}"')
    found = "\n".join(lock.problems(pyproject, lockfile))
    assert f"pins msgspec=={pinned}, outside msgspec>{pinned}" in found


def test_a_removed_dependency_leaves_a_stale_lock(lock: ModuleType, copies: tuple[Path, Path]) -> None:
    pyproject, lockfile = copies
    edit(pyproject, '  "structlog>=24.1",\n', "")
    found = lock.problems(pyproject, lockfile)
    assert len(found) == 1 and "inputs digest" in found[0], found


def test_an_unhashed_or_missing_lock_is_caught(lock: ModuleType, copies: tuple[Path, Path]) -> None:
    pyproject, lockfile = copies
    text = lockfile.read_text()
    lockfile.write_text(re.sub(r"(litestar==\S+) \\\n(    --hash=sha256:\w+( \\)?\n)+", r"\1\n", text, count=1))
    assert any("no hash for litestar" in p for p in lock.problems(pyproject, lockfile))
    lockfile.unlink()
    assert lock.problems(pyproject, lockfile) == ["requirements.lock is missing: run `make lock`"]


def test_the_image_installs_from_the_lock() -> None:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    runs = [line for line in text.splitlines() if line.strip().startswith("RUN") and "pip install" in line]
    assert any("--require-hashes" in r and "-r requirements.lock" in r for r in runs), runs
    package = [r for r in runs if "requirements.lock" not in r]
    assert package and all("--no-deps" in r and "--no-build-isolation" in r for r in package), package
    assert "COPY requirements.lock" in text
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lock:", makefile, re.M) and "tools/lock.py" in makefile
