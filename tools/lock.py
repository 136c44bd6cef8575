#!/usr/bin/env python3
"""The lock file of the runtime dependencies: ``requirements.lock``, pinned with hashes.

    python tools/lock.py            # regenerate it (`make lock`; needs uv and PyPI)
    python tools/lock.py --upgrade  # the same, moving every pin to the newest version allowed
    python tools/lock.py --check    # offline: does it still match pyproject.toml? (exit 1 if not)

The Docker image installs exactly this file (``pip install --require-hashes -r requirements.lock``), then the
package itself with ``--no-deps --no-build-isolation``, so two builds from the same commit install the same
bytes. The lock therefore holds ``[project].dependencies``, the extras in ``LOCKED_EXTRAS`` (``granian``: the
second server of ``flashsale serve --server granian`` must be in the image too) AND ``[build-system].requires``
(setuptools and wheel build the package inside the image), resolved by ``uv pip compile --generate-hashes``
for the image's interpreter: CPython 3.11 on x86_64 Linux.

Why a check of our own: neither uv nor pip-tools can tell offline whether a lock still matches its inputs
(both re-resolve against the index). The header stores a SHA-256 of the normalised inputs (every requirement
string, the Python version and platform), and the check also verifies, with ``packaging``, that each direct
requirement is pinned at a version its specifier accepts. Any edit of the dependency lists, even one that the
old pins still satisfy, asks for ``make lock``: the lock is the record of a resolution of exactly those inputs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
PYTHON_VERSION = "3.11"
PYTHON_PLATFORM = "x86_64-unknown-linux-gnu"
# The environment the image runs in, for requirement markers (sys_platform, python_version...).
TARGET_ENV = {"python_version": PYTHON_VERSION, "python_full_version": f"{PYTHON_VERSION}.10",
              "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
              "os_name": "posix", "implementation_name": "cpython", "platform_python_implementation": "CPython",
              "extra": ""}
DIGEST_PREFIX = "# inputs-sha256: "
# Optional dependency groups the image installs, so the lock must cover them (dev stays out: its tools are
# installed from the index, constrained by the lock: `make venv`).
LOCKED_EXTRAS = ("granian",)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")


def inputs(pyproject: Path = PYPROJECT) -> list[Requirement]:
    """The requirements the lock must cover: runtime dependencies, the locked extras, then the build backend's."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    extras = data["project"].get("optional-dependencies", {})
    missing = [e for e in LOCKED_EXTRAS if e not in extras]
    if missing:
        sys.exit(f"{pyproject.name} has no optional-dependencies {', '.join(missing)} (LOCKED_EXTRAS)")
    strings = (list(data["project"].get("dependencies", [])) + [r for e in LOCKED_EXTRAS for r in extras[e]]
               + list(data["build-system"].get("requires", [])))
    return [Requirement(s) for s in strings]


def digest(requirements: list[Requirement]) -> str:
    """SHA-256 of the normalised requirement strings (order-free) and the target interpreter."""
    lines = [*sorted(str(r) for r in requirements), f"python={PYTHON_VERSION}", f"platform={PYTHON_PLATFORM}"]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def pins(lock_text: str) -> dict[str, Version]:
    """Package (canonical name) -> pinned version, from a ``name==version \\`` hash-pinned lock."""
    found: dict[str, Version] = {}
    for line in lock_text.splitlines():
        match = PIN.match(line)
        if match:
            found[canonicalize_name(match[1])] = Version(match[3])
    return found


