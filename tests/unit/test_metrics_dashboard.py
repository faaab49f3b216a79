"""config/grafana-dashboard.json and config/prometheus.yml use only metrics the services export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from services.agent import metrics as agent_metrics
from services.recovery import metrics as recovery_metrics
from services.web import metrics as web_metrics

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "config" / "grafana-dashboard.json"
SCRAPE = ROOT / "config" / "prometheus.yml"
METRIC = re.compile(r"\blvs_[a-z0-9_]+")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported() -> dict[str, str]:
    """Every sample name the services' metric objects expose -> the module that defines it."""
    names = {}
    for module in (agent_metrics, recovery_metrics, web_metrics):
        for obj in vars(module).values():
            if isinstance(obj, MetricWrapperBase):
                for suffix in SUFFIXES[obj._type]:
                    names[obj._name + suffix] = module.__name__
    return names


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p["targets"]]


def test_every_metric_in_the_dashboard_is_exported() -> None:
    known = exported()
    used = {name for expr in dashboard_exprs() for name in METRIC.findall(expr)}
    assert used, "the dashboard queries lvs_ metrics"
    assert used <= set(known), f"not exported by services/*/metrics.py: {sorted(used - set(known))}"


def test_the_dashboard_covers_every_service_and_the_turn_stages() -> None:
    known = exported()
    used = {name for expr in dashboard_exprs() for name in METRIC.findall(expr)}
    assert {known[n] for n in used} == {m.__name__ for m in (agent_metrics, recovery_metrics, web_metrics)}
    assert "lvs_agent_turn_stage_seconds_bucket" in used


def test_the_name_check_catches_a_wrong_name() -> None:
    assert "lvs_recovery_actions_total" in exported()
    assert "lvs_recovery_actions" not in exported()  # a counter is exposed with _total only


def test_the_scrape_config_has_a_job_per_service_on_the_default_ports() -> None:
    config = yaml.safe_load(SCRAPE.read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets == {
        "lvs-web": ["127.0.0.1:8080"],
        "lvs-agent": ["127.0.0.1:9101"],
        "lvs-recovery": ["127.0.0.1:8082"],
    }
