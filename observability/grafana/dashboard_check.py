#!/usr/bin/env python3
"""Offline checks of the provisioned Grafana dashboards (no Grafana needed).

1. Structure: valid JSON, unique panel titles and ids, every panel and target
   (and the ``sale`` variable) queries the datasource chosen by the template
   variable ``datasource`` (uid ``${datasource}``, type ``datasource``, query
   ``prometheus``) with a non-empty ``expr`` -- a hard-coded uid such as
   ``prometheus`` is refused, since it exists only in this repository's
   compose stack; the ``__inputs`` block declares a Prometheus datasource input
   and ``__requires`` lists Grafana, the Prometheus plugin and every panel type,
   so "Import dashboard" works in any Grafana (Amazon Managed Grafana too); no
   ``${DS_...}`` input is referenced outside ``__inputs`` (file provisioning
   does not substitute inputs); the template variable ``sale`` exists; the
   oversold stat turns red above 0.
2. Queries: every panel expression (and the ``sale`` variable's
   ``label_values`` query) is evaluated by promtool's PromQL engine against
   synthetic series shaped like the API's metrics, with every rule file
   loaded. Each must parse and return at least one non-NaN sample.

Grafana variables are not PromQL, so before evaluation they are replaced:
``$sale`` / ``${sale}`` -> ``.*`` (the "All" value; panels may use it only
inside a regex matcher such as ``sale=~"$sale"``), ``$__rate_interval`` /
``$__interval`` -> ``1m``, ``$__range`` -> ``5m``. A ``$`` left after that is
an error.

Standard library only. Usable as a script (observability/check.sh runs it)
and as a module (tests/test_observability_static.py imports it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DASHBOARD_DIR = HERE / "dashboards"
RULES_DIR = HERE.parent / "prometheus" / "rules"
DATASOURCE_VARIABLE = "datasource"
DATASOURCE_UID = "${datasource}"
"""What every Prometheus query names as its datasource uid: the template variable, resolved by Grafana."""

SUBSTITUTIONS = (
    ("${sale}", ".*"),
    ("$sale", ".*"),
    ("$__rate_interval", "1m"),
    ("$__interval", "1m"),
    ("$__range", "5m"),
)

# Required panels: a title fragment (lower case) -> what it shows.
REQUIRED_PANELS = {
    "remaining stock": "units left per sale",
    "sold against stock": "sold units against stock",
    "oversold": "oversold units (stat, red above 0)",
    "attempts per second by outcome": "purchase attempts by outcome",
    "p99": "latency quantiles",
    "5xx": "5xx rate",
    "by replica": "per-replica request rate",
    "availability error budget burn rate": "availability SLO burn rate",
    "latency error budget burn rate": "latency SLO burn rate",
    "redis memory": "Redis memory against maxmemory",
    "held units": "units held per sale",
    "hold expiries": "expired holds per sale",
    "spans exported and dropped": "spans exported and dropped",
    "export lag": "order export lag",
    "orders exported": "orders exported to PostgreSQL",
    "queue places given": "waiting-room places given per sale",
    "queue buyers waiting": "buyers waiting per sale",
    "queue admitted per second": "waiting-room admissions per second",
    "queue active vs max active": "active admitted buyers against max_active",
    "queue no-shows": "admissions that expired unused",
    "queue expected wait": "expected wait of a buyer joining now",
    "remaining per sku": "units left per SKU (row Sizes)",
    "sell-out time per sku": "how long after the start each SKU sold out (row Sizes)",
    "quota remaining": "units each quota still allows (row Sizes)",
}

EVAL_TIME = "5m"

# Series shaped like the API's /metrics (two replicas, two sales, both paths),
# redis_exporter's redis_up and memory, the order exporter's /metrics and
# Prometheus' own up. Counters grow by a fixed step every 15s; 41 samples
# cover 0..10m.
_API = 'job="flashsale-api"'
_SERIES: list[tuple[str, str]] = []


def _add(metric: str, labels: str, values: str) -> None:
    _SERIES.append((f"{metric}{{{labels}}}", values))


for _inst in ("a:8000", "b:8000"):
    _base = f'{_API},instance="{_inst}"'
    _add("up", _base, "1x40")
    for _sale, _path in (("s1", "safe"), ("s2", "unsafe")):
        for _outcome, _step in (("sold", 30), ("sold_out", 15), ("unavailable", 3), ("limit_reached", 6)):
            _add("flashsale_purchase_attempts_total",
                 f'{_base},sale="{_sale}",path="{_path}",outcome="{_outcome}"', f"0+{_step}x40")
        _add("flashsale_units_sold_total", f'{_base},sale="{_sale}",path="{_path}"', "0+30x40")
        _add("flashsale_stock_remaining", f'{_base},sale="{_sale}"', "20x40")
        _add("flashsale_stock_added", f'{_base},sale="{_sale}"', "50x40")
        _add("flashsale_stock_sold", f'{_base},sale="{_sale}"', "25x40")
        _add("flashsale_stock_held", f'{_base},sale="{_sale}"', "5x40")
        for _state, _count in (("held", 5), ("confirmed", 20), ("released", 2), ("expired", 3)):
            _add("flashsale_holds", f'{_base},sale="{_sale}",state="{_state}"', f"{_count}x40")
        for _step, _outcome in (("hold", "held"), ("confirm", "confirmed"), ("confirm", "hold_expired")):
            _add("flashsale_hold_attempts_total", f'{_base},sale="{_sale}",step="{_step}",outcome="{_outcome}"',
                 "0+6x40")
        # The waiting-room gauges every replica's admission controller sets (telemetry/metrics.py).
        for _gauge, _values in (("joined", "0+5x40"), ("waiting", "0+3x40"), ("admitted", "0+2x40"),
                                ("active", "4x40"), ("max_active", "10x40"), ("no_shows", "0+1x40"),
                                ("paused", "0x40"), ("open", "1x40"), ("wait_seconds", "30x40"),
                                ("waitlist_reoffered_units", "0+1x40"), ("waitlist_bought_units", "0+1x40")):
            _add(f"flashsale_queue_{_gauge}", f'{_base},sale="{_sale}"', _values)
        _add("flashsale_oversold_units", f'{_base},sale="{_sale}"', "0x40" if _path == "safe" else "3x40")
        # A sale of sizes (telemetry/skus.py): two SKUs, one sold out 90 s after the start, and one quota.
        for _sku, _left in (("us-9", "0"), ("us-10", "12")):
            _add("flashsale_sku_stock_remaining", f'{_base},sale="{_sale}",sku="{_sku}"', f"{_left}x40")
            _add("flashsale_sku_stock_sold", f'{_base},sale="{_sale}",sku="{_sku}"', "0+1x40")
            _add("flashsale_sku_stock_held", f'{_base},sale="{_sale}",sku="{_sku}"', "2x40")
            _add("flashsale_sku_stock_added", f'{_base},sale="{_sale}",sku="{_sku}"', "60x40")
        _add("flashsale_sku_sold_out_seconds", f'{_base},sale="{_sale}",sku="us-9"', "90x40")
        _add("flashsale_quota_remaining", f'{_base},sale="{_sale}",quota="all-sizes"', "12x40")
        _cumulative = 0
        for _le, _step in (("0.0001", 0), ("0.001", 20), ("0.01", 8), ("0.1", 1), ("1", 1), ("+Inf", 0)):
            _cumulative += _step
            _add("flashsale_purchase_duration_seconds_bucket",
                 f'{_base},path="{_path}",outcome="sold",le="{_le}"', f"0+{_cumulative}x40")
        _add("flashsale_purchase_duration_seconds_count", f'{_base},path="{_path}",outcome="sold"',
             f"0+{_cumulative}x40")
    for _code, _step in (("201", 45), ("409", 15), ("503", 3)):
        _add("flashsale_http_requests_total",
             f'{_base},app_name="flashsale",method="POST",route="/sales/{{sale_id}}/purchases",'
             f'status_code="{_code}"', f"0+{_step}x40")
    _add("flashsale_http_requests_in_progress",
         f'{_base},app_name="flashsale",method="POST",route="/sales/{{sale_id}}/purchases",pid="7"', "2x40")
    _add("flashsale_redis_errors_total", f'{_base},kind="timeout"', "0+3x40")
    _add("flashsale_spans_exported_total", _base, "0+90x40")
    _add("flashsale_spans_dropped_total", _base, "0x20 0+2x20")
_REDIS = 'job="redis",instance="redis-exporter:9121"'
_add("redis_up", _REDIS, "1x40")
_add("up", _REDIS, "1x40")
_add("redis_memory_used_bytes", _REDIS, "0+1000000x40")
_add("redis_memory_max_bytes", _REDIS, "268435456x40")
_EXPORTER = 'job="exporter",instance="exporter:9465"'
_add("up", _EXPORTER, "1x40")
for _sale in ("s1", "s2"):
    _add("flashsale_orders_exported_total", f'{_EXPORTER},sale="{_sale}"', "0+30x40")
    _add("flashsale_export_lag_entries", f'{_EXPORTER},sale="{_sale}"', "0x20 12x20")
    _add("flashsale_export_lag_seconds", f'{_EXPORTER},sale="{_sale}"', "0x20 1.5x20")
_add("flashsale_export_errors_total", f'{_EXPORTER},kind="database"', "0+1x40")

SYNTHETIC_SERIES: tuple[tuple[str, str], ...] = tuple(_SERIES)


def load_dashboards(directory: Path = DASHBOARD_DIR) -> dict[Path, dict[str, Any]]:
    return {p: json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))}


def iter_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in panels:
        if panel.get("type") == "row":
            yield from iter_panels(panel.get("panels", []))
        else:
            yield panel


def substitute(expr: str) -> str:
    for var, value in SUBSTITUTIONS:
        expr = expr.replace(var, value)
    return expr


def variable_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, PromQL) for each label_values(metric, label) variable: ``count by (label) (metric)``."""
    out = []
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        match = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)\s*", str(query or ""))
        if match:
            out.append((f"variable {var.get('name')}", f"count by ({match[2]}) ({match[1]})"))
    return out


def expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, substituted PromQL) for every panel target and every label_values variable."""
    out = []
    for panel in iter_panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            out.append((f"panel {panel.get('title')!r} target {target.get('refId')}",
                        substitute(str(target.get("expr", "")))))
    return out + variable_queries(dashboard)


def _uid(ref: Any) -> Any:
    return ref.get("uid") if isinstance(ref, dict) else ref


def structure_problems(dashboard: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if not dashboard.get("title"):
        problems.append("dashboard has no title")
    if not dashboard.get("uid"):
        problems.append("dashboard has no uid")
    panels = list(iter_panels(dashboard.get("panels", [])))
    if not panels:
        problems.append("dashboard has no panels")
    titles = [str(p.get("title", "")) for p in panels]
    for title in sorted({t for t in titles if titles.count(t) > 1}):
        problems.append(f"panel title {title!r} is used more than once")
    ids = [p.get("id") for p in panels]
    if len(set(ids)) != len(ids) or None in ids:
        problems.append(f"panel ids must be present and unique, got {ids}")
    for panel in panels:
        name = f"panel {panel.get('title')!r}"
        if not panel.get("title"):
            problems.append(f"panel id {panel.get('id')} has no title")
        if "gridPos" not in panel:
            problems.append(f"{name} has no gridPos")
        problems.extend(_datasource_problems(name, panel.get("datasource")))
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{name} has no targets")
        for target in targets:
            ref = target.get("refId")
            if not str(target.get("expr", "")).strip():
                problems.append(f"{name} target {ref} has no expr")
            problems.extend(_datasource_problems(f"{name} target {ref}", target.get("datasource")))
    for where, expr in expressions(dashboard):
        if "$" in expr:
            problems.append(f"{where}: unknown Grafana variable left after substitution: {expr}")
    lowered = [t.lower() for t in titles]
    for fragment, meaning in REQUIRED_PANELS.items():
        if not any(fragment in t for t in lowered):
            problems.append(f"no panel showing {meaning} (title containing {fragment!r})")
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    if "sale" not in variables:
        problems.append("template variable 'sale' is missing")
    else:
        problems.extend(_datasource_problems("template variable 'sale'", variables["sale"].get("datasource")))
    chooser = variables.get(DATASOURCE_VARIABLE)
    if chooser is None:
        problems.append(f"template variable {DATASOURCE_VARIABLE!r} (type datasource, query prometheus) is missing")
    elif (chooser.get("type"), chooser.get("query")) != ("datasource", "prometheus"):
        problems.append(f"template variable {DATASOURCE_VARIABLE!r} must have type 'datasource' and query 'prometheus'")
    problems.extend(import_problems(dashboard, {str(p.get("type")) for p in panels}))
    oversold = [p for p in panels if "oversold" in str(p.get("title", "")).lower()]
    for panel in oversold:
        problems.extend(oversold_threshold_problems(panel))
    trace_links = [link for link in dashboard.get("links", []) + [
        link for p in panels for link in p.get("links", [])] if "trace" in str(link.get("title", "")).lower()]
    if not trace_links:
        problems.append("no dashboard or panel link to the traces")
    return problems


def _datasource_problems(name: str, ref: Any) -> list[str]:
    uid = _uid(ref)
    if uid == DATASOURCE_UID and isinstance(ref, dict) and ref.get("type") == "prometheus":
        return []
    if uid in (None, ""):
        return [f"{name} names no datasource (want uid {DATASOURCE_UID!r}, type 'prometheus')"]
    return [f"{name} has a hard-coded datasource uid {uid!r} (want {DATASOURCE_UID!r}, type 'prometheus')"]


def import_problems(dashboard: dict[str, Any], panel_types: set[str]) -> list[str]:
    """What Grafana's "Import dashboard" needs: a Prometheus datasource input and the plugins required."""
    problems: list[str] = []
    inputs = dashboard.get("__inputs")
    if not isinstance(inputs, list) or not any(
        isinstance(i, dict) and i.get("type") == "datasource" and i.get("pluginId") == "prometheus" and i.get("name")
        for i in inputs
    ):
        problems.append("__inputs is missing or declares no Prometheus datasource input (type datasource, "
                        "pluginId prometheus)")
    requires = dashboard.get("__requires")
    required = {(r.get("type"), r.get("id")) for r in requires if isinstance(r, dict)} if isinstance(
        requires, list) else set()
    wanted = {("grafana", "grafana"), ("datasource", "prometheus")} | {("panel", t) for t in panel_types}
    for kind, plugin in sorted(wanted - required):
        problems.append(f"__requires does not list {kind} {plugin!r}")
    rest = json.dumps({k: v for k, v in dashboard.items() if k != "__inputs"})
    for name in sorted(set(re.findall(r"\$\{(DS_[A-Za-z0-9_]+)\}", rest))):
        problems.append(f"${{{name}}} is referenced outside __inputs: file provisioning leaves it unresolved "
                        f"(use {DATASOURCE_UID!r})")
    return problems


