"""Golden cases (`braze-bridge test`), `check`, `preview`, and sandbox acceptance of them all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bridge.cli import main
from bridge.sandbox import SandboxOptions, SandboxServer

GOLDEN = Path("tests/golden/actions.yaml")


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAZE_API_KEY", "golden-key")


def test_shipped_golden_cases_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "tests/golden"]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and "FAIL" not in out


def test_a_wrong_expectation_fails_with_a_readable_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = yaml.safe_load(GOLDEN.read_text())
    doc["config"] = str(Path("config/actions.yaml").resolve())
    case = doc["cases"][0]
    case["expect"]["requests"][0]["body"]["recipients"][0]["trigger_properties"]["total"] = 1
    doc["cases"] = [case]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(doc))
    assert main(["test", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "1 failed" in out
    assert '"total": 1\n' in out and '+              "total": 129.5' in out


def test_check_lists_rules_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", "config/actions.yaml"]) == 0
    out = capsys.readouterr().out
    assert "wismo-reminder" in out and "campaign_schedule camp-wismo" in out


def test_check_on_a_broken_config_names_the_field_and_exits_78(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = Path("config/example.yaml").read_text().replace("campaign_id: 0f8e7a2c", "campaign: x")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    assert main(["check", "--config", str(bad)]) == 78  # EX_CONFIG; 2 is argparse's usage
    err = capsys.readouterr().err
    assert str(bad) in err and "rules[0]" in err


def test_check_warns_about_unset_key_but_passes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BRAZE_API_KEY")
    assert main(["check", "--config", "config/example.yaml"]) == 0
    assert "BRAZE_API_KEY is not set" in capsys.readouterr().err  # warnings on stderr


def test_preview_prints_the_exact_request(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "preview",
            "--config",
            "config/example.yaml",
            "--topic",
            "orders",
            "config/events/order-shipped.json",
        ]
    )
    assert rc == 0
    import orjson

    out = orjson.loads(capsys.readouterr().out)
    (req,) = out["requests"]
    assert req["path"] == "/campaigns/trigger/send"
    assert req["body"]["recipients"][0]["trigger_properties"]["greeting"] == (
        "Hi {{${first_name} | default: 'there'}}"
    )


def _golden_requests() -> list[tuple[str, dict[str, Any]]]:
    doc = yaml.safe_load(GOLDEN.read_text())
    out = []
    for case in doc["cases"]:
        for r in (case.get("expect") or {}).get("requests") or []:
            out.append((r["path"], r["body"]))
    return out


def test_sandbox_accepts_every_golden_request_in_lifecycle_order() -> None:
    srv = SandboxServer(SandboxOptions(api_key="golden-key"))
    url = srv.start_in_thread()
    ids: dict[str, str] = {}
    seen_paths = set()
    try:
        with httpx.Client(base_url=url, headers={"Authorization": "Bearer golden-key"}) as c:
            for path, body in _golden_requests():
                body = dict(body)
                sid = body.get("schedule_id")
                if isinstance(sid, str) and sid.startswith("<schedule_id of "):
                    body["schedule_id"] = ids[sid[len("<schedule_id of ") : -1]]
                r = c.post(path, json=body)
                assert 200 <= r.status_code < 300, (path, r.status_code, r.text)
                seen_paths.add(path)
                if path.endswith("/schedule/create"):
                    key = _create_key(path, body)
                    ids[key] = r.json()["schedule_id"]
            r = c.post(
                "/sends/id/create",
                json={"campaign_id": "camp-shipped", "send_id": "shipments-2026"},
            )
            assert r.status_code < 300, r.text
            r = c.get("/messages/scheduled_broadcasts", params={"end_time": "2031-01-01T00:00:00Z"})
            assert r.status_code == 200 and "scheduled_broadcasts" in r.json()
    finally:
        srv.stop()
    assert len(seen_paths) == 13  # every POST messaging endpoint but /sends/id/create


def _create_key(path: str, body: dict[str, Any]) -> str:
    if path.startswith("/campaigns"):
        return f"schedule/wismo-reminder/{body['recipients'][0]['trigger_properties']['order_id']}"
    if path.startswith("/canvas"):
        return f"schedule/review-request/{body['recipients'][0]['context']['order_id']}"
    return f"schedule/trial-ending/{body['external_user_ids'][0]}"


def test_generated_docs_and_config_schema_are_current() -> None:
    from bridge.docgen import main as docgen

    assert docgen([]) == 0, "run: python -m bridge.docgen --write"


def test_config_schema_describes_every_top_level_section() -> None:
    import orjson

    from bridge.settings import Settings

    schema = orjson.loads(Path("schemas/bridge-config.schema.json").read_text())
    assert schema["title"] == "braze-bridge configuration"
    assert set(schema["required"]) == {"kafka", "braze", "rules"}
    assert set(schema["properties"]) == set(Settings.model_fields)


def test_preview_of_a_json_event_on_an_avro_topic_goes_through_the_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import orjson

    cfg = yaml.safe_load(Path("config/example.yaml").read_text())
    cfg["decoding"] = {
        "orders": {"format": "avro", "schema": str(Path("schemas/order_event.avsc").resolve())}
    }
    cfg["rules"] = [r for r in cfg["rules"] if r["topic"] == "orders"][:1]
    cfg["rules"][0]["trigger_properties"] = {"order_id": "$.order.id", "at": "$.occurred_at"}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    event = {
        "type": "order.shipped",
        "user": {"id": "u1", "email": "a@b.c"},
        "order": {"id": "o1", "total": 3.5, "currency": "EUR"},
        "occurred_at": 1_800_000_000_000,
    }
    (tmp_path / "e.json").write_bytes(orjson.dumps(event))
    assert (
        main(["preview", "-c", str(tmp_path / "c.yaml"), "-t", "orders", str(tmp_path / "e.json")])
        == 0
    )
    out = orjson.loads(capsys.readouterr().out)
    props = out["requests"][0]["body"]["recipients"][0]["trigger_properties"]
    assert props["order_id"] == "o1" and props["at"].startswith("2027-01-15T08:00:00")
    # an event that does not fit the schema is refused with the reason
    (tmp_path / "bad.json").write_bytes(orjson.dumps({"type": 1}))
    assert (
        main(
            ["preview", "-c", str(tmp_path / "c.yaml"), "-t", "orders", str(tmp_path / "bad.json")]
        )
        == 1
    )
    assert "does not match" in capsys.readouterr().err


def test_check_warns_about_rules_that_can_never_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = yaml.safe_load(Path("config/example.yaml").read_text())
    cfg["rules"][0]["when"] = {"type": "order.shipped", "$.order.total": {"gt": 10, "lt": 5}}
    cfg["rules"][1]["when"] = {"any": [{"type": {"one_of": []}}]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["check", "-c", str(tmp_path / "c.yaml")]) == 0
    out = capsys.readouterr().err  # warnings go to stderr
    assert "'order-shipped' can never match: $.order.total: the lower bound 10" in out
    assert "'big-order-vip' can never match: type: one_of is empty" in out
