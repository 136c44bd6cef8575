"""The import layers of pyproject.toml's [tool.importlinter] hold: the suite fails on an import that crosses
them, as ``make lint`` does. Also that the checker does report a broken contract, so a green run means something."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECK = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"


def lint_imports(cwd: Path, *path: Path) -> subprocess.CompletedProcess[str]:
    env_path = ":".join(str(p) for p in path)
    return subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_the_contracts_are_kept() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert {c["id"] for c in contracts} >= {"layers", "api-layers", "served-code", "acyclic"}
    run = lint_imports(ROOT, ROOT / "service")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"Contracts: {len(contracts)} kept, 0 broken." in run.stdout, run.stdout


def test_an_import_from_a_lower_layer_up_is_reported(tmp_path: Path) -> None:
    package = tmp_path / "layered"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "high.py").write_text("from layered import low\n")
    (package / "low.py").write_text("from layered import high\n")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.importlinter]\nroot_package = "layered"\n\n'
        '[[tool.importlinter.contracts]]\nname = "high over low"\ntype = "layers"\n'
        'containers = ["layered"]\nlayers = ["high", "low"]\n'
    )
    run = lint_imports(tmp_path, tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "high over low BROKEN" in run.stdout, run.stdout
    assert "layered.low -> layered.high" in run.stdout, run.stdout
