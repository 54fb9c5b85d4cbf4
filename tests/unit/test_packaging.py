"""The package as pip builds it: SPDX license with its LICENSE file, the pinned build backend,
type markers, and one version (worker.__version__) in the metadata."""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import yaml

import worker

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_metadata_license_types_and_version(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    for package in ("worker", "schemas"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    # An isolated build, as `pip install .` and the Dockerfile do: the pinned backend.
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    # The backend's own warnings (e.g. the license table form that breaks in 2027).
    assert "Warning" not in proc.stdout + proc.stderr, proc.stdout[-3000:]
    (wheel,) = tmp_path.glob("segsync-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = f"segsync-{worker.__version__}.dist-info"
        meta = email.message_from_bytes(zf.read(f"{info}/METADATA"))
        license_text = zf.read(f"{info}/licenses/LICENSE").decode()
    assert meta["Version"] == worker.__version__
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert meta["License"] is None  # the old free-text field: gone with the SPDX form
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert license_text == (ROOT / "LICENSE").read_text()
    assert "END OF TERMS AND CONDITIONS" in license_text  # the full text, not a stub
    assert {"worker/py.typed", "schemas/py.typed"} <= names
    assert any(n.startswith("schemas/json/") for n in names)
    assert any(n.startswith("worker/store/migrations/versions/") for n in names)


def test_build_backend_is_pinned_and_version_has_one_home() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (backend,) = pyproject["build-system"]["requires"]
    assert backend.startswith("setuptools==")
    assert "version" not in pyproject["project"]
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "worker.__version__"}


def test_the_chart_deploys_this_version() -> None:
    # The chart's image tag defaults to appVersion: it must name the version built here.
    chart = yaml.safe_load((ROOT / "deploy/helm/segsync/Chart.yaml").read_text())
    assert chart["appVersion"] == worker.__version__
