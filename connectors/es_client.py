"""Connection settings, the Elasticsearch client, and the one place its errors become ours.

Settings come from CLI flags with environment fallback (`ES_URL`,
`ES_API_KEY`, `ES_USERNAME`, `ES_PASSWORD`, `ES_CA_CERTS`); with neither,
the local development server. Credentials never show up in a repr or an
error message: URLs are printed without their userinfo.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import elastic_transport
from elasticsearch import ApiError, AuthenticationException, AuthorizationException, Elasticsearch
from elasticsearch import UnsupportedProductError

from connectors.errors import ConfigError, ElasticsearchError, ElasticsearchUnavailable, one_line

__all__ = [
    "client_url",
    "EsSettings",
    "make_client",
    "redacted_url",
    "check_reachable",
    "translating_errors",
    "describe_api_error",
    "RETRY_ON_STATUS",
]

# Statuses a retry can fix: overload (429) and a proxy or node in trouble.
RETRY_ON_STATUS = (429, 502, 503, 504)
DEFAULT_MAX_RETRIES = 3
DEFAULT_REQUEST_TIMEOUT = 30.0
_ENV = {"url": "ES_URL", "api_key": "ES_API_KEY", "username": "ES_USERNAME",
        "password": "ES_PASSWORD", "ca_certs": "ES_CA_CERTS"}


def redacted_url(url: str) -> str:
    """The URL without `user:password@`, safe to print."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.rpartition("@")[2] if "@" in url else url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def client_url(client: Elasticsearch) -> str | None:
    """The (redacted) address of the client's first node, for error messages."""
    try:
        nodes = client.transport.node_pool.all()
    except AttributeError:
        return None
    return redacted_url(nodes[0].base_url) if nodes else None


@dataclass(frozen=True, repr=False)
class EsSettings:
    """How to reach one cluster. Credentials in the URL move to `username`/`password`."""

    url: str
    api_key: str | None = None
    username: str | None = None
    password: str | None = None
    ca_certs: str | None = None
    verify_certs: bool = True
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ConfigError(f"not a valid URL: {redacted_url(self.url)!r}",
                              where="Elasticsearch URL") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"expected http(s)://host[:port], got {redacted_url(self.url)!r}",
                              where="Elasticsearch URL")
        if parts.username is not None or parts.password is not None:
            object.__setattr__(self, "url", redacted_url(self.url))
            if self.username is None and parts.username:
                object.__setattr__(self, "username", unquote(parts.username))
            if self.password is None and parts.password is not None:
                object.__setattr__(self, "password", unquote(parts.password))
        if self.api_key and (self.username or self.password):
            raise ConfigError("give either an API key or a username and password, not both",
                              where="Elasticsearch credentials")
        if (self.username is None) != (self.password is None):
            raise ConfigError("a username needs a password and a password needs a username",
                              where="Elasticsearch credentials")
        if not self.request_timeout > 0:
            raise ConfigError(f"must be positive, got {self.request_timeout!r}",
                              where="Elasticsearch request timeout")

    @classmethod
    def from_flags(cls, url: str | None = None, api_key: str | None = None,
                   username: str | None = None, password: str | None = None,
                   ca_certs: str | None = None, verify_certs: bool | None = None,
                   request_timeout: float | None = None,
                   environ: Mapping[str, str] | None = None) -> EsSettings:
        """Flag values win; unset ones fall back to `ES_*`; no URL at all means the local server."""
        env = os.environ if environ is None else environ
        given = {"url": url, "api_key": api_key, "username": username, "password": password,
                 "ca_certs": ca_certs}
        values = {key: value if value not in (None, "") else (env.get(_ENV[key]) or None)
                  for key, value in given.items()}
        if values["url"] is None:
            from connectors import es_local

            values["url"] = es_local.url()
        return cls(
            url=values["url"], api_key=values["api_key"], username=values["username"],
            password=values["password"], ca_certs=values["ca_certs"],
            verify_certs=True if verify_certs is None else verify_certs,
            request_timeout=DEFAULT_REQUEST_TIMEOUT if request_timeout is None
            else float(request_timeout),
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values that must never be printed."""
        return tuple(s for s in (self.password, self.api_key) if s)

    def __repr__(self) -> str:
        def hidden(value: str | None) -> str:
            return "None" if value is None else "'***'"

        return (f"EsSettings(url={self.url!r}, api_key={hidden(self.api_key)}, "
                f"username={self.username!r}, password={hidden(self.password)}, "
                f"ca_certs={self.ca_certs!r}, verify_certs={self.verify_certs!r}, "
                f"request_timeout={self.request_timeout!r})")

    __str__ = __repr__


def make_client(settings: EsSettings, *, max_retries: int = DEFAULT_MAX_RETRIES) -> Elasticsearch:
    """A client that retries timeouts and 429/502/503/504 before giving up.

    TLS options (`ca_certs`, `verify_certs`) only apply to https URLs; the
    client refuses them on plain http, so they are not passed there.
    """
    auth: dict[str, Any] = {}
    if settings.api_key:
        key = settings.api_key
        # "id:key" is the unencoded form; the client takes it as a pair.
        auth["api_key"] = tuple(key.split(":", 1)) if ":" in key else key
    elif settings.username is not None and settings.password is not None:
        auth["basic_auth"] = (settings.username, settings.password)
    tls: dict[str, Any] = {}
    if settings.url.startswith("https:"):
        tls["verify_certs"] = settings.verify_certs
        if settings.ca_certs:
            tls["ca_certs"] = settings.ca_certs
    return Elasticsearch(
        settings.url,
        request_timeout=settings.request_timeout,
        retry_on_timeout=True,
        max_retries=max_retries,
        retry_on_status=RETRY_ON_STATUS,
        **auth,
        **tls,
    )


def describe_api_error(exc: ApiError) -> str:
    """`<status> <error type>: <reason>` from an error response, in one line."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    if isinstance(error, dict):
        root = (error.get("root_cause") or [error])[0]
        text = f"{exc.meta.status} {root.get('type', exc.message)}: {root.get('reason', '')}"
    elif error:
        text = f"{exc.meta.status} {error}"
    else:
        text = f"{exc.meta.status} {exc.message}"
    return one_line(text).rstrip(": ")[:500]


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^)\]'\"]+)")


