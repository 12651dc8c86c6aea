"""Settings of the Braze sandbox (`SandboxOptions`) and loading them from mappings/files.

The same snake_case keys are used by the `--config FILE` file (JSON or YAML), by
`POST /_sandbox/config` (partial update at run time) and by `SandboxOptions(...)`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from bridge.sandbox.fields import MAX_PROPERTIES_BYTES

DEFAULT_API_KEY = "sandbox-api-key"
API_KEY_ENV = "BRAZE_SANDBOX_API_KEY"
ADMIN_TOKEN_ENV = "BRAZE_SANDBOX_ADMIN_TOKEN"  # noqa: S105 - a variable name
MAX_BODY_BYTES = 4 * 1024 * 1024

# Success status per endpoint. 201 is documented for the Canvas trigger send and the
# live-activity update; everything else is undocumented and defaults to 200.
DEFAULT_SUCCESS_STATUS: dict[str, int] = {
    "/canvas/trigger/send": 201,
    "/messages/live_activity/update": 201,
    "/messages/live_activity/start": 201,
}
RECORD_MAX_BYTES = 256 * 1024 * 1024


class OptionsError(ValueError):
    """A setting has the wrong type or value."""


@dataclass
class SandboxOptions:
    host: str = "127.0.0.1"
    port: int = 4010
    api_key: str = field(default_factory=lambda: os.environ.get(API_KEY_ENV) or DEFAULT_API_KEY)
    # None = any id accepted; a set = ids outside it are answered 400 "Invalid Campaign ID".
    campaign_ids: frozenset[str] | None = None
    canvas_ids: frozenset[str] | None = None
    paused_canvases: frozenset[str] = frozenset()
    archived_canvases: frozenset[str] = frozenset()
    hourly_limit: int = 250_000
    hourly_window_s: int = 3600
    broadcast_limit: int = 250
    broadcast_window_s: int = 60
    # Optional NEW-wording per-unique-audience broadcast limit (None = off).
    broadcast_audience_limit: int | None = None
    sends_id_daily_limit: int = 100
    sends_id_window_s: int = 86_400
    faults: dict[str, Any] | None = None
    seed: int | None = None
    record_limit: int = 100_000
    success_status: dict[str, int] = field(default_factory=dict)
    scheduled_broadcasts: list[dict[str, Any]] = field(default_factory=list)
    # Braze documents dashboard schedules only; API-created ones behind this option.
    list_api_schedules: bool = False
    company_time_zone: str = "UTC"
    max_body_bytes: int = MAX_BODY_BYTES
    # trigger_properties / context / canvas_entry_properties limit ("50 KB"; 1,024 per K)
    max_properties_bytes: int = MAX_PROPERTIES_BYTES
    # Memory bound of the recorded requests (bodies + responses), besides record_limit.
    record_max_bytes: int = RECORD_MAX_BYTES
    # Strict readings where Braze's docs are strict (False = the sandbox's older lenient one):
    # an audience/segment_id without recipients needs broadcast: true ...
    require_broadcast_flag: bool = True
    # ... and a send_id must have been created (/sends/id/create) for the request's campaign.
    strict_send_ids: bool = True
    # Lenient readings where Braze's own examples do it (False = reject):
    allow_both_schedule_flags: bool = True
    allow_local_time_offset: bool = True
    # A second secret accepted by the state-changing /_sandbox/* calls (besides the API key).
    admin_token: str | None = field(default_factory=lambda: os.environ.get(ADMIN_TOKEN_ENV) or None)
    # Also require the key/token for the reads (GET /_sandbox/requests shows request bodies).
    protect_inspection: bool = False

    def __post_init__(self) -> None:
        # accept any iterable of ids from Python callers (lists, sets)
        for name in _ID_SETS + _STR_SETS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, frozenset):
                setattr(self, name, _str_list(name, list(value)))

    def status_for(self, path: str) -> int:
        if path in self.success_status:
            return self.success_status[path]
        return DEFAULT_SUCCESS_STATUS.get(path, 200)

    def public_dict(self) -> dict[str, Any]:
        """The settings as JSON-able data, without the API key."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in ("api_key", "admin_token"):
                continue
            if isinstance(v, frozenset):
                v = sorted(v)
            out[f.name] = v
        out["api_key_set"] = bool(self.api_key)
        out["admin_token_set"] = bool(self.admin_token)
        return out


