"""Configuration of the decode stage, embedded by the main config model.

``RegistrySettings`` describes how to reach a Confluent-compatible schema registry;
``DecoderSettings`` chooses how a topic's record values are decoded. Both are frozen and
reject unknown keys, so a typo in the YAML is an error naming the field. Secrets arrive
already resolved (``${ENV}`` / ``${file:...}`` are expanded by the config loader) and are
kept in :class:`~pydantic.SecretStr`, so they never appear in a ``repr`` or a log line.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

DecodeFormat = Literal["json", "avro", "confluent_avro"]
CloudEventsMode = Literal["none", "structured", "binary", "auto"]


class RegistrySettings(BaseModel):
    """A Confluent-compatible schema registry (Confluent, Apicurio ``/apis/ccompat/v7``...).

    Authentication is either HTTP basic (``username`` + ``password``) or a bearer token,
    never both. ``ca_file`` adds a CA bundle to verify the registry's certificate;
    ``verify_tls: false`` disables verification (tests only). ``client_cert_file`` (and
    ``client_key_file`` when the key is separate) enable mutual TLS.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(description="Base URL, e.g. https://registry:8081 or .../apis/ccompat/v7")
    username: str | None = None
    password: SecretStr | None = None
    bearer_token: SecretStr | None = None
    ca_file: str | None = None
    verify_tls: bool = True
    client_cert_file: str | None = None
    client_key_file: str | None = None
    timeout_s: float = Field(default=5.0, gt=0, le=300)
    cache_size: int = Field(default=1000, ge=1, le=1_000_000)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                "must not carry credentials; use username/password or bearer_token instead"
            )
        if parts.query or parts.fragment:
            raise ValueError("must not have a query string or fragment")
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _check_auth(self) -> RegistrySettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password must be given together")
        if self.bearer_token is not None and self.username is not None:
            raise ValueError("use either basic auth (username/password) or bearer_token, not both")
        if self.client_key_file is not None and self.client_cert_file is None:
            raise ValueError("client_key_file needs client_cert_file")
        return self


class DecoderSettings(BaseModel):
    """How one topic's record values are decoded.

    ``format``:
      * ``json`` — the value is UTF-8 JSON.
      * ``avro`` — the value is a bare Avro body written with the fixed schema in the
        ``.avsc`` file named by ``schema`` (relative to the config file's directory).
      * ``confluent_avro`` — Confluent wire format (magic byte 0, 4-byte schema id, Avro
        body); the writer schema is fetched from the schema registry by id.
        ``reader_schema`` (an ``.avsc`` path) optionally projects every record onto one
        shape (Avro schema resolution: added fields get defaults, removed ones vanish).

    ``cloudevents`` wraps the decoder so each record becomes a CloudEvents envelope
    ``{"specversion", "id", "source", "type", ..., "data": <decoded value>}``:
    ``structured`` (the value is the JSON envelope), ``binary`` (``ce_*`` headers plus the
    value as data), ``auto`` (detected per record from the headers) or ``none``.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True
    )

    format: DecodeFormat = "json"
    # ``schema`` would shadow a BaseModel attribute: the YAML key is ``schema``, the
    # Python attribute ``schema_path``.
    schema_path: str | None = Field(default=None, alias="schema")
    reader_schema: str | None = None
    cloudevents: CloudEventsMode = "none"

    @model_validator(mode="after")
    def _check_schema(self) -> DecoderSettings:
        if self.format == "avro" and not self.schema_path:
            raise ValueError("format 'avro' needs 'schema' (path to an .avsc file)")
        if self.format != "avro" and self.schema_path is not None:
            raise ValueError(f"'schema' is only used by format 'avro', not {self.format!r}")
        if self.format != "confluent_avro" and self.reader_schema is not None:
            raise ValueError(
                f"'reader_schema' is only used by format 'confluent_avro', not {self.format!r}"
            )
        return self
