"""The ``braze`` block: REST endpoint and key checks, plain-http policy, workspaces, and the
``check`` command's warnings about endpoints that are no Braze instance."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from bridge.settings.base import FrozenModel

WORKSPACE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
DEFAULT_WORKSPACE = "default"
# Fields of the braze block that each workspace inherits unless it sets its own.
_INHERITED = ("connect_timeout_s", "request_timeout_s", "max_in_flight", "http_transport")


class BrazeSettings(FrozenModel):
    """The Braze REST endpoint of the workspace and its key (or ``workspaces``: several)."""

    rest_endpoint: str = Field(
        description="REST endpoint of the instance, e.g. https://rest.iad-01.braze.com, "
        "or the sandbox http://127.0.0.1:4010 (with workspaces: in each workspace)"
    )
    api_key: SecretStr = Field(
        description="REST API key: ${BRAZE_API_KEY} or ${file:/path} (with workspaces: in each)",
    )
    connect_timeout_s: float = Field(5.0, gt=0, description="TCP/TLS connect timeout")
    request_timeout_s: float = Field(30.0, gt=0, description="Read/write timeout per request")
    max_in_flight: int = Field(16, ge=1, le=512, description="Concurrent requests at most")
    http_transport: Literal["lean", "httpx"] = Field(
        "lean",
        description="lean: the bridge's HTTP/1.1 keep-alive transport for httpx (~8x less "
        "CPU per request); httpx: httpx's default transport (honours HTTPS_PROXY)",
    )

    allow_insecure_http: bool = Field(
        False,
        description="Allow plain http:// to a host that is not loopback (the key then travels "
        "in clear); http:// to 127.0.0.1/::1/localhost is always allowed (the sandbox)",
    )

    workspaces: dict[str, BrazeSettings] | None = Field(
        None,
        description="Several Braze workspaces by name, each {rest_endpoint, api_key, ...}; "
        "instead of rest_endpoint/api_key here. Rules choose one with 'workspace'; the other "
        "fields of this block are the workspaces' defaults",
    )

    @model_validator(mode="before")
    @classmethod
    def _workspaces_block(cls, data: Any) -> Any:
        """With ``workspaces``: inherit this block's settings into each; this block itself
        takes the default workspace's endpoint and key (the one named ``default``, or the
        first) so code that knows one workspace keeps working."""
        if not isinstance(data, dict) or data.get("workspaces") is None:
            return data
        spaces = data["workspaces"]
        if not isinstance(spaces, dict) or not spaces:
            raise ValueError("workspaces must map at least one name to {rest_endpoint, api_key}")
        given = sorted({"rest_endpoint", "api_key"} & set(data))
        if given:
            raise ValueError(
                f"{' and '.join(given)} belong inside each workspace when workspaces are given"
            )
        merged: dict[str, Any] = {}
        for name, ws in spaces.items():
            if not isinstance(name, str) or not re.match(WORKSPACE_NAME, name):
                raise ValueError(f"workspace name {name!r} must match {WORKSPACE_NAME}")
            if isinstance(ws, dict):
                if "workspaces" in ws:
                    raise ValueError(f"workspace {name!r} cannot hold workspaces")
                ws = {**{k: data[k] for k in _INHERITED if k in data}, **ws}
            merged[name] = ws
        first = merged.get(DEFAULT_WORKSPACE) or next(iter(merged.values()))
        out = {**data, "workspaces": merged}
        if isinstance(first, dict):
            out.update({k: first[k] for k in ("rest_endpoint", "api_key") if k in first})
        return out

    @field_validator("rest_endpoint")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_endpoint(v)

    @field_validator("api_key")
    @classmethod
    def _key_chars(cls, v: SecretStr) -> SecretStr:
        check_api_key(v.get_secret_value())
        return v

    @model_validator(mode="after")
    def _plain_http_only_to_loopback(self) -> BrazeSettings:
        host = urlsplit(self.rest_endpoint).hostname or ""
        if (
            self.rest_endpoint.startswith("http://")
            and not _is_loopback(host)
            and not self.allow_insecure_http
        ):
            raise ValueError(
                "rest_endpoint: plain http:// sends the API key in clear; use https://, or set "
                "braze.allow_insecure_http: true (only http://127.0.0.1 / localhost is allowed "
                "without it)"
            )
        return self

    def by_name(self) -> dict[str, BrazeSettings]:
        """Every workspace by name: the single block is the workspace ``default``."""
        return dict(self.workspaces) if self.workspaces else {DEFAULT_WORKSPACE: self}

    def default_workspace(self) -> str | None:
        """The workspace of a rule that names none: the only one, or ``default``; else None."""
        names = self.by_name()
        if len(names) == 1:
            return next(iter(names))
        return DEFAULT_WORKSPACE if DEFAULT_WORKSPACE in names else None


_URL_EXAMPLE = "a URL like https://rest.iad-01.braze.com"


def check_endpoint(v: str) -> str:
    """Validate a Braze REST endpoint; reasons never quote the value (it may hold a secret)."""
    if any(c.isspace() or not c.isprintable() for c in v):
        raise ValueError(f"must be {_URL_EXAMPLE} (it holds whitespace or control characters)")
    try:
        u = urlsplit(v)
        port = u.port
    except ValueError:
        raise ValueError(f"must be {_URL_EXAMPLE} (the host or port is invalid)") from None
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError(f"must be {_URL_EXAMPLE} (http:// or https:// and a host)")
    if u.username is not None or u.password is not None or "@" in u.netloc:
        raise ValueError(
            "must not contain credentials (user:password@); the API key is sent in the "
            "Authorization header, from braze.api_key"
        )
    if u.query or u.fragment or "?" in v or "#" in v:
        raise ValueError(f"must be {_URL_EXAMPLE} (no query or fragment)")
    if u.path not in ("", "/"):
        raise ValueError(f"must be {_URL_EXAMPLE} (no path)")
    if port is not None and not 1 <= port <= 65535 or v.rstrip("/").endswith(":"):
        raise ValueError(f"must be {_URL_EXAMPLE} (port 1-65535)")
    return v.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_api_key(key: str) -> None:
    """A Braze REST key is visible ASCII: anything else would stall or leak at request time.

    A non-Latin-1 character kills the request encoder; a line break is refused by the HTTP
    client (a two-line key file, or a file that is not a key at all). The reason names the
    position and kind of the first bad character, never the key.
    """
    if not key:
        raise ValueError("the API key is empty")
    if len(key) > 512:
        raise ValueError(f"the API key is {len(key)} characters long; is the file a key file?")
    for i, c in enumerate(key):
        if not "\x21" <= c <= "\x7e":
            what = (
                "a line break"
                if c in "\r\n"
                else "whitespace"
                if c.isspace()
                else f"U+{ord(c):04X}, not visible ASCII"
            )
            raise ValueError(
                f"the API key holds {what} at position {i + 1}; a key is visible ASCII "
                "without spaces (check the key file or variable for a second line or a "
                "pasted invisible character)"
            )


# Braze's REST hosts, one per instance (docs: "API basics", the instance list).
BRAZE_REST_HOSTS = frozenset(
    [f"rest.iad-0{i}.braze.com" for i in range(1, 9)]
    + ["rest.us-10.braze.com", "rest.fra-01.braze.eu", "rest.fra-02.braze.eu"]
    + [f"rest.{x}-01.braze.com" for x in ("au", "id", "jp", "kr")]
)
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]", "sandbox")


def endpoint_warnings(braze: BrazeSettings) -> list[str]:
    """``check``: every workspace's endpoint that is no Braze instance's REST host (loopback
    and the sandbox excepted), and plain http to a Braze host."""
    out = []
    for name, ws in braze.by_name().items():
        where = "braze" if braze.workspaces is None else f"braze.workspaces.{name}"
        scheme, _, rest = ws.rest_endpoint.partition("://")
        host = rest.rsplit(":", 1)[0] if not rest.startswith("[") else rest.split("]")[0] + "]"
        if host in BRAZE_REST_HOSTS:
            if scheme != "https":
                out.append(f"{where}.rest_endpoint: Braze serves {host} over https only")
        elif host not in _LOCAL_HOSTS and not host.startswith("127."):
            out.append(
                f"{where}.rest_endpoint: {host} is not a Braze REST host "
                "(rest.iad-01.braze.com ... rest.fra-02.braze.eu; see the REST endpoint next to "
                "the key under Settings > APIs and Identifiers)"
            )
    return out
