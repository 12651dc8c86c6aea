"""Chart tests: `helm lint --strict` and `helm template` for every ci/*-values.yaml scenario.

Helm comes from ``scripts/ensure-helm`` (helm on PATH, a cached build, or a fresh
``go install``, a few minutes the first time). These tests never skip: when helm cannot be
obtained they fail with the script's reason.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

# The first run may build helm from source; allow for it on top of the rendering itself.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "braze-bridge"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
RELEASE = "rel"
NAMESPACE = "braze"
CI_API_KEY = "ci-test-api-key-0000000000000000"  # the apiKey in ci/default- and ci/hpa-values

# Every metric the bridge exports (fixed by the service); histograms also expose the
# _bucket/_sum/_count series.
METRICS = {
    "bridge_actions_skipped_total",
    "bridge_completion_map_waits_total",
    "bridge_bulk_pauses_total",
    "bridge_task_failures_total",
    "bridge_workspace_halted",
    "bridge_workspace_requests_total",
    "bridge_workspace_recipients_sent_total",
    "bridge_workspace_ratelimit_remaining",
    "bridge_events_consumed_total",
    "bridge_events_matched_total",
    "bridge_events_skipped_total",
    "bridge_events_dead_lettered_total",
    "bridge_recipients_sent_total",
    "bridge_requests_total",
    "bridge_request_duration_seconds",
    "bridge_retries_total",
    "bridge_rate_limited_total",
    "bridge_ratelimit_remaining",
    "bridge_ratelimit_limit",
    "bridge_ratelimit_reset_timestamp_seconds",
    "bridge_paced_seconds_total",
    "bridge_batch_recipients",
    "bridge_requests_in_flight",
    "bridge_events_in_flight",
    "bridge_consumer_lag",
    "bridge_halted",
    "bridge_last_poll_timestamp_seconds",
    "bridge_config_reloads_total",
    "bridge_circuit_breaker_open",
    "bridge_kafka_rebalances_total",
    "bridge_dead_letter_produced_total",
    "bridge_offset_commits_total",
    "bridge_kafka_write_failures_total",
    "bridge_event_latency_seconds",
    "bridge_oldest_unfinished_event_age_seconds",
    "bridge_partial_errors_total",
    "bridge_build_info",
    "bridge_kafka_client_assigned_partitions",
    "bridge_kafka_client_received_messages_total",
    "bridge_kafka_client_replyq",
    "bridge_shadow_requests_total",
    "bridge_schema_registry_waits_total",
    "bridge_schedule_operations_total",
    "bridge_replay_records_total",
    "bridge_kafka_client_received_bytes_total",
    "bridge_kafka_client_rebalances_total",
    # standard series of the process and of Prometheus itself
    "process_start_time_seconds",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "up",
}
HISTOGRAMS = {
    "bridge_request_duration_seconds",
    "bridge_batch_recipients",
    "bridge_event_latency_seconds",
}
ALERTS = {
    "BrazeBridgeDown",
    "BrazeBridgeAbsent",
    "BrazeBridgeCrashLooping",
    "BrazeBridgeBrazeErrors",
    "BrazeBridgeCommitsFailing",
    "BrazeBridgeKafkaWritesFailing",
    "BrazeBridgeReloadFailed",
    "BrazeBridgeHalted",
    "BrazeBridgeDeadLetterRate",
    "BrazeBridgeLagGrowing",
    "BrazeBridgeRateLimited",
    "BrazeBridgeNoProgress",
    "BrazeBridgeCircuitBreakerOpen",
}


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="session")
def helm() -> str:
    return _helm()


def _helm() -> str:
    path, error = _ensure_helm()
    if error:
        pytest.fail(error)
    return path


@cache
def _ensure_helm() -> tuple[str, str]:
    """(path, "") or ("", reason); cached so a failed build is not retried by every test."""
    script = REPO / "scripts" / "ensure-helm"
    try:
        proc = subprocess.run(
            [str(script)], capture_output=True, text=True, timeout=1500, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "", f"scripts/ensure-helm could not run: {exc!r}"
    if proc.returncode != 0 or not proc.stdout.strip():
        return "", (
            f"could not obtain helm v3 via scripts/ensure-helm (exit {proc.returncode}):\n"
            f"{proc.stderr[-4000:]}"
        )
    return proc.stdout.strip().splitlines()[-1], ""


def _template(
    values: Iterable[Path] = (), sets: Iterable[str] = ()
) -> subprocess.CompletedProcess[str]:
    cmd = [_helm(), "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for path in values:
        cmd += ["--values", str(path)]
    for item in sets:
        cmd += ["--set", item]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@cache
def render(values: tuple[Path, ...] = (), sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    proc = _template(values, sets)
    assert proc.returncode == 0, f"helm template failed:\n{proc.stderr}"
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert docs, "helm template rendered nothing"
    return docs


def render_ci(path: Path, *sets: str) -> list[dict[str, Any]]:
    return render((path,), tuple(sets))


def kinds(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = kinds(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def bridge_config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    cm = next(c for c in kinds(docs, "ConfigMap") if "config.yaml" in c.get("data", {}))
    cfg = yaml.safe_load(cm["data"]["config.yaml"])
    assert isinstance(cfg, dict)
    return cfg


def ci_values(name: str) -> Path:
    path = CHART / "ci" / f"{name}-values.yaml"
    assert path.is_file(), f"missing scenario {path}"
    return path


_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS |= {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def promql_metrics(expr: str) -> set[str]:
    """Metric names referenced by a PromQL expression (a lexical approximation).

    Strips strings, label matchers, range/subquery brackets and grouping clauses, then
    takes every identifier that is neither a function call nor a keyword.
    """
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^{}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names: set[str] = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        if m.start() and (e[m.start() - 1].isdigit() or e[m.start() - 1] in ".$"):
            continue  # exponent of a number literal (1e-9) or a Grafana $variable
        if e[m.end() :].lstrip().startswith("(") or m.group(0).lower() in _KEYWORDS:
            continue
        names.add(m.group(0))
    return names


def known_metric(name: str) -> bool:
    if name in METRICS:
        return True
    base, _, suffix = name.rpartition("_")
    return suffix in {"bucket", "sum", "count"} and base in HISTOGRAMS


def balanced(expr: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for ch in re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr):
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack


def test_promql_metrics_helper() -> None:
    expr = (
        'sum by (topic) (rate(bridge_events_consumed_total{job="x", a=~"b|c"}[5m])) '
        "/ clamp_min(sum(rate(foo_total[1m])), 1e-9) > 0.01 and on(pod) up == 1"
    )
    assert promql_metrics(expr) == {"bridge_events_consumed_total", "foo_total", "up"}
    assert known_metric("bridge_request_duration_seconds_bucket")
    assert not known_metric("bridge_requests_total_bucket")
    assert not known_metric("bridge_requests")
    assert balanced(expr) and not balanced("sum(rate(x[5m])")


# --------------------------------------------------------------------------- lint/render


def test_ci_scenarios_exist() -> None:
    names = {p.name.removesuffix("-values.yaml") for p in CI_VALUES}
    assert {"default", "existing-secret", "keda", "hpa", "full"} <= names


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.stem)
def test_lint_strict(helm: str, values: Path) -> None:
    proc = subprocess.run(
        [helm, "lint", "--strict", str(CHART), "--values", str(values)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.stem)
def test_renders_core_objects(helm: str, values: Path) -> None:
    docs = render_ci(values)
    for kind in ("Deployment", "ConfigMap", "Service"):
        assert kinds(docs, kind), f"no {kind} rendered"
    for doc in docs:
        assert doc["metadata"]["name"].startswith(f"{RELEASE}-braze-bridge")
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "braze-bridge"
        assert labels["app.kubernetes.io/instance"] == RELEASE
    dep = one(docs, "Deployment")
    assert dep["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "braze-bridge",
        "app.kubernetes.io/instance": RELEASE,
    }
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    svc = one(docs, "Service")
    assert [p["name"] for p in svc["spec"]["ports"]] == ["metrics"]


# --------------------------------------------------------------------------- pod spec


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.stem)
def test_probes_use_health_endpoints(helm: str, values: Path) -> None:
    docs = render_ci(values)
    c = container(docs)
    port = bridge_config(docs).get("observability", {}).get("port", 9102)
    assert {"name": "metrics", "containerPort": port, "protocol": "TCP"} in c["ports"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert c["args"] == ["run", "--config", "/etc/braze-bridge/config.yaml"]


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.stem)
def test_security_context(helm: str, values: Path) -> None:
    docs = render_ci(values)
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["runAsUser"] == 10001 and psc["runAsGroup"] == 10001
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for sa in kinds(docs, "ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False

    csc = container(docs)["securityContext"]
    assert csc["runAsNonRoot"] is True
    assert csc["runAsUser"] == 10001
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["capabilities"]["drop"] == ["ALL"]
    assert "add" not in csc["capabilities"]
    assert csc["seccompProfile"] == {"type": "RuntimeDefault"}

    mounts = {m["mountPath"]: m["name"] for m in container(docs)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert volumes[mounts["/etc/braze-bridge"]]["configMap"]["name"] == f"{RELEASE}-braze-bridge"


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.stem)
def test_rendered_config_passes_bridge_check(helm: str, values: Path, tmp_path: Path) -> None:
    """The ConfigMap's config.yaml is accepted by `braze-bridge check` (exit 0)."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(bridge_config(render_ci(values))))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "BRAZE_API_KEY": "test-key-not-real",
        "KAFKA_SASL_PASSWORD": "test-password-not-real",  # referenced by ci/keda-values
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bridge", "check", "--config", str(config)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.stem)
def test_grace_period_exceeds_drain_deadline(helm: str, values: Path) -> None:
    docs = render_ci(values)
    drain = bridge_config(docs).get("shutdown", {}).get("drain_deadline_s", 25)
    grace = one(docs, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > drain
    assert grace == drain + 10  # computed unless set explicitly


def test_grace_period_override(helm: str) -> None:
    docs = render((), ("terminationGracePeriodSeconds=90",))
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 90
    proc = _template(sets=["terminationGracePeriodSeconds=20"])  # drain deadline is 25
    assert proc.returncode != 0
    assert "drain_deadline_s" in proc.stderr


def test_checksum_config_tracks_config(helm: str) -> None:
    base = ci_values("default")

    def checksum(*sets: str) -> str:
        tmpl = one(render_ci(base, *sets), "Deployment")["spec"]["template"]
        value = tmpl["metadata"]["annotations"]["checksum/config"]
        assert re.fullmatch(r"[0-9a-f]{64}", value)
        return str(value)

    original = checksum()
    assert checksum("config.batching.linger_ms=500") != original
    assert checksum("config.kafka.group_id=other") != original
    assert checksum("replicaCount=2") == original  # unrelated values don't roll pods


def test_image_reference(helm: str) -> None:
    dep = one(render_ci(ci_values("default")), "Deployment")
    image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "ghcr.io/braze-kafka-bridge/braze-kafka-bridge:0.1.0"
    full = container(render_ci(ci_values("full")))["image"]
    assert re.fullmatch(r".+:0\.1\.0@sha256:[0-9a-f]{64}", full)


# --------------------------------------------------------------------------- secrets


def _non_secret_text(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all([d for d in docs if d["kind"] != "Secret"])


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.stem)
def test_config_map_holds_only_key_reference(helm: str, values: Path) -> None:
    docs = render_ci(values)
    assert re.fullmatch(r"\$\{[^}]+\}", bridge_config(docs)["braze"]["api_key"])
    for cm in kinds(docs, "ConfigMap"):
        text = json.dumps(cm)
        assert CI_API_KEY not in text
        assert base64.b64encode(CI_API_KEY.encode()).decode() not in text


def test_api_key_only_in_chart_secret(helm: str) -> None:
    docs = render_ci(ci_values("default"))
    secret = one(docs, "Secret")
    data = secret["data"]
    assert list(data) == ["api-key"]
    assert base64.b64decode(data["api-key"]).decode() == CI_API_KEY
    text = _non_secret_text(docs)
    assert CI_API_KEY not in text
    assert data["api-key"] not in text

    env = {e["name"]: e for e in container(docs)["env"]}
    ref = env["BRAZE_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": secret["metadata"]["name"], "key": "api-key"}
    assert "value" not in env["BRAZE_API_KEY"]


def test_existing_secret_is_referenced_not_created(helm: str) -> None:
    docs = render_ci(ci_values("existing-secret"))
    assert not kinds(docs, "Secret")
    env = {e["name"]: e for e in container(docs)["env"]}
    ref = env["BRAZE_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "braze-api-key", "key": "rest-api-key"}


def test_existing_secret_wins_over_api_key(helm: str) -> None:
    docs = render_ci(ci_values("existing-secret"), f"apiKey={CI_API_KEY}")
    assert not kinds(docs, "Secret")
    assert CI_API_KEY not in yaml.safe_dump_all(docs)


def test_no_key_configured_renders_without_secret(helm: str) -> None:
    docs = render()
    assert not kinds(docs, "Secret")
    assert "BRAZE_API_KEY" not in {e["name"] for e in container(docs).get("env") or []}


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ("config.braze.api_key=literal-key-123", "api_key"),
        ("config.kafka.properties.sasl\\.password=hunter2", "sasl.password"),
        ("config.kafka.properties.sasl\\.oauthbearer\\.client\\.secret=s3", "client.secret"),
        ("config.kafka.properties.ssl\\.key\\.password=k", "ssl.key.password"),
        ("config.schema_registry.password=hunter2", "schema_registry.password"),
        ("config.schema_registry.bearer_token=tok-123", "schema_registry.bearer_token"),
    ],
)
def test_literal_secret_in_config_fails(helm: str, setting: str, field: str) -> None:
    proc = _template(sets=["config.schema_registry.url=https://registry:8081", setting])
    assert proc.returncode != 0
    # Rejected by values.schema.json or by the template guard; either names the field.
    assert field in proc.stderr, proc.stderr


