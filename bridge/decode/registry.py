"""A small client for the Confluent-compatible schema registry API.

Only what the bridge needs: ``GET /schemas/ids/{id}`` (the writer schema of a Confluent
wire-format record), ``POST /subjects/{subject}/versions`` (register; used by tests,
benchmarks and the demo) and ``GET /subjects`` (a cheap reachability probe). Works with
Confluent Schema Registry and with Apicurio Registry's ``/apis/ccompat/v7`` API.

Failures are classified for the pipeline:

* unknown schema id (404 with ``error_code`` 40403) -> :class:`SchemaNotFoundError`
  (a :class:`~bridge.errors.DecodeError`: the record is dead-lettered);
* connection errors, timeouts, 5xx, 429, 401/403 and a 404 without the registry's error
  code (a wrong base URL) -> :class:`~bridge.errors.SchemaRegistryUnavailable`
  (transient: the record is retried and the partition paused);
* any other 4xx -> :class:`~bridge.errors.DecodeError`.

Schemas are cached by id in a thread-safe LRU (ids are immutable in the registry, so
entries never expire); "not found" answers are remembered only for ``negative_ttl_s``
so a burst of records with the same unknown id costs one request, yet a schema that
appears later (registry replication lag) is picked up. Lookups that end "not found" may use
at most 20 % of wall time (after a 1 s burst); beyond that, uncached ids are answered as
transient, so the record's partition waits and retries while other topics go on (records
with random schema ids cost one round trip each, on the poll thread). Credentials are never
logged and never appear in ``repr``.

The HTTP side (auth, TLS, failure wording) is in :mod:`bridge.decode.registry_http`; the
caches and the unknown-id budget are in :mod:`bridge.decode.schema_cache`.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from bridge.decode import registry_http as wire
from bridge.decode.schema_cache import LruCache, MissBudget, NegativeCache
from bridge.decode.settings import RegistrySettings
from bridge.errors import BridgeError, DecodeError, SchemaRegistryUnavailable

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_SCHEMA_NOT_FOUND = 40403


class SchemaNotFoundError(DecodeError):
    """The registry does not know this schema id (permanent for the record)."""

    def __init__(self, schema_id: int) -> None:
        self.schema_id = schema_id
        super().__init__(f"schema id {schema_id} not found in the schema registry")


class SchemaRegistryRequestError(BridgeError):
    """A registry request (other than a schema lookup) was refused, e.g. on register."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        self.status = status
        self.body = body
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class RegisteredSchema:
    """A schema as stored in the registry."""

    schema_id: int
    schema: str
    schema_type: str = "AVRO"


