"""Structured logs: one JSON object per line on stderr, secrets and PII kept out.

Fields named like user identifiers (``user``, ``external_user_id``, ``email``, ...) are masked
or hashed according to ``observability.pii``; the Braze key is registered as a secret and
replaced wherever it would appear.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from typing import Any

import orjson

_STD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_PII_FIELDS = {"user", "user_id", "external_user_id", "email", "alias_name", "recipient", "key"}
_secrets: list[str] = []


def register_secret(value: str) -> None:
    """Never let ``value`` reach a log line."""
    if value and value not in _secrets:
        _secrets.append(value)


def scrub(text: str) -> str:
    for s in _secrets:
        if s in text:
            text = text.replace(s, "***")
    return text


def mask_pii(value: Any, mode: str) -> Any:
    if mode == "none" or value is None:
        return value
    text = str(value)
    if mode == "hash":
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    if "@" in text:
        local, _, domain = text.partition("@")
        return (local[:1] + "***@" + domain) if local else "***@" + domain
    return text[:2] + "***" if len(text) > 4 else "***"


class JsonFormatter(logging.Formatter):
    def __init__(self, pii: str) -> None:
        super().__init__()
        self.pii = pii

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k in _STD or k.startswith("_"):
                continue
            out[k] = mask_pii(v, self.pii) if k in _PII_FIELDS else v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return scrub(orjson.dumps(out, default=str).decode())


class TextFormatter(logging.Formatter):
    def __init__(self, pii: str) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.pii = pii

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = [
            f"{k}={mask_pii(v, self.pii) if k in _PII_FIELDS else v}"
            for k, v in record.__dict__.items()
            if k not in _STD and not k.startswith("_")
        ]
        return scrub(base + (" " + " ".join(extras) if extras else ""))


def setup(level: str = "INFO", fmt: str = "json", pii: str = "mask") -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(pii) if fmt == "json" else TextFormatter(pii))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