def oversold_threshold_problems(panel: dict[str, Any]) -> list[str]:
    """The oversold stat must be green at 0 and red for any unit above 0."""
    name = f"panel {panel.get('title')!r}"
    if panel.get("type") != "stat":
        return [f"{name} must be a stat panel"]
    steps = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])
    reds = [s for s in steps if s.get("color") == "red" and s.get("value") is not None]
    if not reds:
        return [f"{name} has no red threshold step"]
    red = min(float(s["value"]) for s in reds)
    if not 0 < red <= 1:
        return [f"{name} red threshold is {red}; it must be above 0 and at most 1 (one unit)"]
    base = [s for s in steps if s.get("value") is None]
    if not base or base[0].get("color") == "red":
        return [f"{name} base (0 units) colour must not be red"]
    return []


def promtool_test_document(exprs: list[tuple[str, str]], rule_files: list[Path]) -> dict[str, Any]:
    """A promtool unit-test file asserting that every expression returns a non-NaN sample.

    ``count((E) == (E))`` drops NaN samples (NaN != NaN) and counts the rest; ``> bool 0`` turns any
    non-empty result into exactly ``{} 1``. An empty or all-NaN result, or a parse error, fails the test.
    """
    return {
        "rule_files": [str(p) for p in rule_files],
        "evaluation_interval": "15s",
        "tests": [{
            "name": "every dashboard query returns data",
            "interval": "15s",
            "input_series": [{"series": s, "values": v} for s, v in SYNTHETIC_SERIES],
            "promql_expr_test": [
                {"expr": f"count(({e}) == ({e})) > bool 0", "eval_time": EVAL_TIME,
                 "exp_samples": [{"labels": "{}", "value": 1}]}
                for _, e in exprs
            ],
        }],
    }