_ID_SETS = ("campaign_ids", "canvas_ids")
_STR_SETS = ("paused_canvases", "archived_canvases")
_POS_INTS = (
    "hourly_limit",
    "hourly_window_s",
    "broadcast_limit",
    "broadcast_window_s",
    "sends_id_daily_limit",
    "sends_id_window_s",
    "max_body_bytes",
    "max_properties_bytes",
    "record_max_bytes",
)
_BOOLS = (
    "list_api_schedules",
    "require_broadcast_flag",
    "strict_send_ids",
    "allow_both_schedule_flags",
    "allow_local_time_offset",
    "protect_inspection",
)
KNOWN_KEYS = frozenset(f.name for f in dataclasses.fields(SandboxOptions))


def _str_list(key: str, value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset([value])
    if not isinstance(value, list | tuple | set | frozenset) or not all(
        isinstance(x, str) for x in value
    ):
        raise OptionsError(f"{key}: expected a list of strings")
    return frozenset(value)


def _int(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise OptionsError(f"{key}: expected an integer >= {minimum}")
    return value


def coerce(key: str, value: Any) -> Any:
    """Check and convert one setting; raises OptionsError."""
    if key not in KNOWN_KEYS:
        raise OptionsError(f"unknown setting {key!r}")
    if key in _ID_SETS:
        return None if value is None else _str_list(key, value)
    if key in _STR_SETS:
        return _str_list(key, value or [])
    if key in _POS_INTS:
        return _int(key, value, 1)
    if key in ("port", "record_limit"):
        return _int(key, value, 0)
    if key in ("seed", "broadcast_audience_limit"):
        return None if value is None else _int(key, value, 0 if key == "seed" else 1)
    if key in ("host", "api_key", "company_time_zone"):
        if not isinstance(value, str) or not value:
            raise OptionsError(f"{key}: expected a non-empty string")
        return value
    if key == "admin_token":
        if value is not None and (not isinstance(value, str) or not value):
            raise OptionsError(f"{key}: expected a non-empty string or null")
        return value
    if key in _BOOLS:
        if not isinstance(value, bool):
            raise OptionsError(f"{key}: expected a boolean")
        return value
    if key == "faults":
        if value is not None and not isinstance(value, dict):
            raise OptionsError("faults: expected an object")
        return value
    if key == "success_status":
        return _success_status(value)
    if key == "scheduled_broadcasts":
        return _broadcast_list(value)
    raise OptionsError(f"unknown setting {key!r}")  # pragma: no cover


def _success_status(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise OptionsError("success_status: expected an object {path: status}")
    out: dict[str, int] = {}
    for path, status in value.items():
        if not isinstance(path, str) or not path.startswith("/"):
            raise OptionsError(f"success_status: bad path {path!r}")
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 299:
            raise OptionsError(f"success_status[{path}]: expected a 2xx status")
        out[path] = status
    return out


def _broadcast_list(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise OptionsError("scheduled_broadcasts: expected a list of objects")
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("next_send_time"), str):
            raise OptionsError(f"scheduled_broadcasts[{i}]: needs a next_send_time string")
    return [dict(x) for x in value]


def apply_mapping(opts: SandboxOptions, data: Mapping[str, Any]) -> SandboxOptions:
    """A copy of `opts` with the settings of `data` applied (all checked first)."""
    changes = {key.replace("-", "_"): value for key, value in data.items()}
    checked = {key: coerce(key, value) for key, value in changes.items()}
    return dataclasses.replace(opts, **checked)


def load_file_or_json(text: str) -> dict[str, Any]:
    """Parse `text` as inline JSON (when it starts with '{') or as a JSON/YAML file path."""
    stripped = text.strip()
    if stripped.startswith("{"):
        raw: Any = orjson.loads(stripped)
    else:
        content = Path(text).read_text(encoding="utf-8")
        if text.endswith(".json"):
            raw = orjson.loads(content)
        else:
            raw = yaml.safe_load(content)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise OptionsError(f"{text}: expected a mapping at the top level")
    return raw
