"""Offline checks of the AWS Terraform code under terraform/ (issue 6).

The heavy lifting is terraform/tf-test.sh, which `make tf-test` runs as well:

* ``tf-test.sh terraform``: fmt -check, offline init + validate of every module and the example, and
  ``terraform test`` against ``mock_provider "aws"``. Skipped (with the reason) only when terraform is
  not on PATH or the offline provider mirror (TF_PLUGIN_DIR, default /opt/tf-plugins) is missing; the script
  itself fails instead of skipping under CI=true.
* ``tf-test.sh checkov``: checkov over terraform/ and the Dockerfile, in its own virtualenv. Skipped only
  when that virtualenv cannot be created (the script exits 77).

The other tests need no tool at all (HCL conventions, no credentials) or only shellcheck.
Nothing here talks to AWS: the script unsets AWS credentials and every provider is mocked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TF = ROOT / "terraform"
SCRIPT = TF / "tf-test.sh"
TF_DIRS = [
    "modules/network",
    "modules/alb",
    "modules/app",
    "modules/redis",
    "modules/postgres",
    "modules/alerting",
    "modules/identity",
    "environments/example",
]
CHECKOV_UNAVAILABLE = 77
USER_DATA = TF / "modules" / "app" / "templates" / "user_data.sh.tftpl"


def run_script(*args: str, timeout: int, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=ROOT,
        env=env if env is not None else os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tf_files() -> list[Path]:
    return sorted(p for p in TF.rglob("*.tf") if ".terraform" not in p.parts and ".venv-checkov" not in p.parts)


def blocks(text: str, kind: str) -> dict[str, str]:
    """Bodies of the top-level `kind "name" { ... }` blocks, braces matched outside strings."""
    found: dict[str, str] = {}
    for match in re.finditer(rf'^{kind}\s+"([^"]+)"\s*\{{', text, re.MULTILINE):
        depth, i, in_string = 1, match.end(), False
        while depth and i < len(text):
            ch = text[i]
            if in_string:
                if ch == "\\":
                    i += 1
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "#":
                i = text.find("\n", i)
                if i < 0:
                    break
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            i += 1
        found[match.group(1)] = text[match.end() : i - 1]
    return found


# ---------------------------------------------------------------------------------------------------------
# terraform: fmt, offline init + validate, terraform test (mock_provider "aws")
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_terraform_fmt_validate_and_mocked_tests() -> None:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH: fmt/validate/test of terraform/ not run")
    plugin_dir = Path(os.environ.get("TF_PLUGIN_DIR", "/opt/tf-plugins"))
    if not plugin_dir.is_dir():
        pytest.skip(
            f"offline provider mirror {plugin_dir} is missing (set TF_PLUGIN_DIR); init would need the registry"
        )

    result = run_script("terraform", timeout=840)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "tf-test: OK" in result.stdout, output
    assert "PASS  fmt -check -recursive" in result.stdout, output
    assert "PASS  environments/example/terraform.tfvars.example: passes validation and plans" in result.stdout, output
    for tf_dir in TF_DIRS:
        line = next((x for x in result.stdout.splitlines() if x.strip().startswith(f"PASS  {tf_dir}:")), None)
        assert line is not None, f"{tf_dir} did not pass:\n{output}"
        counts = re.search(r"\((\d+) passed, (\d+) failed\)", line)
        assert counts is not None, f"{tf_dir} ran no terraform test:\n{output}"
        assert int(counts.group(1)) >= 5 and counts.group(2) == "0", line


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_checkov_has_no_failed_checks() -> None:
    result = run_script("checkov", timeout=840)
    output = result.stdout + result.stderr
    if result.returncode == CHECKOV_UNAVAILABLE:
        pytest.skip(f"checkov's virtualenv could not be created:\n{output[-2000:]}")
    assert result.returncode == 0, output
    assert "PASS  checkov terraform/" in result.stdout, output
    assert re.search(r"checkov terraform: passed \d+, failed 0, skipped \d+", result.stdout), output
    # Every skip carries its reason next to the resource.
    for line in result.stdout.splitlines():
        if line.strip().startswith("skipped "):
            assert re.search(r"skipped CKV2?_[A-Z]+_\d+ on \S+: \S.{15,}", line), f"skip without a reason: {line}"
    if (ROOT / "Dockerfile").is_file():
        assert "PASS  checkov Dockerfile" in result.stdout, output


def env_without_terraform(tmp_path: Path) -> dict[str, str]:
    """A PATH holding just what the script needs before it looks for terraform."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("bash", "dirname", "date"):
        found = shutil.which(name)
        assert found, name
        (bin_dir / name).symlink_to(found)
    return {"PATH": str(bin_dir), "HOME": str(tmp_path)}