def problems(pyproject: Path = PYPROJECT, lock: Path = LOCK) -> list[str]:
    """Why the lock does not match pyproject.toml (empty when it does). No network."""
    if not lock.exists():
        return [f"{lock.name} is missing: run `make lock`"]
    text = lock.read_text(encoding="utf-8")
    requirements = inputs(pyproject)
    out: list[str] = []
    stored = [line[len(DIGEST_PREFIX):].strip() for line in text.splitlines() if line.startswith(DIGEST_PREFIX)]
    if stored != [digest(requirements)]:
        out.append(f"{lock.name} was generated from other dependencies than pyproject.toml lists now "
                   f"(inputs digest {stored or 'missing'} != {digest(requirements)}): run `make lock`")
    pinned = pins(text)
    for requirement in requirements:
        if requirement.marker is not None and not requirement.marker.evaluate(TARGET_ENV):
            continue
        name = canonicalize_name(requirement.name)
        if name not in pinned:
            out.append(f"{requirement} is not pinned in {lock.name}: run `make lock`")
        elif not requirement.specifier.contains(pinned[name], prereleases=True):
            out.append(f"{lock.name} pins {name}=={pinned[name]}, outside {requirement}: run `make lock`")
    unhashed = [n for n, block in _blocks(text) if "--hash=sha256:" not in block]
    if unhashed:
        out.append(f"{lock.name}: no hash for {', '.join(unhashed)}")
    return out


def _blocks(text: str) -> list[tuple[str, str]]:
    """(name, text of its entry) for each pinned package of the lock."""
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            out.append((canonicalize_name(match[1]), line))
        elif out and line.startswith(" "):
            out[-1] = (out[-1][0], out[-1][1] + "\n" + line)
    return out


def uv_binary() -> str:
    here = Path(sys.executable).parent / "uv"
    found = str(here) if here.exists() else shutil.which("uv")
    if not found:
        sys.exit("uv not found: `make lock` installs it into .venv (pip install uv)")
    return found


def generate(pyproject: Path = PYPROJECT, lock: Path = LOCK, upgrade: bool = False) -> None:
    """Resolve with uv and write the lock with its inputs digest in the header.

    uv reads the pins of an existing output file as preferences, so the current lock is handed to it as that
    file (a copy): a changed input moves only what it has to, not every package with a newer release.
    ``upgrade`` re-resolves everything to the newest versions allowed.
    """
    requirements = inputs(pyproject)
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    build = "\n".join(data["build-system"].get("requires", [])) + "\n"
    command = [uv_binary(), "pip", "compile", str(pyproject.name), "-", "--generate-hashes", "--quiet",
               "--python-version", PYTHON_VERSION, "--python-platform", PYTHON_PLATFORM,
               "--custom-compile-command", "make lock", "--no-header",
               *(a for e in LOCKED_EXTRAS for a in ("--extra", e)), *(["--upgrade"] if upgrade else [])]
    env = {**os.environ, "UV_NO_CONFIG": "1"}
    with tempfile.TemporaryDirectory() as scratch:
        previous = Path(scratch) / "requirements.lock"
        if lock.exists():
            shutil.copyfile(lock, previous)
        result = subprocess.run([*command, "--output-file", str(previous)], input=build, capture_output=True,
                                text=True, cwd=pyproject.parent, env=env, check=False)
        if result.returncode != 0:
            sys.exit(f"uv pip compile failed:\n{result.stderr}")
        resolved = previous.read_text(encoding="utf-8")
    header = (
        "# requirements.lock: every package the flashsale image installs, pinned with hashes.\n"
        "# Generated by `make lock` (tools/lock.py: uv pip compile --generate-hashes) from pyproject.toml's\n"
        f"# [project].dependencies, the extras {', '.join(LOCKED_EXTRAS)} and [build-system].requires, for CPython "
        f"{PYTHON_VERSION} on {PYTHON_PLATFORM}. Do not edit.\n"
        "# tests/test_lockfile.py fails when pyproject.toml no longer matches the digest below.\n"
        f"{DIGEST_PREFIX}{digest(requirements)}\n"
    )
    lock.write_text(header + resolved, encoding="utf-8")
    left = problems(pyproject, lock)
    if left:
        sys.exit("\n".join(left))
    print(f"{lock.relative_to(ROOT)}: {len(pins(resolved))} packages pinned with hashes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify only, offline")
    parser.add_argument("--upgrade", action="store_true", help="newest allowed versions, not the current pins")
    args = parser.parse_args()
    if args.check:
        found = problems()
        print("\n".join(found) if found else f"{LOCK.name} matches pyproject.toml")
        return 1 if found else 0
    generate(upgrade=args.upgrade)
    return 0


if __name__ == "__main__":
    sys.exit(main())
