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
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from bridge.decode.settings import RegistrySettings
from bridge.errors import BridgeError, ConfigError, DecodeError, SchemaRegistryUnavailable

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")

_ACCEPT = "application/vnd.schemaregistry.v1+json, application/json;q=0.9"
_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_SCHEMA_NOT_FOUND = 40403


MISS_TIME_SHARE = 0.2  # share of wall time lookups of unknown ids may take
MISS_BURST_S = 1.0  # budget debt allowed before lookups are deferred


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


class LruCache(Generic[K, V]):
    """A small thread-safe LRU map."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self._maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            try:
                value = self._data[key]
            except KeyError:
                return None
            self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._maxsize:
                self._data.popitem(last=False)

    def pop(self, key: K) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


class _BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(<redacted>)"


def _ssl_context(
    *,
    verify: bool,
    ca_file: str | None,
    client_cert_file: str | None,
    client_key_file: str | None,
) -> ssl.SSLContext:
    for label, path in (
        ("ca_file", ca_file),
        ("client_cert_file", client_cert_file),
        ("client_key_file", client_key_file),
    ):
        if path is not None and not Path(path).is_file():
            raise ConfigError("file not found", file=path, field=f"schema_registry.{label}")
    try:
        ctx = ssl.create_default_context(cafile=ca_file)
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if client_cert_file is not None:
            ctx.load_cert_chain(client_cert_file, client_key_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"cannot load TLS material: {exc}",
            file=client_cert_file or ca_file,
            field="schema_registry",
        ) from exc
    return ctx


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
        if (username is None) != (password is None):
            raise ConfigError("username and password must be given together")
        if bearer_token is not None and username is not None:
            raise ConfigError("use either basic auth or a bearer token, not both")
        self.url = url.rstrip("/")
        auth: httpx.Auth | None = None
        if username is not None and password is not None:
            auth = httpx.BasicAuth(username, password)
        elif bearer_token is not None:
            auth = _BearerAuth(bearer_token)
        verify: ssl.SSLContext | bool = True
        if self.url.startswith("https://"):
            verify = _ssl_context(
                verify=verify_tls,
                ca_file=ca_file,
                client_cert_file=client_cert_file,
                client_key_file=client_key_file,
            )
        self._http = httpx.Client(
            base_url=self.url,
            auth=auth,
            verify=verify,
            timeout=httpx.Timeout(timeout_s),
            headers={"Accept": _ACCEPT, "User-Agent": "braze-kafka-bridge"},
            transport=transport,
            follow_redirects=False,
        )
        self.cache_size = cache_size
        self._cache: LruCache[int, RegisteredSchema] = LruCache(cache_size)
        self._negative: LruCache[int, float] = LruCache(min(cache_size, 1024))
        self._negative_ttl_s = negative_ttl_s
        self._counter_lock = threading.Lock()
        self.requests_sent = 0  # schema lookups that went over HTTP (for tests/metrics)
        self.misses = 0  # lookups answered "not found"
        self.throttled = 0  # lookups deferred by the unknown-id budget
        self._miss_debt = 0.0
        self._miss_debt_at = time.monotonic()

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
        missed_at = self._negative.get(schema_id)
        if missed_at is not None:
            if time.monotonic() - missed_at < self._negative_ttl_s:
                raise SchemaNotFoundError(schema_id)
            self._negative.pop(schema_id)

        self._check_miss_budget()
        with self._counter_lock:
            self.requests_sent += 1
        started = time.monotonic()
        response = self._request("GET", f"/schemas/ids/{schema_id}", what=f"schema {schema_id}")
        if response.status_code == 404 and _error_code(response) == _SCHEMA_NOT_FOUND:
            now = time.monotonic()
            self._negative.put(schema_id, now)
            self._charge_miss(now - started, now)
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

    # -- unknown-id budget: garbage records must not monopolise the (poll) thread --------
    def _decayed_debt(self, now: float) -> float:
        debt = max(0.0, self._miss_debt - (now - self._miss_debt_at))
        self._miss_debt, self._miss_debt_at = debt, now
        return debt

    def _charge_miss(self, elapsed_s: float, now: float) -> None:
        with self._counter_lock:
            self._decayed_debt(now)
            self._miss_debt += max(elapsed_s, 0.001) / MISS_TIME_SHARE
            self.misses += 1

    def _check_miss_budget(self) -> None:
        """Lookups of unknown ids (each a synchronous round trip) may use at most
        :data:`MISS_TIME_SHARE` of wall time after a burst of :data:`MISS_BURST_S`; beyond
        that uncached ids are reported transient (the record's partition waits and retries),
        so records with random schema ids on one topic cannot delay another topic's events.
        """
        with self._counter_lock:
            debt = self._decayed_debt(time.monotonic())
            if debt <= MISS_BURST_S:
                return
            self.throttled += 1
        raise SchemaRegistryUnavailable(
            f"schema registry at {self.url}: many unknown schema ids recently; further "
            f"lookups wait {debt - MISS_BURST_S:.1f}s so other topics are not delayed"
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
                f"{response.status_code} {_short(response.text)}",
                status=response.status_code,
                body=response.text,
            )
        try:
            return int(response.json()["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SchemaRegistryRequestError(
                f"unreadable register answer: {_short(response.text)}",
                status=response.status_code,
                body=response.text,
            ) from exc

    # -- plumbing --------------------------------------------------------------------

    def _request(self, method: str, path: str, *, what: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise SchemaRegistryUnavailable(
                f"schema registry at {self.url} timed out fetching {what}"
            ) from exc
        except httpx.HTTPError as exc:
            # Transport errors (refused, DNS, TLS...) never carry credentials in httpx'
            # messages, but keep the text short anyway.
            raise SchemaRegistryUnavailable(
                f"schema registry at {self.url} unreachable fetching {what}: "
                f"{type(exc).__name__}: {_short(str(exc))}"
            ) from exc

    def _lookup_error(self, response: httpx.Response, what: str) -> DecodeError:
        status = response.status_code
        detail = f"{status} {_short(response.text)}"
        if status in (401, 403):
            log.warning("schema registry at %s rejected the credentials (%s)", self.url, status)
            return SchemaRegistryUnavailable(
                f"schema registry at {self.url} rejected the credentials fetching {what}: {status}"
            )
        if status == 404 or status == 429 or status >= 500 or status < 400:
            # 404 without the registry's error code: most likely a wrong base URL.
            return SchemaRegistryUnavailable(
                f"schema registry at {self.url} answered {detail} fetching {what}"
            )
        return DecodeError(f"schema registry at {self.url} refused {what}: {detail}")


def _error_code(response: httpx.Response) -> int | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("error_code") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
