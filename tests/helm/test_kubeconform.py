"""Every rendered manifest (default values and each ci/*-values.yaml) validated offline with
the real ``kubeconform``: core kinds against the Kubernetes JSON Schemas shipped by the PyPI
package ``kubernetes-validate`` (strict: unknown fields fail), the custom resources
(ScaledObject, ServiceMonitor, PrometheusRule) against the CRD schema subsets vendored in
tests/helm/crd-schemas/ (their sources are named inside). Nothing is skipped."""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path

import pytest

from tests.helm.test_chart import CHART, CI_VALUES, NAMESPACE, RELEASE, _helm
from tests.helm.tools import ensure_go_tool

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

CRD_SCHEMAS = Path(__file__).resolve().parent / "crd-schemas"
# The chart's kubeVersion floor, a middle version and the newest the package ships.
VERSIONS = ("1.25.0", "1.30.0", "1.37.0")


@cache
def _schemas(version: str, root: Path) -> Path:
    """A copy of the package's strict schemas for ``version`` whose root-relative
    ``/api/_definitions.json`` references point at the copy (kubeconform cannot resolve
    them otherwise)."""
    import kubernetes_validate

    src = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    src = src / f"v{version}-local-strict"
    assert src.is_dir(), f"kubernetes-validate ships no schemas for {version}"
    dst = root / f"v{version}-local-strict"
    dst.mkdir(parents=True, exist_ok=True)
    target = f"file://{dst}/_definitions.json"
    for f in src.glob("*.json"):
        text = f.read_text()
        (dst / f.name).write_text(text.replace('"/api/_definitions.json', f'"{target}'))
    return root


def _render(values: Path | None, version: str, out: Path) -> Path:
    cmd = [_helm(), "template", RELEASE, str(CHART), "-n", NAMESPACE, "--kube-version", version]
    if values is not None:
        cmd += ["-f", str(values)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out.write_text(proc.stdout)
    return out


def _kubeconform(manifest: Path, version: str, schemas: Path) -> dict[str, object]:
    core = f"{schemas}/{{{{ .NormalizedKubernetesVersion }}}}-local{{{{ .StrictSuffix }}}}/"
    core += "{{ .ResourceKind }}{{ .KindSuffix }}.json"
    crd = f"{CRD_SCHEMAS}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json"
    proc = subprocess.run(
        [
            ensure_go_tool("kubeconform"),
            "-strict",
            "-summary",
            "-output",
            "json",
            "-kubernetes-version",
            version,
            "-schema-location",
            core,
            "-schema-location",
            crd,
            str(manifest),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report: dict[str, object] = json.loads(proc.stdout)
    report["rc"] = proc.returncode
    report["stderr"] = proc.stderr
    return report


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=lambda p: p.stem if p else "defaults")
def test_rendered_manifests_are_valid_kubernetes_and_crd_objects(
    values: Path | None, version: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    schemas = _schemas(version, tmp_path_factory.getbasetemp() / "k8s-schemas")
    manifest = _render(values, version, tmp_path_factory.mktemp("render") / "all.yaml")
    report = _kubeconform(manifest, version, schemas)
    summary = report["summary"]
    assert isinstance(summary, dict)
    assert report["rc"] == 0, report
    assert summary["invalid"] == 0 and summary["errors"] == 0, report
    assert summary["skipped"] == 0, report  # the CRDs were validated too, not skipped
    assert summary["valid"] >= 4  # at least ConfigMap, Deployment, Service, ServiceAccount


def test_kubeconform_rejects_a_broken_manifest(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Negative control: the same setup catches a wrong type, an unknown field and a
    malformed custom resource."""
    schemas = _schemas("1.30.0", tmp_path_factory.getbasetemp() / "k8s-schemas")
    bad = tmp_path_factory.mktemp("bad") / "bad.yaml"
    bad.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"
        "spec: {replicas: many, selector: {matchLabels: {a: b}}, template: {metadata: "
        "{labels: {a: b}}, spec: {containers: [{name: c, image: i, bogus: 1}]}}}\n"
        "---\napiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\n"
        "spec: {scaleTargetRef: {name: x}, minReplicaCount: one, triggers: [{metadata: {}}]}\n"
        "---\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: x}\n"
        "spec: {groups: [{name: g, rules: [{alert: A, expr: up, for: 5 minutes}]}]}\n"
    )
    report = _kubeconform(bad, "1.30.0", schemas)
    summary = report["summary"]
    assert isinstance(summary, dict)
    assert report["rc"] != 0 and summary["invalid"] == 3, report
