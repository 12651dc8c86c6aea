"""The HTTP side of the schema-registry client: authentication, TLS, and failure wording.

Builds the ``httpx.Client`` (basic auth or a bearer token that never shows in ``repr``; a
TLS context from the configured CA and client certificate) and sends requests, turning
transport failures and non-2xx answers into the bridge's errors (see
:mod:`bridge.decode.registry` for which answer means what).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any

import httpx

from bridge.errors import ConfigError, DecodeError, SchemaRegistryUnavailable

log = logging.getLogger("bridge.decode.registry")

_ACCEPT = "application/vnd.schemaregistry.v1+json, application/json;q=0.9"


class _BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(<redacted>)"


def registry_auth(
    username: str | None, password: str | None, bearer_token: str | None
) -> httpx.Auth | None:
    """Basic auth, a bearer token, or none; refuses half a pair and both kinds at once."""
    if (username is None) != (password is None):
        raise ConfigError("username and password must be given together")
    if bearer_token is not None and username is not None:
        raise ConfigError("use either basic auth or a bearer token, not both")
    if username is not None and password is not None:
        return httpx.BasicAuth(username, password)
    if bearer_token is not None:
        return _BearerAuth(bearer_token)
    return None


def ssl_context(
    *,
    verify: bool,
    ca_file: str | None,
    client_cert_file: str | None,
    client_key_file: str | None,
) -> ssl.SSLContext:
    """The TLS context for an ``https://`` registry; missing or unreadable files are config
    errors naming the ``schema_registry`` field."""
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


def http_client(
    url: str,
    auth: httpx.Auth | None,
    verify: ssl.SSLContext | bool,
    timeout_s: float,
    transport: httpx.BaseTransport | None,
) -> httpx.Client:
    """The registry's HTTP client: no redirects, the registry's media types."""
    return httpx.Client(
        base_url=url,
        auth=auth,
        verify=verify,
        timeout=httpx.Timeout(timeout_s),
        headers={"Accept": _ACCEPT, "User-Agent": "braze-kafka-bridge"},
        transport=transport,
        follow_redirects=False,
    )


def send(
    http: httpx.Client, url: str, method: str, path: str, *, what: str, **kwargs: Any
) -> httpx.Response:
    """One request; timeouts and transport errors become :class:`SchemaRegistryUnavailable`."""
    try:
        return http.request(method, path, **kwargs)
    except httpx.TimeoutException as exc:
        raise SchemaRegistryUnavailable(
            f"schema registry at {url} timed out fetching {what}"
        ) from exc
    except httpx.HTTPError as exc:
        # Transport errors (refused, DNS, TLS...) never carry credentials in httpx'
        # messages, but keep the text short anyway.
        raise SchemaRegistryUnavailable(
            f"schema registry at {url} unreachable fetching {what}: "
            f"{type(exc).__name__}: {short(str(exc))}"
        ) from exc


def lookup_error(url: str, response: httpx.Response, what: str) -> DecodeError:
    """The error for a non-200 answer to a lookup: transient unless a 4xx other than
    401/403/404/429 (then permanent for the record)."""
    status = response.status_code
    detail = f"{status} {short(response.text)}"
    if status in (401, 403):
        log.warning("schema registry at %s rejected the credentials (%s)", url, status)
        return SchemaRegistryUnavailable(
            f"schema registry at {url} rejected the credentials fetching {what}: {status}"
        )
    if status == 404 or status == 429 or status >= 500 or status < 400:
        # 404 without the registry's error code: most likely a wrong base URL.
        return SchemaRegistryUnavailable(
            f"schema registry at {url} answered {detail} fetching {what}"
        )
    return DecodeError(f"schema registry at {url} refused {what}: {detail}")


def error_code(response: httpx.Response) -> int | None:
    """The registry's ``error_code`` in a JSON error body, if any."""
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("error_code") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None


def short(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut at ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