# --------------------------------------------------------------------------- scaling


def test_keda_trigger_names_group_and_topics(helm: str) -> None:
    path = ci_values("keda")
    docs = render_ci(path)
    assert not kinds(docs, "HorizontalPodAutoscaler")
    assert "replicas" not in one(docs, "Deployment")["spec"]

    so = one(docs, "ScaledObject")
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    assert so["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-braze-bridge"
    values = yaml.safe_load(path.read_text())
    cfg = bridge_config(docs)
    assert cfg["kafka"]["group_id"] == values["config"]["kafka"]["group_id"]
    rule_topics = {r["topic"] for r in values["config"]["rules"]}
    assert so["spec"]["maxReplicaCount"] == values["keda"]["maxReplicaCount"]

    triggers = so["spec"]["triggers"]
    assert {t["type"] for t in triggers} == {"kafka"}
    assert sorted(t["metadata"]["topic"] for t in triggers) == sorted(rule_topics)
    for t in triggers:
        md = t["metadata"]
        assert md["consumerGroup"] == cfg["kafka"]["group_id"]
        assert md["bootstrapServers"] == cfg["kafka"]["bootstrap_servers"]
        assert md["lagThreshold"] == "500"
        assert all(isinstance(v, str) for v in md.values())
        assert t["authenticationRef"] == {"name": "braze-bridge-kafka"}


def test_keda_with_a_regex_topic_rule_fails_unless_keda_topics_is_set(helm: str) -> None:
    regex = "config.rules[0].topic=^orders\\..*"
    proc = _template((ci_values("keda"),), [regex])
    assert proc.returncode != 0
    assert "regular expression" in proc.stderr and "keda.topics" in proc.stderr, proc.stderr
    docs = render((ci_values("keda"),), (regex, "keda.topics={orders.eu,orders.us}"))
    triggers = one(docs, "ScaledObject")["spec"]["triggers"]
    assert [t["metadata"]["topic"] for t in triggers] == ["orders.eu", "orders.us"]


def test_keda_offset_reset_policy_follows_the_bridge(helm: str) -> None:
    def policies(*sets: str) -> set[str]:
        so = one(render((ci_values("keda"),), sets), "ScaledObject")
        return {t["metadata"]["offsetResetPolicy"] for t in so["spec"]["triggers"]}

    assert policies() == {"earliest"}  # the bridge's kafka.auto_offset_reset default
    assert policies("config.kafka.auto_offset_reset=latest") == {"latest"}
    assert policies("keda.offsetResetPolicy=latest") == {"latest"}


def test_keda_skips_disabled_rules_and_prefers_kafka_topics(helm: str) -> None:
    docs = render((), ("keda.enabled=true", "config.kafka.topics={orders,carts}"))
    topics = [t["metadata"]["topic"] for t in one(docs, "ScaledObject")["spec"]["triggers"]]
    assert topics == ["orders", "carts"]


def test_pdb_lets_drains_evict_unready_pods_where_supported(helm: str) -> None:
    full = ci_values("full")
    pdb = one(render((full,)), "PodDisruptionBudget")
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    proc = subprocess.run(
        [helm, "template", RELEASE, str(CHART), "-f", str(full), "--kube-version", "1.26.0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    old = one([d for d in yaml.safe_load_all(proc.stdout) if d], "PodDisruptionBudget")
    assert "unhealthyPodEvictionPolicy" not in old["spec"]  # unknown field before 1.27


def test_keda_topics_override(helm: str) -> None:
    docs = render((), ("keda.enabled=true", "keda.topics={a,b}"))
    topics = [t["metadata"]["topic"] for t in one(docs, "ScaledObject")["spec"]["triggers"]]
    assert topics == ["a", "b"]


def test_hpa(helm: str) -> None:
    docs = render_ci(ci_values("hpa"))
    assert not kinds(docs, "ScaledObject")
    assert "replicas" not in one(docs, "Deployment")["spec"]
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-braze-bridge"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 4)
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_hpa_and_keda_are_mutually_exclusive(helm: str) -> None:
    proc = _template(
        [ci_values("hpa")],
        ["keda.enabled=true"],
    )
    assert proc.returncode != 0
    assert "mutually exclusive" in proc.stderr


def test_optional_objects_off_by_default(helm: str) -> None:
    docs = render_ci(ci_values("default"))
    present = {d["kind"] for d in docs}
    assert not present & {
        "ServiceMonitor",
        "PrometheusRule",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ScaledObject",
    }
    assert len(kinds(docs, "ConfigMap")) == 1  # no dashboard
    assert one(docs, "Deployment")["spec"]["replicas"] == 1


def test_values_schema(helm: str) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["properties"]["config"]["allOf"][1] == {"$ref": "#/$defs/BridgeConfig"}
    for bad in ("replicaCount=many", "unknownTopLevel=1", "image.digest=latest", "config=x"):
        proc = _template(sets=[bad])
        assert proc.returncode != 0, bad
        assert "schema" in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("setting", "where"),
    [
        ("config.batching.max_recipients=500", "/config/batching/max_recipients"),
        ("config.rules=null", "missing property 'rules'"),
        ("config.kafka.auto_offset_reset=newest", "/config/kafka/auto_offset_reset"),
        ("config.delivery.unknown_field=1", "/config/delivery"),
    ],
)
def test_config_is_validated_against_the_bridge_schema_at_render(
    helm: str, setting: str, where: str
) -> None:
    """The bridge's own JSON Schema (schemas/bridge-config.schema.json, embedded by
    bridge.docgen) rejects an invalid config at `helm template`/`install` time, not when the
    pods exit 78 later."""
    proc = _template(sets=[setting])
    assert proc.returncode != 0, setting
    assert "schema" in proc.stderr and where in proc.stderr, proc.stderr


def test_values_schema_embeds_the_current_bridge_schema() -> None:
    from bridge.docgen import VALUES_SCHEMA, values_schema

    assert VALUES_SCHEMA.read_text() == values_schema(VALUES_SCHEMA.read_text()), (
        "run python -m bridge.docgen --write"
    )


# --------------------------------------------------------------------------- monitoring


def test_service_monitor_and_pdb_and_network_policy(helm: str) -> None:
    docs = render_ci(ci_values("full"))
    sm = one(docs, "ServiceMonitor")
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"

    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] == RELEASE

    np = one(docs, "NetworkPolicy")
    assert set(np["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert np["spec"]["ingress"][0]["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    egress_ports = {p["port"] for rule in np["spec"]["egress"] for p in rule["ports"]}
    assert {53, 9092, 443} <= egress_ports


def test_prometheus_rule_alerts(helm: str) -> None:
    rule = one(render_ci(ci_values("full")), "PrometheusRule")
    rules = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    by_name = {r["alert"]: r for r in rules if "alert" in r}
    assert set(by_name) == ALERTS
    for name, r in by_name.items():
        expr = r["expr"]
        assert isinstance(expr, str) and expr.strip(), name
        assert balanced(expr), f"{name}: unbalanced brackets in {expr!r}"
        threshold = re.search(r"(==|!=|>=|<=|>|<)\s*[0-9.]", expr)
        assert threshold or expr.startswith("absent("), f"{name}: no threshold"
        metrics = promql_metrics(expr)
        assert metrics, f"{name}: references no metric"
        unknown = {m for m in metrics if not known_metric(m)}
        assert not unknown, f"{name}: unknown metrics {unknown}"
        assert 'namespace="braze"' in expr and f'job="{RELEASE}-braze-bridge"' in expr
        assert re.fullmatch(r"\d+[smh]", r["for"])
        assert r["labels"]["severity"] in {"critical", "warning", "info"}
        assert r["labels"]["team"] == "crm"  # prometheusRule.additionalLabels
        assert r["annotations"]["summary"]
        assert r["annotations"]["runbook_url"].endswith("#" + name.lower())
    assert 'reason!~"shutdown|circuit_breaker"' in by_name["BrazeBridgeHalted"]["expr"]
    assert "bridge_rate_limited_total" in by_name["BrazeBridgeRateLimited"]["expr"]
    assert "bridge_last_poll_timestamp_seconds" in by_name["BrazeBridgeNoProgress"]["expr"]


def test_prometheus_rule_alert_can_be_disabled(helm: str) -> None:
    docs = render((ci_values("full"),), ("prometheusRule.alerts.rateLimited.enabled=false",))
    rules = one(docs, "PrometheusRule")["spec"]["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == ALERTS - {"BrazeBridgeRateLimited"}


def _dashboard_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    exprs: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for p in panels:
            for t in p.get("targets", []):
                exprs.append((p["title"], t["expr"]))
            walk(p.get("panels", []))

    walk(dashboard["panels"])
    return exprs


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in panels:
        out.append(p)
        out += _panels(p.get("panels", []))
    return out


def test_dashboard_describes_every_panel_and_shows_every_metric_an_sre_needs() -> None:
    from prometheus_client import CollectorRegistry

    from bridge.ops.metrics import Metrics

    dashboard = json.loads((CHART / "dashboards" / "braze-bridge.json").read_text())
    panels = _panels(dashboard["panels"])
    assert not [p["title"] for p in panels if not p.get("description")]
    exprs = " ".join(expr for _title, expr in _dashboard_exprs(dashboard))
    m = Metrics(CollectorRegistry())
    m.kafka_stats({"cgrp": {}})
    wanted = {
        f.name + ("_total" if f.type == "counter" else "")
        for f in m.registry.collect()
        if f.name.startswith("bridge_")
    }
    # gauges of librdkafka's view that duplicate bridge series on the dashboard
    wanted -= {
        "bridge_kafka_client_assigned_partitions",
        "bridge_kafka_client_received_messages_total",
        "bridge_kafka_client_rebalances_total",
    }
    missing = sorted(n for n in wanted if n not in exprs)
    assert not missing, f"metrics not on the dashboard: {missing}"
    for p in panels:
        targets = p.get("targets", [])
        if len(targets) < 2:
            continue
        # two queries with different units must not share one axis
        overrides = p.get("fieldConfig", {}).get("overrides", [])
        units = {p.get("fieldConfig", {}).get("defaults", {}).get("unit")}
        for o in overrides:
            for prop in o["properties"]:
                if prop["id"] == "unit":
                    placed = {q["id"]: q["value"] for q in o["properties"]}
                    assert placed.get("custom.axisPlacement") == "right", p["title"]
                    units.add(prop["value"])
        assert len(units) <= 2, p["title"]


def test_dashboard(helm: str) -> None:
    source = json.loads((CHART / "dashboards" / "braze-bridge.json").read_text())
    docs = render_ci(ci_values("full"))
    cm = next(c for c in kinds(docs, "ConfigMap") if c["metadata"]["name"].endswith("-dashboard"))
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["braze-bridge.json"])
    assert dashboard == source
    assert dashboard["uid"] == "braze-bridge"

    exprs = _dashboard_exprs(dashboard)
    assert len(exprs) >= 20
    used: set[str] = set()
    for title, expr in exprs:
        assert balanced(expr), f"{title}: {expr!r}"
        metrics = promql_metrics(expr)
        assert metrics, f"panel {title!r} references no metric"
        unknown = {m for m in metrics if not known_metric(m)}
        assert not unknown, f"panel {title!r}: unknown metrics {unknown}"
        used |= metrics
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            m = re.match(r"label_values\((\w+)", var["definition"])
            assert m and known_metric(m.group(1)), var["definition"]
    # The panels a responder needs first.
    for needed in (
        "bridge_consumer_lag",
        "bridge_requests_total",
        "bridge_rate_limited_total",
        "bridge_events_dead_lettered_total",
        "bridge_halted",
        "bridge_ratelimit_remaining",
    ):
        assert needed in used, needed
