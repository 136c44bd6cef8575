#!/usr/bin/env python3
"""``make audit``: pip-audit of exactly what the image installs, and an honest answer when it could not audit.

    python tools/audit.py [--uv PATH] [--unreachable-ok]

The set audited is the image's: the ``uv export`` command of the Dockerfile (its runtime export, found there so
the two cannot drift) run on uv.lock. pip-audit reads it with ``--require-hashes --disable-pip``: every package is
pinned with its hashes, so it resolves nothing of its own (pip-audit calls ``--no-deps`` redundant then).

Why a wrapper: pip-audit answers "No known vulnerabilities found" and exits 0 when the vulnerability service
could not look a single package up: on a machine whose network lets ``pypi.org/simple`` through but not the
per-release JSON API, every one of the 50 runtime packages came back "Dependency not found on PyPI and could
not be audited" and pip-audit still exited 0. So this script reads pip-audit's JSON and decides:

- exit 0: every package was looked up; no known vulnerability, or only ones without a fixed release (printed);
- exit 1: a known vulnerability has a fixed release: upgrade (``make lock UPGRADE=1`` or a specifier), re-run;
- exit 3: NOT AUDITED: no service answered for every package (PyPI's JSON API first, then OSV). With
  ``--unreachable-ok`` (CI) it says so on one line and exits 0: a network outage must not fail a build, but it
  must not read as a clean audit either.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DEFAULT_UV = ROOT / ".tools" / "uv" / "bin" / "uv"
SERVICES = ("pypi", "osv")
"""PyPI's JSON API checks each hash as well; OSV only that one is present (pip-audit's warning), so it is second."""
NOT_AUDITED = 3


def image_export_command(dockerfile: str) -> list[str]:
    """The Dockerfile's ``uv export`` of the runtime set (the one with ``--no-dev``), as arguments."""
    joined = dockerfile.replace("\\\n", " ")
    for line in joined.splitlines():
        if not line.strip().startswith("RUN"):
            continue
        for step in re.split(r"&&|;", line.strip()[3:]):
            words = shlex.split(step)
            if words[:2] == ["uv", "export"] and "--no-dev" in words:
                return words
    raise SystemExit("Dockerfile: no `uv export ... --no-dev` step (the image's runtime set) found")


def export_image_set(uv: Path, out: Path, dockerfile: Path = DOCKERFILE, project: Path = ROOT) -> Path:
    """Run the Dockerfile's export on ``project``'s uv.lock, writing the hashed requirements to ``out``."""
    words = image_export_command(dockerfile.read_text(encoding="utf-8"))
    args: list[str] = []
    skip = False
    for word in words[1:]:
        if skip:
            skip = False
            continue
        if word in ("-o", "--output-file"):
            skip = True
            continue
        if not word.startswith("--output-file="):
            args.append(word)
    subprocess.run(
        [str(uv), *args, "--quiet", "--output-file", str(out)],
        cwd=project,
        check=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("UV_")}, "UV_NO_CONFIG": "1"},
    )
    return out


def names(requirements: str) -> dict[str, str]:
    """Package name -> pinned version, from a ``name==version ... \\`` hashed requirements file."""
    found: dict[str, str] = {}
    for line in requirements.splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


@dataclass
class Verdict:
    audited: int = 0
    skipped: list[str] = field(default_factory=list)
    fixable: list[str] = field(default_factory=list)
    unfixable: list[str] = field(default_factory=list)


def verdict(report: dict[str, Any]) -> Verdict:
    """What pip-audit's JSON report says, package by package (a skipped one counts as not audited)."""
    out = Verdict()
    for dep in report.get("dependencies", []):
        if dep.get("skip_reason"):
            out.skipped.append(f"{dep['name']}: {dep['skip_reason']}")
            continue
        out.audited += 1
        for vuln in dep.get("vulns", []):
            ids = ", ".join([vuln["id"], *vuln.get("aliases", [])])
            if vuln.get("fix_versions"):
                fixed = ", ".join(vuln["fix_versions"])
                out.fixable.append(f"{dep['name']} {dep['version']}: {ids} (fixed in {fixed})")
            else:
                out.unfixable.append(f"{dep['name']} {dep['version']}: {ids} (no fixed release yet)")
    return out


def pip_audit(requirements: Path, service: str) -> tuple[dict[str, Any] | None, str]:
    """One pip-audit run; the parsed JSON report, or None and why there is none."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip_audit",
                "--requirement",
                str(requirements),
                "--require-hashes",
                "--disable-pip",
                "--vulnerability-service",
                service,
                "--format",
                "json",
                "--output",
                str(report),
                "--progress-spinner",
                "off",
                "--timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if report.exists() and report.stat().st_size:
            return json.loads(report.read_text(encoding="utf-8")), ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return None, (lines[-1] if lines else f"pip-audit exited {result.returncode}")


def judge(found: Verdict, service: str) -> tuple[int, list[str]]:
    """Exit status and what to print for one service's report: ``NOT_AUDITED`` unless it looked every package up
    (pip-audit leaves out the lines whose markers exclude this interpreter: async-timeout, Python < 3.11.3)."""
    total = found.audited + len(found.skipped)
    if found.skipped or not total:
        first = f" ({found.skipped[0]})" if found.skipped else ""
        return NOT_AUDITED, [f"{service}: {len(found.skipped)} of {total} packages not looked up{first}"]
    lines = [f"audit: known, no fix yet: {line}" for line in found.unfixable]
    lines += [f"audit: VULNERABLE, fix available: {line}" for line in found.fixable]
    if found.fixable:
        failed = f"audit: FAILED: {len(found.fixable)} fixable vulnerabilities in the image's {total} packages"
        return 1, [*lines, failed]
    return 0, [
        *lines,
        f"audit: OK: the image's {total} locked packages checked against {service}, "
        f"{len(found.unfixable)} known vulnerabilities without a fix",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--uv", type=Path, default=DEFAULT_UV, help="the pinned uv (make installs it)")
    parser.add_argument("--unreachable-ok", action="store_true", help="exit 0 when no service answered (CI)")
    args = parser.parse_args(argv)
    why_not: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        requirements = export_image_set(args.uv, Path(scratch) / "image-requirements.txt")
        for service in SERVICES:
            report, error = pip_audit(requirements, service)
            if report is None:
                why_not.append(f"{service}: {error}")
                continue
            status, lines = judge(verdict(report), service)
            if status == NOT_AUDITED:
                why_not += lines
                continue
            print("\n".join(lines))
            return status
    print("audit: NOT AUDITED: no vulnerability service answered for every package; " + "; ".join(why_not))
    if args.unreachable_ok:
        print("audit: not failing the build for it (--unreachable-ok); run `make audit` where the service answers")
        return 0
    return NOT_AUDITED


if __name__ == "__main__":
    sys.exit(main())
