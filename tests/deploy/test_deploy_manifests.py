"""deploy/ cannot run here (no Docker engine, no cluster): what can be checked is checked.

- every YAML and JSON file parses; compose has the services the deployment needs, and
  Kafka's and PostgreSQL's data directories lie inside named volumes (read from the file);
- every SEGSYNC_* name that deploy/ sets is a real setting of worker.settings.Settings;
- the Dockerfile is multi-stage, slim, non-root, has a HEALTHCHECK, and installs with the
  commands that the documentation gives (docs/operations.md, and the README if it has any);
- the Grafana dashboard and Prometheus only use metrics the worker exports;
- the Helm chart's values are documented and every `.Values.x` a template reads exists
  (the chart itself is linted, rendered and checked in test_helm_chart.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from worker.observability import metrics
from worker.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "segsync"
ENV_NAME = re.compile(r"\bSEGSYNC_[A-Z0-9_]+\b")
NOT_FIELDS = {"SEGSYNC_CONFIG_FILE"}  # read by settings_customise_sources itself


def deploy_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file())


def plain_yaml_files() -> list[Path]:
    return [
        p for p in deploy_files() if p.suffix in (".yaml", ".yml") and "templates" not in p.parts
    ]


@pytest.mark.parametrize("path", plain_yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path: Path) -> None:
    assert list(yaml.safe_load_all(path.read_text())) != []


def test_every_env_var_is_a_real_setting() -> None:
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    seen: dict[str, list[str]] = {}
    for path in deploy_files():
        for name in ENV_NAME.findall(path.read_text(errors="replace")):
            seen.setdefault(name, []).append(str(path.relative_to(DEPLOY)))
    unknown = {n: where for n, where in seen.items() if n not in fields | NOT_FIELDS}
    assert unknown == {}
    assert len(seen) >= 15  # the manifests really set settings


def test_compose_services() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services: dict[str, Any] = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["postgres"]["image"] == "postgres:15"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    worker = services["worker"]
    assert worker["deploy"]["replicas"] == 2 and worker["command"] == ["run"]
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert worker["environment"]["SEGSYNC_METRICS_PORT"] == "9464"
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [job] = prom["scrape_configs"]
    assert job["dns_sd_configs"][0]["names"] == ["worker"]
    assert job["dns_sd_configs"][0]["port"] == 9464


def _install_commands(text: str) -> list[str]:
    """`pip install` / `python -m venv` commands, with the venv path and flags normalised."""
    out = []
    for raw in re.findall(r"^(?:RUN\s+)?(\S*(?:pip install|-m venv)[^\n]*)$", text, re.M):
        cmd = re.sub(r"\S*/bin/pip", "pip", raw)
        cmd = re.sub(r"\s+-q\b|--no-cache-dir\s*", " ", cmd)
        out.append(" ".join(cmd.split()))
    return out


def test_dockerfile_is_multistage_slim_nonroot_with_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(froms) >= 2
    assert "slim" in re.search(r"PYTHON_IMAGE=(\S+)", text).group(1)  # type: ignore[union-attr]
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and not users[-1].startswith(("root", "0"))
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.M)
    assert (DEPLOY / "Dockerfile.dockerignore").exists()


def test_dockerfile_installs_as_the_docs_say() -> None:
    docker = _install_commands((DEPLOY / "Dockerfile").read_text())
    docs = _install_commands((ROOT / "docs" / "operations.md").read_text())
    assert docs and docs == docker
    readme = [c for c in _install_commands((ROOT / "README.md").read_text()) if "-e " not in c]
    for cmd in readme:  # the README's production install, where it gives one
        assert cmd in docker
    # and the developers' install uses the same constraints file
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()


def _metric_names() -> set[str]:
    names = set()
    for family in metrics.REGISTRY.collect():
        names.add(family.name)
        names.update(s.name for s in family.samples)
    for name in list(names):
        names.update({f"{name}_total", f"{name}_bucket", f"{name}_sum", f"{name}_count"})
    return names


def test_dashboard_uses_only_exported_metrics() -> None:
    dash = json.loads((DEPLOY / "grafana" / "segsync-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    used = {m for e in exprs for m in re.findall(r"\bsegsync_[a-z_]+", e)}
    assert used - _metric_names() == set()
    for needed in ("events_consumed", "consumer_lag", "dlq", "held_removals", "duration"):
        assert any(needed in m for m in used), needed


def test_helm_values_documented_and_used() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "segsync"
    values_text = (CHART / "values.yaml").read_text()
    values = yaml.safe_load(values_text)
    lines = values_text.splitlines()
    for i, line in enumerate(lines):  # every top-level key has a comment just above
        if re.match(r"^[a-zA-Z]\w*:", line):
            assert i > 0 and lines[i - 1].lstrip().startswith("#"), line
    for tpl in (CHART / "templates").iterdir():
        for path in re.findall(r"\.Values\.([\w.]+)", tpl.read_text()):
            node: Any = values
            for part in path.split("."):
                assert isinstance(node, dict) and part in node, f"{tpl.name}: .Values.{path}"
                node = node[part]
    kinds = " ".join(p.read_text() for p in (CHART / "templates").glob("*.yaml"))
    for kind in ("StatefulSet", "Job", "ConfigMap", "Secret", "ServiceMonitor", "ServiceAccount"):
        assert f"kind: {kind}" in kinds
    assert "PodDisruptionBudget" in kinds and '"helm.sh/hook": pre-install' in kinds


def _mounted_volume(service: dict[str, Any], path: str, declared: set[str]) -> str | None:
    """The named volume (declared at the top level) whose mount holds `path`, if any."""
    for mount in service.get("volumes", []):
        source, _, rest = mount.partition(":") if isinstance(mount, str) else ("", "", "")
        target = rest.split(":", 1)[0]
        if source in declared and (path == target or path.startswith(target.rstrip("/") + "/")):
            return source
    return None


# Where each stateful image keeps its data (the images' documented defaults, when the
# setting is absent): apache/kafka's log.dirs defaults to /tmp/kraft-combined-logs.
DATA_DIRS = {
    "kafka": ("KAFKA_LOG_DIRS", "/tmp/kraft-combined-logs"),
    "postgres": ("PGDATA", "/var/lib/postgresql/data"),
}


@pytest.mark.parametrize("name", sorted(DATA_DIRS))
def test_compose_keeps_data_in_volumes(name: str) -> None:
    """A static check (no Docker engine here): the directories where Kafka and PostgreSQL
    write their data lie inside a named volume, so `down` / `up` keeps topics, offsets and
    state together (Kafka in /tmp and PostgreSQL in a volume: topics back at offset 0 while
    the store still holds the old offsets)."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    declared = set(compose["volumes"])
    service = compose["services"][name]
    variable, default = DATA_DIRS[name]
    dirs = str(service.get("environment", {}).get(variable, default)).split(",")
    for path in dirs:
        assert _mounted_volume(service, path.strip(), declared), f"{name}: {path} not in a volume"