def test_script_skips_cleanly_without_terraform(tmp_path: Path) -> None:
    result = run_script(timeout=60, env=env_without_terraform(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("SKIP: terraform is not on PATH"), result.stdout


def test_script_fails_without_terraform_in_ci(tmp_path: Path) -> None:
    """Issue 24: under CI=true a machine without terraform fails the checks instead of passing them unrun."""
    result = run_script(timeout=60, env={**env_without_terraform(tmp_path), "CI": "true"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "SKIP" not in result.stdout
    assert result.stderr.startswith("FAIL: terraform is not on PATH and CI=true"), result.stderr


def test_script_rejects_unknown_mode() -> None:
    result = run_script("everything", timeout=60)
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_shell_scripts_are_shellcheck_clean(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed")
    # The user data template, rendered with sample values (template syntax replaced by hand).
    text = USER_DATA.read_text()
    text = re.sub(r"%\{[^}]*\}\n?", "", text)
    text = text.replace("$${", "${")
    text = re.sub(r"(?<!\$)\$\{([a-z_.]+)\}", lambda m: "sample_" + m.group(1).replace(".", "_"), text)
    rendered = tmp_path / "user_data.sh"
    rendered.write_text(text)
    # The scripts the boot script installs, each from a quoted heredoc, are checked on their own.
    scripts = []
    for marker, name in (("FETCH", "flashsale-env"), ("WATCHDOG", "flashsale-watchdog")):
        body = re.search(rf"<<'{marker}'\n(.*?)\n{marker}\n", text, re.DOTALL)
        assert body, f"the boot script must write {name} from a quoted heredoc"
        script = tmp_path / f"{name}.sh"
        script.write_text(body.group(1) + "\n")
        scripts.append(str(script))

    result = subprocess.run(
        [shellcheck, str(SCRIPT), str(rendered), *scripts],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------------------
# Conventions that need no tool
# ---------------------------------------------------------------------------------------------------------


def test_modules_have_the_expected_layout() -> None:
    for tf_dir in TF_DIRS:
        path = TF / tf_dir
        for name in ("versions.tf", "variables.tf", "main.tf", "outputs.tf", "README.md"):
            assert (path / name).is_file(), f"{tf_dir}/{name} is missing"
        assert list((path / "tests").glob("*.tftest.hcl")), f"{tf_dir} has no terraform test"
        assert 'mock_provider "aws"' in "".join(p.read_text() for p in (path / "tests").glob("*.tftest.hcl"))
    assert (TF / "environments" / "example" / "terraform.tfvars.example").is_file()
    assert (TF / "README.md").is_file()


def test_every_variable_has_type_description_and_validation() -> None:
    checked = 0
    for path in tf_files():
        for name, body in blocks(path.read_text(), "variable").items():
            where = f"{path.relative_to(TF)}: variable {name}"
            assert re.search(r"^\s*type\s*=", body, re.MULTILINE), f"{where} has no type"
            assert re.search(r'^\s*description\s*=\s*"\S', body, re.MULTILINE), f"{where} has no description"
            type_ = re.search(r"^\s*type\s*=\s*(.+)$", body, re.MULTILINE)
            assert type_ is not None
            # Booleans and free-form tag maps cannot hold a wrong value; everything else is validated.
            if type_.group(1).strip() not in ("bool", "map(string)") or name == "extra_environment":
                assert "validation {" in body, f"{where} ({type_.group(1).strip()}) has no validation"
            checked += 1
    assert checked > 80, checked


def test_readmes_list_every_input_and_output() -> None:
    for tf_dir in TF_DIRS:
        path = TF / tf_dir
        readme = (path / "README.md").read_text()
        for kind, file_name in (("variable", "variables.tf"), ("output", "outputs.tf")):
            for name in blocks((path / file_name).read_text(), kind):
                assert f"| `{name}` |" in readme, f"{tf_dir}/README.md does not document {kind} {name}"


def test_every_expect_failures_run_names_an_input() -> None:
    runs = 0
    for test_file in TF.rglob("*.tftest.hcl"):
        for name, body in blocks(test_file.read_text(), "run").items():
            if "expect_failures" in body:
                runs += 1
                assert re.search(r"expect_failures\s*=\s*\[var\.", body), f"{test_file.name}: run {name}"
                assert "command = plan" in body, f"{test_file.name}: run {name} should only plan"
    assert runs >= 30, runs


def test_no_credentials_in_the_terraform_tree() -> None:
    patterns = [
        re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # access key IDs
        re.compile(r"(?i)aws_secret_access_key\s*[=:]\s*\S"),  # a value, not the name being unset
        re.compile(r'(?i)\b(access|secret)_key\s*=\s*"'),  # provider "aws" { access_key = "..." }
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    ]
    files = [p for p in TF.rglob("*") if p.is_file() and not {".terraform", ".venv-checkov"} & set(p.parts)]
    assert files
    for path in files:
        if path.suffix not in {".tf", ".hcl", ".tftpl", ".sh", ".md", ".example"}:
            continue
        text = path.read_text()
        for pattern in patterns:
            assert not pattern.search(text), f"{path.relative_to(ROOT)} matches {pattern.pattern}"


def test_user_data_never_carries_a_token() -> None:
    text = USER_DATA.read_text()
    variables = set(re.findall(r"(?<!\$)\$\{([a-z_]+)\}", text))
    # Only addresses of secrets reach the template, never their values.
    assert {"redis_auth_token_secret_arn", "admin_token_secret_arn"} <= variables
    assert not {v for v in variables if "token" in v and not v.endswith("_secret_arn")}, variables
    assert "secretsmanager get-secret-value" in text
    assert "FLASHSALE_REDIS_URL=rediss://" in text  # TLS to ElastiCache
    # The database password comes from the RDS-managed secret on the instance, never from Terraform.
    dotted = set(re.findall(r"(?<!\$)\$\{([a-z_]+\.[a-z_]+)\}", text))
    assert "database.master_user_secret_arn" in dotted, dotted
    assert not {v for v in dotted if "password" in v}, dotted
    assert "FLASHSALE_DATABASE_URL=postgresql://%s@" in text  # user:password filled in from the secret at boot


def test_fleet_is_replaced_on_liveness_never_on_readiness() -> None:
    """Issue 14: a Redis failover fails /health/ready everywhere; that must route, never replace."""
    asg = (TF / "modules" / "app" / "asg.tf").read_text()
    types = re.findall(r"^\s*health_check_type\s*=\s*(\S+)", asg, re.MULTILINE)
    assert types == ['"EC2"'], types
    text = USER_DATA.read_text()
    assert "/health/live" in text and "/health/ready" not in text, "the on-instance watchdog must probe liveness"