class SchemaRegistryClient:
    """Synchronous, thread-safe client of a Confluent-compatible schema registry."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        bearer_token: str | None = None,
        verify_tls: bool = True,
        ca_file: str | None = None,
        client_cert_file: str | None = None,
        client_key_file: str | None = None,
        timeout_s: float = 5.0,
        cache_size: int = 1000,
        negative_ttl_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        auth = wire.registry_auth(username, password, bearer_token)
        self.url = url.rstrip("/")
        verify: ssl.SSLContext | bool = True
        if self.url.startswith("https://"):
            verify = wire.ssl_context(
                verify=verify_tls,
                ca_file=ca_file,
                client_cert_file=client_cert_file,
                client_key_file=client_key_file,
            )
        self._http = wire.http_client(self.url, auth, verify, timeout_s, transport)
        self.cache_size = cache_size
        self._cache: LruCache[int, RegisteredSchema] = LruCache(cache_size)
        self._negative = NegativeCache(cache_size, negative_ttl_s)
        self._budget = MissBudget()
        self._counter_lock = threading.Lock()
        self.requests_sent = 0  # schema lookups that went over HTTP (for tests/metrics)

    @property
    def misses(self) -> int:
        """Lookups answered "not found"."""
        return self._budget.misses

    @property
    def throttled(self) -> int:
        """Lookups deferred by the unknown-id budget."""
        return self._budget.throttled

    @classmethod
    def from_settings(
        cls, settings: RegistrySettings, *, transport: httpx.BaseTransport | None = None
    ) -> SchemaRegistryClient:
        return cls(
            settings.url,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            bearer_token=(
                settings.bearer_token.get_secret_value() if settings.bearer_token else None
            ),
            verify_tls=settings.verify_tls,
            ca_file=settings.ca_file,
            client_cert_file=settings.client_cert_file,
            client_key_file=settings.client_key_file,
            timeout_s=settings.timeout_s,
            cache_size=settings.cache_size,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"SchemaRegistryClient(url={self.url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SchemaRegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lookups -------------------------------------------------------------------

    def get_schema(self, schema_id: int) -> RegisteredSchema:
        """The schema registered under ``schema_id`` (cached)."""
        cached = self._cache.get(schema_id)
        if cached is not None:
            return cached
        if schema_id in self._negative:
            raise SchemaNotFoundError(schema_id)
        self._check_miss_budget()
        with self._counter_lock:
            self.requests_sent += 1
        started = time.monotonic()
        response = self._request("GET", f"/schemas/ids/{schema_id}", what=f"schema {schema_id}")
        if response.status_code == 404 and wire.error_code(response) == _SCHEMA_NOT_FOUND:
            now = time.monotonic()
            self._negative.add(schema_id, now)
            self._budget.charge(now - started, now)
            raise SchemaNotFoundError(schema_id)
        if response.status_code != 200:
            raise self._lookup_error(response, f"schema {schema_id}")
        try:
            body = response.json()
            schema = body["schema"]
            schema_type = body.get("schemaType") or "AVRO"
            if not isinstance(schema, str) or not isinstance(schema_type, str):
                raise TypeError("schema/schemaType must be strings")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SchemaRegistryUnavailable(
                f"schema registry at {self.url} returned an unreadable answer for schema "
                f"{schema_id}: {exc}"
            ) from exc
        found = RegisteredSchema(schema_id=schema_id, schema=schema, schema_type=schema_type)
        self._cache.put(schema_id, found)
        return found

    def _check_miss_budget(self) -> None:
        """Lookups of unknown ids (each a synchronous round trip) may use at most
        :data:`~bridge.decode.schema_cache.MISS_TIME_SHARE` of wall time after a burst; beyond
        that uncached ids are reported transient (the record's partition waits and retries),
        so records with random schema ids on one topic cannot delay another topic's events.
        """
        wait = self._budget.overdrawn()
        if wait is not None:
            raise SchemaRegistryUnavailable(
                f"schema registry at {self.url}: many unknown schema ids recently; further "
                f"lookups wait {wait:.1f}s so other topics are not delayed"
            )

    def list_subjects(self) -> list[str]:
        """All subjects; doubles as a reachability/credentials probe."""
        response = self._request("GET", "/subjects", what="subjects")
        if response.status_code != 200:
            raise self._lookup_error(response, "subjects")
        subjects = response.json()
        if not isinstance(subjects, list):
            raise SchemaRegistryUnavailable(f"schema registry at {self.url}: bad /subjects body")
        return [str(s) for s in subjects]

    def register(
        self, subject: str, schema: str | dict[str, Any] | list[Any], schema_type: str = "AVRO"
    ) -> int:
        """Register ``schema`` under ``subject`` and return its global id (idempotent)."""
        text = schema if isinstance(schema, str) else json.dumps(schema, separators=(",", ":"))
        payload: dict[str, Any] = {"schema": text}
        if schema_type != "AVRO":
            payload["schemaType"] = schema_type
        response = self._request(
            "POST",
            f"/subjects/{quote(subject, safe='')}/versions",
            what=f"register subject {subject!r}",
            content=json.dumps(payload).encode(),
            headers={"Content-Type": _CONTENT_TYPE},
        )
        if response.status_code in (429,) or response.status_code >= 500:
            raise SchemaRegistryUnavailable(
                f"schema registry at {self.url} answered {response.status_code} "
                f"registering {subject!r}"
            )
        if response.status_code != 200:
            raise SchemaRegistryRequestError(
                f"schema registry refused to register {subject!r}: "
                f"{response.status_code} {wire.short(response.text)}",
                status=response.status_code,
                body=response.text,
            )
        try:
            return int(response.json()["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SchemaRegistryRequestError(
                f"unreadable register answer: {wire.short(response.text)}",
                status=response.status_code,
                body=response.text,
            ) from exc

    # -- plumbing --------------------------------------------------------------------

    def _request(self, method: str, path: str, *, what: str, **kwargs: Any) -> httpx.Response:
        return wire.send(self._http, self.url, method, path, what=what, **kwargs)

    def _lookup_error(self, response: httpx.Response, what: str) -> DecodeError:
        return wire.lookup_error(self.url, response, what)
