#!/usr/bin/env bash
# Offline verification of the AWS Terraform code (no credentials, no AWS calls).
#
#   terraform/tf-test.sh [all|terraform|checkov]     (default: all)
#
#   terraform  fmt -check, offline init + validate of every module and the
#              example, `terraform test` (mocked AWS provider) where tests exist
#   checkov    static security scan of terraform/, ../Dockerfile (if present) and
#              ../deploy/idp/Dockerfile
#
# Environment:
#   TF_PLUGIN_DIR   offline provider mirror (default /opt/tf-plugins); when it is
#                   missing, `terraform init` uses the normal registry instead
#   SKIP_CHECKOV=1  skip the checkov step
#   CHECKOV_VENV    virtualenv of checkov (default terraform/.venv-checkov)
#   CHECKOV_VERSION version installed when the virtualenv has none
#   PYTHON          interpreter for that virtualenv (default python3.11, else python3)
#
# Exit status: 0 all green (or terraform absent outside CI: SKIP), 1 a check
# failed or terraform is absent with CI=true, 77 checkov could not be
# installed (nothing was scanned).
set -euo pipefail

readonly EXIT_CHECKOV_UNAVAILABLE=77

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${here}/.." && pwd)"
mode="${1:-all}"

case "${mode}" in
  all | terraform | checkov) ;;
  *)
    echo "usage: $0 [all|terraform|checkov]" >&2
    exit 2
    ;;
esac

# Directories with Terraform configurations, in dependency order.
tf_dirs=(
  modules/network
  modules/alb
  modules/app
  modules/redis
  modules/postgres
  modules/alerting
  modules/identity
  environments/example
)

example_tfvars="environments/example/terraform.tfvars.example"

summary=()
failed=0

log() { printf '==> %s\n' "$*"; }
record() { summary+=("$1"); }
fail() {
  record "FAIL  $1"
  failed=1
}

# Runs a command quietly; on failure prints its output and records the failure.
run_quiet() {
  local label="$1" out
  shift
  if out="$("$@" 2>&1)"; then
    return 0
  fi
  printf '%s\n' "${out}" >&2
  fail "${label}"
  return 1
}

start_time="$(date +%s)"

if ! command -v terraform >/dev/null 2>&1; then
  # In CI a missing tool is a broken machine, not a pass: the checks would silently not have run.
  if [[ "${CI:-}" == true ]]; then
    echo "FAIL: terraform is not on PATH and CI=true; the Terraform checks cannot run." >&2
    exit 1
  fi
  echo "SKIP: terraform is not on PATH; the Terraform checks were not run."
  exit 0
fi

tmp_dir="$(mktemp -d)"
trap 'rm -rf "${tmp_dir}"' EXIT

# Nothing here may reach AWS or HashiCorp: no credentials, no metadata
# service, no update check. The tests use mock_provider "aws".
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
export AWS_EC2_METADATA_DISABLED=true
export CHECKPOINT_DISABLE=1
export TF_IN_AUTOMATION=1
export TF_INPUT=0

# Init (offline), validate and `terraform test` of one directory. It runs as a background job, so it reports
# through files: summary lines to OUT.rec ("PASS  ..." or "FAIL  ..."), failure output to OUT.err.
check_dir() {
  local dir="$1" out="$2" test_out passed
  : >"${out}.rec"
  : >"${out}.err"
  if ! test_out="$(terraform -chdir="${here}/${dir}" init -backend=false -input=false -no-color 2>&1)"; then
    printf '%s\n' "${test_out}" >>"${out}.err"
    echo "FAIL  ${dir}: init" >>"${out}.rec"
    return 0
  fi
  if ! test_out="$(terraform -chdir="${here}/${dir}" validate -no-color 2>&1)"; then
    printf '%s\n' "${test_out}" >>"${out}.err"
    echo "FAIL  ${dir}: validate" >>"${out}.rec"
    return 0
  fi
  if ! compgen -G "${here}/${dir}/tests/*.tftest.hcl" >/dev/null; then
    echo "PASS  ${dir}: validate (no tests)" >>"${out}.rec"
    return 0
  fi
  if test_out="$(terraform -chdir="${here}/${dir}" test -no-color 2>&1)"; then
    passed="$(grep -Eo '[0-9]+ passed, [0-9]+ failed' <<<"${test_out}" | tail -n 1 || true)"
    echo "PASS  ${dir}: validate, test (${passed})" >>"${out}.rec"
  else
    printf '%s\n' "${test_out}" >>"${out}.err"
    echo "FAIL  ${dir}: test" >>"${out}.rec"
  fi
}

