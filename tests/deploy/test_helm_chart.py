"""deploy/helm/segsync with the real tools: `helm lint --strict`, `helm template`, and the
rendered manifests checked against the Kubernetes JSON schemas by kubeconform (strict, so
an unknown field is an error), offline (tests/support/chart_tools.py says how). No cluster
here: what a cluster would do with them (selectors, hooks) is checked on the manifests.

The tools are built on first use (scripts/deploy-tools.sh: Go and the module proxy); a
missing tool fails these tests, it never skips them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.chart_tools import load_manifests, run, schema_stem, standalone_schemas
from worker.settings import ENV_PREFIX, Settings

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "segsync"
# The oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and a recent one.
KUBE_VERSIONS = ("1.29.0", "1.35.0")
HELM_HOOK_TIMEOUT_S = 300  # `helm install/upgrade --timeout` default (5m0s)
# Everything optional switched on, so that every template renders something.
FULL = {
    "secrets": {"values": {"SEGSYNC_DATABASE_PASSWORD": "x"}},
    "metrics": {"serviceMonitor": {"enabled": True}},
    "tls": {"existingSecret": "segsync-tls"},
}


def helm_template(
    tmp_path: Path, values: dict[str, Any], kube: str = KUBE_VERSIONS[-1]
) -> tuple[int, str, str]:
    file = tmp_path / "values.yaml"
    file.write_text(yaml.safe_dump(values))
    args = ("template", "segsync", str(CHART), "--namespace", "lms", "--kube-version", kube)
    done = run("helm", *args, "-f", str(file))
    return done.returncode, done.stdout, done.stderr


def render(tmp_path: Path, values: dict[str, Any], kube: str = KUBE_VERSIONS[-1]) -> str:
    code, out, err = helm_template(tmp_path, values, kube)
    assert code == 0, err
    return out


def by_kind(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def hook(doc: dict[str, Any]) -> bool:
    return "helm.sh/hook" in doc["metadata"].get("annotations", {})


@pytest.mark.parametrize("values", [{}, FULL], ids=["defaults", "full"])
def test_helm_lint_strict(tmp_path: Path, values: dict[str, Any]) -> None:
    file = tmp_path / "values.yaml"
    file.write_text(yaml.safe_dump(values))
    done = run("helm", "lint", "--strict", str(CHART), "-f", str(file), "--kube-version", "1.35.0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_rendered_manifests_match_kubernetes_schemas(tmp_path: Path, kube: str) -> None:
    text = render(tmp_path, FULL, kube)
    docs = load_manifests(text)
    # ServiceMonitor is a Prometheus Operator CRD: no Kubernetes schema; its shape is
    # checked below (test_selectors_reach_only_the_worker_pods).
    kinds = {schema_stem(d) for d in docs if d["kind"] != "ServiceMonitor"}
    root = standalone_schemas(kube, kinds)
    location = f"{root}/{{{{.NormalizedKubernetesVersion}}}}-standalone{{{{.StrictSuffix}}}}"
    location += "/{{.ResourceKind}}{{.KindSuffix}}.json"
    args = ["-strict", "-summary", "-kubernetes-version", kube, "-schema-location", location]
    done = run("kubeconform", *args, "-skip", "ServiceMonitor", "-", stdin=text)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Valid: {len(docs) - 1}, Invalid: 0, Errors: 0, Skipped: 1" in done.stdout
    # The schemas bite: a field Kubernetes does not know is refused.
    broken = text.replace(
        "  podManagementPolicy: Parallel", "  podManagementPolicy: Parallel\n  x: 1"
    )
    assert broken != text
    done = run("kubeconform", *args, "-skip", "ServiceMonitor", "-", stdin=broken)
    assert done.returncode != 0 and "Invalid: 1" in done.stdout, done.stdout


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_selectors_reach_only_the_worker_pods(tmp_path: Path) -> None:
    kinds = by_kind(load_manifests(render(tmp_path, FULL)))
    [sts] = kinds["StatefulSet"]
    [job] = kinds["Job"]
    worker = sts["spec"]["template"]["metadata"]["labels"]
    migrate = job["spec"]["template"]["metadata"]["labels"]
    assert worker["app.kubernetes.io/component"] == "worker"
    assert migrate["app.kubernetes.io/component"] == "migrate"
    selectors = {
        "StatefulSet": sts["spec"]["selector"]["matchLabels"],
        "PodDisruptionBudget": kinds["PodDisruptionBudget"][0]["spec"]["selector"]["matchLabels"],
        **{s["metadata"]["name"]: s["spec"]["selector"] for s in kinds["Service"]},
    }
    assert len(selectors) == 4  # the metrics Service and the StatefulSet's headless one
    for name, selector in selectors.items():
        assert selector.get("app.kubernetes.io/component") == "worker", name
        assert _matches(selector, worker) and not _matches(selector, migrate), name
    # The ServiceMonitor picks the metrics Service (and so only worker pods).
    [monitor] = kinds["ServiceMonitor"]
    picked = [
        s["metadata"]["name"]
        for s in kinds["Service"]
        if _matches(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
    ]
    assert "segsync-metrics" in picked


def test_workers_are_static_members_named_by_their_pods(tmp_path: Path) -> None:
    kinds = by_kind(load_manifests(render(tmp_path, FULL)))
    assert "Deployment" not in kinds  # pod names must survive restarts (see statefulset.yaml)
    [sts] = kinds["StatefulSet"]
    headless = {s["metadata"]["name"]: s for s in kinds["Service"]}[sts["spec"]["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"
    [c] = sts["spec"]["template"]["spec"]["containers"]
    [instance] = [e for e in c["env"] if e["name"] == "SEGSYNC_INSTANCE_ID"]
    assert instance["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    kinds = by_kind(load_manifests(render(tmp_path, {"staticMembership": False})))
    [c] = kinds["StatefulSet"][0]["spec"]["template"]["spec"]["containers"]
    assert "env" not in c


def test_pods_run_without_an_api_token_under_their_own_account(tmp_path: Path) -> None:
    docs = load_manifests(render(tmp_path, FULL))
    kinds = by_kind(docs)
    accounts = {a["metadata"]["name"]: a for a in kinds["ServiceAccount"]}
    assert all(a["automountServiceAccountToken"] is False for a in accounts.values())
    [sts], [job] = kinds["StatefulSet"], kinds["Job"]
    for owner in (sts, job):
        pod = owner["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        account = accounts[pod["serviceAccountName"]]
        # A pre-install hook runs before the release's own resources exist.
        assert hook(account) == hook(owner)


def test_image_job_deadline_and_pod_basics(tmp_path: Path) -> None:
    kinds = by_kind(load_manifests(render(tmp_path, FULL)))
    [sts], [job] = kinds["StatefulSet"], kinds["Job"]
    pod = sts["spec"]["template"]["spec"]
    [c] = pod["containers"]
    registry = c["image"].split("/")[0]
    assert "." in registry or ":" in registry, c["image"]  # fully qualified, not Docker Hub's
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == c["image"]
    assert 0 < job["spec"]["activeDeadlineSeconds"] < HELM_HOOK_TIMEOUT_S
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    assert {"livenessProbe", "readinessProbe", "startupProbe", "resources"} <= set(c)
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert sts["spec"]["replicas"] == 2
    fields = {f"{ENV_PREFIX}{n.upper()}" for n in Settings.model_fields}
    [config] = kinds["ConfigMap"]
    assert set(config["data"]) <= fields


@pytest.mark.parametrize("name", ["SEGSYNC_METRICS_PORT", "SEGSYNC_INSTANCE_ID"])
def test_settings_the_chart_sets_are_refused_in_config(tmp_path: Path, name: str) -> None:
    """Each would be a second entry of one name (a duplicate ConfigMap key, or env beside
    envFrom): the render stops and names it."""
    code, _, err = helm_template(tmp_path, {"config": {name: "9000"}})
    assert code != 0
    assert f"config.{name}: set by" in err


def test_environment_names_are_unique(tmp_path: Path) -> None:
    docs = load_manifests(render(tmp_path, FULL))  # refuses duplicate keys (ConfigMap data)
    for d in docs:
        for c in d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            names = [e["name"] for e in c.get("env", [])]
            assert len(names) == len(set(names)), (d["kind"], names)
    with pytest.raises(ValueError, match="duplicate key 'a'"):
        load_manifests("x:\n  a: 1\n  a: 2\n")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicaCount": "two"}, "/replicaCount"),
        ({"image": {"repository": "segsync"}}, "/image/repository"),
        ({"migration": {"activeDeadline": 100}}, "'activeDeadline' not allowed"),
        ({"replicas": 3}, "'replicas' not allowed"),
        ({"config": {"segsync_log_level": "info"}}, "segsync_log_level"),
    ],
)
def test_values_schema_refuses_bad_values(
    tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    code, _, err = helm_template(tmp_path, values)
    assert code != 0 and "don't meet the specifications of the schema" in err, err
    assert message in err, err
