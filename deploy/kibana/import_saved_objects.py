#!/usr/bin/env python3
"""Imports the libya-watch saved objects into Kibana through its saved-objects import API.

Kibana's import endpoint takes the NDJSON file as a multipart upload (field
`file`, a name ending in `.ndjson`) and wants the `kbn-xsrf` header on every
write. `overwrite=true` makes a re-import replace the objects with the same
ids, so running the script again after an upgrade is safe.

Settings come from flags with environment fallback: `KIBANA_URL`,
`KIBANA_USERNAME` / `KIBANA_PASSWORD` or `KIBANA_API_KEY` (the encoded key
Elasticsearch returns), `KIBANA_SPACE`, `KIBANA_CA_CERTS`. Credentials never
appear in a message. Exit codes: 0 imported, 1 Kibana refused the import,
2 bad flags or file, 3 Kibana unreachable.

    python deploy/kibana/import_saved_objects.py --kibana https://kibana:5601
"""

from __future__ import annotations

import argparse
import os
import re
import ssl
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

__all__ = [
    "DEFAULT_FILE",
    "ImportFailed",
    "ImportResult",
    "KibanaSettings",
    "KibanaUnreachable",
    "BadInput",
    "import_saved_objects",
    "import_url",
    "main",
]

DEFAULT_FILE = Path(__file__).resolve().with_name("saved_objects.ndjson")
DEFAULT_TIMEOUT = 60.0
_SPACE_ID = re.compile(r"[a-z0-9_-]+")
_ENV = {"url": "KIBANA_URL", "username": "KIBANA_USERNAME", "password": "KIBANA_PASSWORD",
        "api_key": "KIBANA_API_KEY", "space": "KIBANA_SPACE", "ca_certs": "KIBANA_CA_CERTS"}
EXIT_REFUSED, EXIT_BAD_INPUT, EXIT_UNREACHABLE = 1, 2, 3


class ImportFailed(Exception):
    """Kibana answered, but did not import everything; the message is one line."""

    exit_code = EXIT_REFUSED


class BadInput(ImportFailed):
    """The flags, the environment or the file are not usable."""

    exit_code = EXIT_BAD_INPUT


class KibanaUnreachable(ImportFailed):
    """No HTTP answer from Kibana (connection, TLS or timeout)."""

    exit_code = EXIT_UNREACHABLE


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


@dataclass(frozen=True, repr=False)
class KibanaSettings:
    """How to reach one Kibana. Credentials in the URL move to `username`/`password`."""

    url: str
    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    space: str | None = None
    ca_certs: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise BadInput(f"Kibana URL: not a valid URL: {_redacted(self.url)!r}") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadInput(f"Kibana URL: expected http(s)://host[:port], got "
                           f"{_redacted(self.url)!r}")
        if parts.username is not None or parts.password is not None:
            object.__setattr__(self, "url", _redacted(self.url))
            if self.username is None and parts.username:
                object.__setattr__(self, "username", unquote(parts.username))
            if self.password is None and parts.password is not None:
                object.__setattr__(self, "password", unquote(parts.password))
        if self.api_key and (self.username or self.password):
            raise BadInput("Kibana credentials: give either an API key or a username and "
                           "password, not both")
        if (self.username is None) != (self.password is None):
            raise BadInput("Kibana credentials: a username needs a password and a password "
                           "needs a username")
        if self.space is not None and not _SPACE_ID.fullmatch(self.space):
            raise BadInput(f"Kibana space: {self.space!r} is not a space id (lower-case "
                           f"letters, digits, '_' and '-')")
        if self.ca_certs is not None and not Path(self.ca_certs).is_file():
            raise BadInput(f"Kibana CA certificates: no such file: {self.ca_certs}")

    @classmethod
    def from_flags(cls, environ: Mapping[str, str] | None = None, **flags: str | None
                   ) -> KibanaSettings:
        """Flag values win; unset ones fall back to the `KIBANA_*` environment variables."""
        env = os.environ if environ is None else environ
        values = {key: flags.get(key) or env.get(name) or None for key, name in _ENV.items()}
        if values["url"] is None:
            raise BadInput("Kibana URL: give --kibana or set KIBANA_URL")
        return cls(**values)  # type: ignore[arg-type]

    def auth_headers(self) -> dict[str, str]:
        if self.api_key:
            return {"Authorization": f"ApiKey {self.api_key}"}
        return {}

    def basic_auth(self) -> tuple[str, str] | None:
        if self.username is not None and self.password is not None:
            return (self.username, self.password)
        return None


@dataclass(frozen=True)
class ImportResult:
    """What Kibana reported for a complete import."""

    success_count: int
    warnings: tuple[str, ...] = ()


def import_url(settings: KibanaSettings) -> str:
    """The import endpoint, in the settings' space (the default space has no `/s/<id>`)."""
    base = settings.url.rstrip("/")
    if settings.space and settings.space != "default":
        base += f"/s/{quote(settings.space)}"
    return f"{base}/api/saved_objects/_import"