run_terraform_checks() {
  local plugin_dir="${TF_PLUGIN_DIR:-/opt/tf-plugins}"

  if [[ -d "${plugin_dir}" ]]; then
    # A filesystem mirror (instead of -plugin-dir) lets init symlink the
    # provider rather than copy 700 MB into every module directory.
    cat >"${tmp_dir}/terraformrc" <<EOF
provider_installation {
  filesystem_mirror {
    path = "${plugin_dir}"
  }
}
EOF
    export TF_CLI_CONFIG_FILE="${tmp_dir}/terraformrc"
    log "terraform $(terraform version | head -n 1 | awk '{print $2}'), providers from ${plugin_dir} (offline)"
  else
    log "WARNING: ${plugin_dir} not found; terraform init will use the registry"
  fi

  log "terraform fmt -check -recursive"
  if run_quiet "fmt -check" terraform -chdir="${here}" fmt -check -recursive -diff; then
    record "PASS  fmt -check -recursive"
  fi
  # fmt skips *.tfvars.example: check it through stdin.
  if run_quiet "fmt -check ${example_tfvars}" terraform fmt -check - <"${here}/${example_tfvars}"; then
    record "PASS  fmt -check ${example_tfvars}"
  fi

  # Each directory is checked in a job of its own, TF_TEST_JOBS (default 2) at a time: `terraform test`
  # is single-threaded, and the six directories took 415 s one after the other on these 2-core machines.
  # A job writes its summary lines to dir-<n>.rec and its failure output to dir-<n>.err, read here in order.
  local i jobs="${TF_TEST_JOBS:-2}" line
  for i in "${!tf_dirs[@]}"; do
    while (($(jobs -rp | wc -l) >= jobs)); do
      wait -n || true
    done
    log "${tf_dirs[$i]}: init (offline) + validate + terraform test (mock_provider \"aws\")"
    check_dir "${tf_dirs[$i]}" "${tmp_dir}/dir-${i}" &
  done
  wait || true
  for i in "${!tf_dirs[@]}"; do
    if [[ -s "${tmp_dir}/dir-${i}.err" ]]; then
      cat "${tmp_dir}/dir-${i}.err" >&2
    fi
    while IFS= read -r line; do
      if [[ "${line}" == FAIL* ]]; then
        fail "${line#FAIL  }"
      else
        record "${line}"
      fi
    done <"${tmp_dir}/dir-${i}.rec"
  done

  # The example variables file must pass every validation and plan (mocked).
  log "${example_tfvars}: plans against the mocked provider"
  if run_quiet "${example_tfvars}: plan" terraform -chdir="${here}/environments/example" test -no-color \
    -test-directory=tfvars-example-test -var-file=terraform.tfvars.example; then
    record "PASS  ${example_tfvars}: passes validation and plans"
  fi
}