def run_promtool(exprs: list[tuple[str, str]], promtool: str,
                 rule_files: list[Path] | None = None) -> subprocess.CompletedProcess[str]:
    rule_files = sorted(RULES_DIR.glob("*.yml")) if rule_files is None else rule_files
    with tempfile.TemporaryDirectory(prefix="dashboard-check-") as tmp:
        test_file = Path(tmp) / "dashboard_test.yml"
        # JSON is YAML: no third-party YAML library needed.
        test_file.write_text(json.dumps(promtool_test_document(exprs, rule_files), indent=1))
        return subprocess.run([promtool, "test", "rules", str(test_file)],
                              capture_output=True, text=True, timeout=120, check=False)


def main(argv: list[str]) -> int:
    directory = Path(argv[1]) if len(argv) > 1 else DASHBOARD_DIR
    dashboards = load_dashboards(directory)
    if not dashboards:
        print(f"FAIL: no dashboards in {directory}")
        return 1
    failed = False
    all_exprs: list[tuple[str, str]] = []
    for path, dashboard in dashboards.items():
        problems = structure_problems(dashboard)
        for problem in problems:
            print(f"FAIL: {path.name}: {problem}")
        failed = failed or bool(problems)
        exprs = expressions(dashboard)
        all_exprs += [(f"{path.name}: {where}", e) for where, e in exprs]
        if not problems:
            print(f"ok: {path.name}: structure ({len(exprs)} queries)")
    promtool = shutil.which("promtool")
    if promtool is None:
        print("SKIP: promtool not found, dashboard queries not evaluated")
    else:
        result = run_promtool(all_exprs, promtool)
        if result.returncode == 0:
            print(f"ok: {len(all_exprs)} dashboard queries evaluated by promtool, all return data")
        else:
            failed = True
            print("FAIL: promtool could not evaluate every dashboard query:")
            print(result.stdout + result.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