def _tls_verification(settings: KibanaSettings) -> ssl.SSLContext | bool:
    """The system's trust store, or only the given CA certificates."""
    if settings.ca_certs is None:
        return True
    try:
        return ssl.create_default_context(cafile=settings.ca_certs)
    except (OSError, ssl.SSLError) as exc:
        raise BadInput(f"Kibana CA certificates: cannot load {settings.ca_certs}: "
                       f"{_one_line(exc)}") from exc


def _read_file(path: Path) -> bytes:
    if path.suffix != ".ndjson":
        raise BadInput(f"{path}: Kibana only imports files named *.ndjson")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _kibana_message(response: httpx.Response) -> str:
    """Kibana's own error text (`message` of its JSON error body), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return _one_line(response.text)[:300]
    if isinstance(body, dict) and body.get("message"):
        return _one_line(body["message"])[:300]
    return _one_line(response.text)[:300]


def _describe_error(item: Mapping[str, Any]) -> str:
    """`type id (error type: detail)` for one entry of the import response's `errors`."""
    error = item.get("error") if isinstance(item.get("error"), Mapping) else {}
    kind = error.get("type", "error")
    detail = ""
    if kind == "missing_references":
        missing = [f"{ref.get('type')} {ref.get('id')}" for ref in error.get("references") or []]
        detail = "missing " + ", ".join(missing)
    elif error.get("message"):
        detail = _one_line(error["message"])
    where = f"{item.get('type', '?')} {item.get('id', '?')}"
    return f"{where} ({kind}: {detail})" if detail else f"{where} ({kind})"


def _warnings(body: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(_one_line(w.get("message", w)) if isinstance(w, Mapping) else _one_line(w)
                 for w in body.get("warnings") or [])


def import_saved_objects(settings: KibanaSettings, path: Path = DEFAULT_FILE) -> ImportResult:
    """POSTs the NDJSON file to Kibana's import API with overwrite; raises `ImportFailed`.

    A 2xx answer can still report `success: false` with per-object errors
    (a missing reference, a conflict): that is a failure too.
    """
    data = _read_file(path)
    verify = _tls_verification(settings)
    url = import_url(settings)
    where = _redacted(url)
    try:
        with httpx.Client(verify=verify, timeout=settings.timeout,
                          auth=settings.basic_auth()) as client:
            response = client.post(
                url, params={"overwrite": "true"},
                headers={"kbn-xsrf": "true", **settings.auth_headers()},
                files={"file": (path.name, data, "application/ndjson")})
    except httpx.HTTPError as exc:
        raise KibanaUnreachable(
            f"cannot reach Kibana at {where}: {type(exc).__name__}: {_one_line(exc)}") from exc
    if not response.is_success:
        raise ImportFailed(f"Kibana answered {response.status_code} "
                           f"{response.reason_phrase} at {where}: {_kibana_message(response)}")
    try:
        body = response.json()
    except ValueError as exc:
        raise ImportFailed(f"Kibana at {where} answered {response.status_code} with a body "
                           f"that is not JSON: {_one_line(response.text)[:200]!r}") from exc
    if not isinstance(body, dict) or "success" not in body:
        raise ImportFailed(f"Kibana at {where} answered without an import result: "
                           f"{_one_line(response.text)[:200]!r}")
    count = int(body.get("successCount") or 0)
    if body["success"] is not True:
        errors = [item for item in body.get("errors") or [] if isinstance(item, Mapping)]
        listed = "; ".join(_describe_error(item) for item in errors) or "no errors listed"
        raise ImportFailed(f"Kibana at {where} imported {count} objects and refused "
                           f"{len(errors)}: {listed}")
    return ImportResult(success_count=count, warnings=_warnings(body))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Import the libya-watch data views, saved searches, visualizations and "
                    "dashboard into Kibana (existing objects with the same ids are replaced).")
    parser.add_argument("--kibana", metavar="URL", help="Kibana URL (default: $KIBANA_URL)")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE,
                        help="saved-objects NDJSON file (default: the one next to this script)")
    parser.add_argument("--space", help="Kibana space id (default: $KIBANA_SPACE, else the "
                                        "default space)")
    parser.add_argument("--username", help="default: $KIBANA_USERNAME")
    parser.add_argument("--password", help="default: $KIBANA_PASSWORD")
    parser.add_argument("--api-key", help="encoded API key (default: $KIBANA_API_KEY)")
    parser.add_argument("--ca-certs", metavar="PEM",
                        help="CA certificates to verify Kibana's TLS certificate "
                             "(default: $KIBANA_CA_CERTS, else the system's)")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Runs the import; prints one line on stdout (done) or stderr (failed)."""
    args = _parser().parse_args(argv)
    try:
        settings = KibanaSettings.from_flags(
            environ, url=args.kibana, username=args.username, password=args.password,
            api_key=args.api_key, space=args.space, ca_certs=args.ca_certs)
        result = import_saved_objects(settings, args.file)
    except ImportFailed as exc:
        print(f"import_saved_objects: error: {_one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    space = settings.space or "default"
    line = (f"imported {result.success_count} saved objects from {args.file.name} into "
            f"{_redacted(settings.url)} (space {space})")
    if result.warnings:
        line += f"; {len(result.warnings)} warnings: " + "; ".join(result.warnings)
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