ensure_checkov() {
  local venv="$1" python version
  if [[ -x "${venv}/bin/checkov" ]]; then
    return 0
  fi
  python="${PYTHON:-}"
  if [[ -z "${python}" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
  fi
  version="${CHECKOV_VERSION:-3.3.30}"
  log "installing checkov ${version} into ${venv} (once)"
  rm -rf "${venv}"
  "${python}" -m venv "${venv}" &&
    "${venv}/bin/pip" install --quiet --disable-pip-version-check "checkov==${version}"
}

# One checkov scan. The JSON report (stdout) is summarised: counts, every
# failed check with its location, every skip with its reason. Records
# PASS/FAIL under the given label.
checkov_scan() {
  local venv="$1" label="$2" report="$3"
  shift 3
  local rc=0
  (cd "${repo_root}" && BC_SKIP_MAPPING=TRUE "${venv}/bin/checkov" "$@" \
    --skip-download --output json >"${report}") || rc=$?

  if [[ ! -s "${report}" ]] || ! "${venv}/bin/python" - "${report}" <<'PY'; then
import json, sys

data = json.load(open(sys.argv[1]))
reports = data if isinstance(data, list) else [data]
for report in reports:
    if "summary" not in report:  # a framework with nothing to scan
        continue
    s, results = report["summary"], report.get("results", {})
    print(f"  checkov {report.get('check_type', '?')}: passed {s.get('passed', 0)}, "
          f"failed {s.get('failed', 0)}, skipped {s.get('skipped', 0)}")
    for check in results.get("failed_checks", []):
        print(f"    FAILED  {check['check_id']} {check.get('check_name', '')}")
        print(f"            {check['resource']} ({check.get('file_path', '?')}:"
              f"{'-'.join(str(n) for n in check.get('file_line_range', []))})")
    for check in results.get("skipped_checks", []):
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        print(f"    skipped {check['check_id']} on {check['resource']}: {reason}")
PY
    cat "${report}" >&2
    fail "checkov ${label}: no readable report (exit ${rc})"
    return 0
  fi

  if [[ "${rc}" -eq 0 ]]; then
    record "PASS  checkov ${label}"
  else
    fail "checkov ${label} (failed checks above)"
  fi
}

run_checkov() {
  local venv="${CHECKOV_VENV:-${here}/.venv-checkov}"
  if ! ensure_checkov "${venv}"; then
    echo "SKIP: checkov could not be installed into ${venv}; nothing was scanned." >&2
    return "${EXIT_CHECKOV_UNAVAILABLE}"
  fi
  log "checkov $("${venv}/bin/checkov" --version) (offline: --skip-download)"

  # checkov ignores --file when --directory is given: two scans.
  log "checkov: terraform/ (terraform and secrets frameworks)"
  checkov_scan "${venv}" "terraform/" "${tmp_dir}/checkov-terraform.json" \
    --directory "${here}" --framework terraform secrets

  if [[ -f "${repo_root}/Dockerfile" ]]; then
    # The API's image and the compose OpenID provider's (issue 22).
    local dockerfiles=(--file "${repo_root}/Dockerfile")
    if [[ -f "${repo_root}/deploy/idp/Dockerfile" ]]; then
      dockerfiles+=(--file "${repo_root}/deploy/idp/Dockerfile")
    fi
    log "checkov: Dockerfile, deploy/idp/Dockerfile"
    checkov_scan "${venv}" "Dockerfile" "${tmp_dir}/checkov-dockerfile.json" \
      "${dockerfiles[@]}" --framework dockerfile
  else
    log "no Dockerfile at the repository root yet; only terraform/ was scanned"
    record "SKIP  checkov Dockerfile: none at the repository root"
  fi
}

checkov_rc=0
if [[ "${mode}" == all || "${mode}" == terraform ]]; then
  run_terraform_checks
fi
if [[ "${mode}" == all || "${mode}" == checkov ]]; then
  if [[ "${SKIP_CHECKOV:-0}" == 1 ]]; then
    record "SKIP  checkov (SKIP_CHECKOV=1)"
  else
    run_checkov || checkov_rc=$?
    if [[ "${checkov_rc}" -eq "${EXIT_CHECKOV_UNAVAILABLE}" ]]; then
      record "SKIP  checkov: could not be installed"
    fi
  fi
fi

echo
echo "tf-test summary ($(($(date +%s) - start_time))s):"
printf '  %s\n' "${summary[@]}"

if [[ "${failed}" -ne 0 ]]; then
  echo "tf-test: FAILED"
  exit 1
fi
if [[ "${checkov_rc}" -eq "${EXIT_CHECKOV_UNAVAILABLE}" ]]; then
  echo "tf-test: checkov unavailable"
  exit "${EXIT_CHECKOV_UNAVAILABLE}"
fi
echo "tf-test: OK"
