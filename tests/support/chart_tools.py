"""The real `helm` and `kubeconform`, and Kubernetes JSON schemas that work offline.

`tools()` runs scripts/deploy-tools.sh, which builds both with `go install` at pinned
versions into .cache/tools/bin (ignored by git) the first time. kubeconform normally
downloads its schemas; here they come from the `kubernetes-validate` package (a dev
dependency), whose strict schemas reference one shared definitions file by an absolute
path that kubeconform cannot resolve: `standalone_schemas()` writes each kind's schema
with those definitions inlined, in the layout kubeconform's -schema-location expects.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "tools"
DEFINITIONS_REF = "/api/_definitions.json#"


@cache
def tools() -> Path:
    """The folder holding `helm` and `kubeconform` (built on first use; fails loudly)."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "deploy-tools.sh")],
        capture_output=True,
        text=True,
        timeout=540,  # under pytest-timeout (600 s): a cold Go cache builds in ~4 min
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/deploy-tools.sh failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def run(tool: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tools() / tool), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _inline(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: v.replace(DEFINITIONS_REF, "#", 1)
            if k == "$ref" and isinstance(v, str)
            else _inline(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_inline(v) for v in node]
    return node


def standalone_schemas(kube_version: str, kinds: set[str]) -> Path:
    """Strict standalone schemas of `kinds` (file stems such as "statefulset-apps-v1") for
    `kube_version` ("1.35.0"); returns the root to use in kubeconform's -schema-location."""
    source = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    local = source / f"v{kube_version}-local-strict"
    if not local.is_dir():
        raise RuntimeError(f"kubernetes-validate has no schemas for Kubernetes {kube_version}")
    out = CACHE / "k8s-schemas" / f"v{kube_version}-standalone-strict"
    out.mkdir(parents=True, exist_ok=True)
    defs: dict[str, Any] | None = None
    for kind in sorted(kinds):
        target = out / f"{kind}.json"
        if target.exists():
            continue
        if defs is None:
            defs = _inline(json.loads((local / "_definitions.json").read_text())["$defs"])
        schema = _inline(json.loads((local / f"{kind}.json").read_text()))
        schema["$defs"] = defs
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(schema))
        tmp.replace(target)  # atomic: a concurrent run sees the whole file or none
    return out.parent


def schema_stem(doc: dict[str, Any]) -> str:
    """kubeconform's file name for a manifest: kind, then group (first label) and version."""
    group, _, version = str(doc["apiVersion"]).rpartition("/")
    parts = [str(doc["kind"]).lower()]
    if group:
        parts.append(group.split(".")[0])
    parts.append(version)
    return "-".join(parts)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; Kubernetes refuses or drops one."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise ValueError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1}")
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_manifests(text: str) -> list[dict[str, Any]]:
    """The documents of a rendered chart; a duplicate key anywhere is an error."""
    return [d for d in yaml.load_all(text, Loader=_UniqueKeyLoader) if d]