def _transport_reason(exc: elastic_transport.TransportError) -> str:
    """A short reason for a connection failure, without urllib3's object reprs."""
    if isinstance(exc, elastic_transport.ConnectionTimeout):
        return "timed out"
    if isinstance(exc, elastic_transport.TlsError):
        return "TLS handshake failed (check ES_CA_CERTS or the URL scheme)"
    for text in (str(exc.message), str(exc)):
        match = _ERRNO.search(text)
        if match:
            return match.group(1).strip().lower()
    return type(exc).__name__


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return one_line(text)


@contextmanager
def translating_errors(what: str, url: str | None = None,
                       secrets: tuple[str, ...] = ()) -> Iterator[None]:
    """Turns client errors raised inside the block into ours, saying `what` was being done.

    Unreachable, unauthorised or still-overloaded clusters become
    `ElasticsearchUnavailable`; any other refusal `ElasticsearchError`.
    """
    where = f" at {redacted_url(url)}" if url else ""
    try:
        yield
    except UnsupportedProductError as exc:
        raise ElasticsearchUnavailable(
            f"{what}: the server{where} is not Elasticsearch") from exc
    except (AuthenticationException, AuthorizationException) as exc:
        raise ElasticsearchUnavailable(_scrub(
            f"{what}: Elasticsearch{where} refused our credentials ({describe_api_error(exc)})",
            secrets)) from exc
    except ApiError as exc:
        retryable = exc.meta.status in RETRY_ON_STATUS
        kind = ElasticsearchUnavailable if retryable else ElasticsearchError
        raise kind(_scrub(f"{what}: Elasticsearch{where} answered {describe_api_error(exc)}",
                          secrets)) from exc
    except elastic_transport.TransportError as exc:
        raise ElasticsearchUnavailable(_scrub(
            f"{what}: Elasticsearch{where} is unreachable: {_transport_reason(exc)}",
            secrets)) from exc


def check_reachable(client: Elasticsearch, settings: EsSettings) -> dict[str, Any]:
    """The cluster health, or `ElasticsearchUnavailable` naming the (redacted) URL.

    Uses `GET /_cluster/health` rather than `GET /`: minimal distributions
    have no root endpoint, and health also proves the credentials work.
    """
    with translating_errors("connecting", settings.url, settings.secrets):
        health = client.cluster.health()
    return dict(health.body)
