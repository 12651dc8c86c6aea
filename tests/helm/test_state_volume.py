"""The chart gives the state store a writable volume (the root filesystem is read-only)."""

from __future__ import annotations

from tests.helm.test_chart import container, one, render


def test_state_store_gets_an_emptydir_and_the_default_dir_points_at_it() -> None:
    docs = render(sets=("stateDir.sizeLimit=5Gi",))
    c = container(docs)
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["state"] == "/var/lib/braze-bridge"
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["XDG_STATE_HOME"] == "/var/lib/braze-bridge"
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["state"]["emptyDir"] == {"sizeLimit": "5Gi"}
