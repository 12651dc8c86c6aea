"""Structured logs: one JSON object per line on stderr, secrets and PII kept out.

Fields named like user identifiers (``user``, ``external_user_id``, ``email``, ...) are masked
or hashed according to ``observability.pii``, and so is every e-mail address inside any other
field or message; the Braze key is registered as a secret and replaced wherever it would
appear, also JSON-, repr- or URL-escaped.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
import time
from typing import Any
from urllib.parse import quote, quote_plus

import orjson

_STD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_PII_FIELDS = {"user", "user_id", "external_user_id", "email", "alias_name", "recipient", "key"}
_secrets: list[str] = []
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+")


def _escaped_forms(value: str) -> set[str]:
    """The ways a secret shows up in text: literal, repr/ascii-escaped (exception reprs),
    URL-encoded, and each of those JSON-escaped (inside a JSON log line)."""
    forms = {value, repr(value)[1:-1], ascii(value)[1:-1], quote(value, safe=""), quote_plus(value)}
    forms |= {orjson.dumps(f).decode()[1:-1] for f in list(forms)}
    return {f for f in forms if f == value or len(f) >= 4}


MIN_SECRET_LEN = 4  # shorter values would garble every line they occur in ("k" in "kafka")


def register_secret(value: str) -> None:
    """Never let ``value`` (or an escaped form of it) reach a log line.

    Values shorter than :data:`MIN_SECRET_LEN` are not scrubbed: replacing every "k" or "ab"
    would destroy the logs, and such a value is no secret worth the name (real Braze keys
    are UUIDs)."""
    if len(value) < MIN_SECRET_LEN:
        return
    for form in sorted(_escaped_forms(value), key=len, reverse=True):
        if form not in _secrets:
            _secrets.append(form)
    _secrets.sort(key=len, reverse=True)  # longest first: no partial leftovers


def scrub(text: str) -> str:
    for s in _secrets:
        if s in text:
            text = text.replace(s, "***")
    return text


def mask_emails(text: str, mode: str) -> str:
    """Mask e-mail addresses anywhere in free text (error messages, reasons)."""
    if mode == "none" or "@" not in text:
        return text
    return _EMAIL.sub(lambda m: str(mask_pii(m.group(0), mode)), text)


def _mask_free_text(value: Any, mode: str) -> Any:
    return mask_emails(value, mode) if isinstance(value, str) else value


def librdkafka_logger() -> logging.Logger:
    """For librdkafka's ``logger`` property: its lines become JSON lines like every other
    (scrubbed, PII-masked) instead of raw ``%3|...|FAIL|`` text on stderr."""
    return logging.getLogger("bridge.librdkafka")


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
            "msg": mask_emails(record.getMessage(), self.pii),
        }
        for k, v in record.__dict__.items():
            if k in _STD or k.startswith("_"):
                continue
            out[k] = mask_pii(v, self.pii) if k in _PII_FIELDS else _mask_free_text(v, self.pii)
        if record.exc_info:
            out["exc"] = mask_emails(self.formatException(record.exc_info), self.pii)
        return scrub(orjson.dumps(out, default=str).decode())


class TextFormatter(logging.Formatter):
    def __init__(self, pii: str) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.pii = pii

    def format(self, record: logging.LogRecord) -> str:
        base = mask_emails(super().format(record), self.pii)
        extras = [
            f"{k}={mask_pii(v, self.pii) if k in _PII_FIELDS else _mask_free_text(v, self.pii)}"
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
