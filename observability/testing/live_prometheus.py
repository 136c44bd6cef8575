"""A real Prometheus server on a loopback port, configured from the repository's own files.

Used by ``tests/test_prometheus_live.py``. Standard library only, so it can be loaded by path (it is not part
of the ``flashsale`` package). The configuration is derived from ``observability/prometheus/prometheus.yml``:
the same job names and metrics paths, the repository's ``rules/*.yml`` (recording rules and alerts), but
static loopback targets instead of Docker DNS discovery and a short scrape / evaluation interval.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROMETHEUS_DIR = HERE.parent / "prometheus"
REPO_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES_GLOB = PROMETHEUS_DIR / "rules" / "*.yml"
PROMETHEUS_BINARY = "/usr/bin/prometheus"

_SERVICE_DISCOVERY = ("static_configs", "dns_sd_configs", "file_sd_configs", "docker_sd_configs")


class PrometheusError(RuntimeError):
    pass


def live_config(repo_config: Mapping[str, Any], targets: Mapping[str, Sequence[str]],
                interval: str = "1s") -> dict[str, Any]:
    """The repository's configuration with ``targets`` (job name -> host:port list) as static targets.

    Jobs of the repository that are not in ``targets`` are left out (nothing to scrape here); a job in
    ``targets`` that the repository does not define is an error, so the job names the rules and the
    dashboard rely on (``up{job="flashsale-api"}``) are the repository's, not the caller's.
    """
    jobs = {job["job_name"]: job for job in repo_config.get("scrape_configs", [])}
    unknown = sorted(set(targets) - set(jobs))
    if unknown:
        raise PrometheusError(f"jobs {unknown} are not in {REPO_CONFIG.name} (it has {sorted(jobs)})")
    scrape_configs = []
    for name, addresses in targets.items():
        job = {k: v for k, v in copy.deepcopy(jobs[name]).items() if k not in _SERVICE_DISCOVERY}
        job.pop("scrape_interval", None)
        job.pop("scrape_timeout", None)
        job["static_configs"] = [{"targets": list(addresses)}]
        scrape_configs.append(job)
    global_section = dict(repo_config.get("global", {}))
    global_section.update(scrape_interval=interval, scrape_timeout=interval, evaluation_interval=interval)
    return {
        "global": global_section,
        "rule_files": [str(RULES_GLOB)],
        "scrape_configs": scrape_configs,
    }


class PrometheusServer:
    """``prometheus`` in a child process with its own folder (config, TSDB, log); stopped by PID."""

    def __init__(self, folder: Path, config: Mapping[str, Any], port: int, binary: str = PROMETHEUS_BINARY) -> None:
        self.folder = folder
        self.config = config
        self.port = port
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "prometheus.log"

    def start(self, timeout_s: float = 30.0) -> PrometheusServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        config_file = self.folder / "prometheus.yml"
        config_file.write_text(json.dumps(self.config, indent=1))  # JSON is YAML
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, f"--config.file={config_file}", f"--storage.tsdb.path={self.folder / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.process.returncode}: {self.log_tail()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(  # noqa: S310 (http://127.0.0.1 only)
                    self.url + "/-/ready", timeout=1.0) as response:
                if response.status == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise PrometheusError(f"prometheus not ready on {self.url} within {timeout_s} s: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is None:
            return
        pid = self.process.pid
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # -- HTTP API -----------------------------------------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>``; the ``data`` member of a successful answer, else PrometheusError."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10.0) as response:  # noqa: S310 (http://127.0.0.1 only)
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:  # 400/422: bad query; the body says why
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> dict[str, Any]:
        """An instant query: ``{"resultType": ..., "result": ...}``."""
        return self.api("query", query=expr)  # type: ignore[no-any-return]

    def vector(self, expr: str) -> dict[frozenset[tuple[str, str]], float]:
        """An instant vector as {label set: value}."""
        data = self.query(expr)
        if data["resultType"] != "vector":
            raise PrometheusError(f"{expr!r} is a {data['resultType']}, not a vector")
        return {frozenset(s["metric"].items()): float(s["value"][1]) for s in data["result"]}

    def alerts(self) -> list[dict[str, Any]]:
        return self.api("alerts")["alerts"]  # type: ignore[no-any-return]

    def rule(self, name: str) -> dict[str, Any]:
        """The recording or alerting rule called ``name`` as /api/v1/rules reports it (with its group name)."""
        for group in self.api("rules")["groups"]:
            for rule in group["rules"]:
                if rule["name"] == name:
                    return {**rule, "group": group["name"]}
        raise PrometheusError(f"no rule named {name!r} is loaded")

    def targets(self) -> list[dict[str, Any]]:
        return self.api("targets", state="active")["activeTargets"]  # type: ignore[no-any-return]
