"""Fetch many feeds concurrently and turn every result, good or bad, into a `FetchOutcome`.

One `httpx.AsyncClient` serves a whole run. Each feed gets:

* a total deadline (``spec.timeout``) around each attempt, covering connect,
  headers and the whole body, so a server that drips one byte a second
  cannot hold us; httpx's connect/read timeouts sit inside it;
* a body limit (``spec.max_bytes``) on the *decoded* bytes. We decode
  gzip/deflate ourselves, chunk by chunk with a bounded output, so a
  gzip bomb is cut off as early as an oversized plain body;
* a conditional GET from ``spec.etag`` / ``spec.last_modified``: 304 gives
  status "not_modified";
* retries with exponential backoff and jitter on timeouts, connection
  failures, 429 and 5xx, honouring Retry-After up to
  ``settings.retry_after_max``; other 4xx fail at once;
* a slot under a global cap (``settings.concurrency``) and a per-host cap
  (``settings.per_host``, keyed on the feed URL's host), held only while a
  request is in flight, never while waiting to retry.

``file://`` feeds are read from disk under the same deadline and size limit;
their validators are the file's mtime (as an HTTP date in ``last_modified``)
and an mtime+size ETag, so an unchanged file gives "not_modified".

Failures never escape: httpx and OS errors are translated once, in
`_attempt`, into `connectors.errors.FetchError` subclasses, and those become
``FetchOutcome(status="failed", error=<one line>)``. On "not_modified" and
"failed" the outcome carries the validators to send next time (the old
ones unless the server sent new ones), so a failure never erases them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import email.utils
import logging
import os
import random
import stat
import time
import urllib.parse
import urllib.request
import zlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from datetime import datetime, timezone

import httpx

from connectors.errors import (
    BodyTooLarge,
    ConnectionFailure,
    ContentDecodingFailure,
    FetchError,
    FetchTimeout,
    FileReadFailure,
    HTTPStatusFailure,
    TooManyRedirectsFailure,
    one_line,
)
from connectors.feeds import FetchSettings
from transforms.model import FeedSpec, FetchOutcome

__all__ = ["FetchLimits", "new_client", "fetch_feed", "fetch_all_async", "fetch_all"]

log = logging.getLogger(__name__)

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
# Only what `_BoundedBody` can decode; never br/zstd, even if httpx could.
ACCEPT_ENCODING = "gzip, deflate"


class FetchLimits:
    """Caps on requests in flight, shared by all feeds of one run.

    The per-host slot is taken before the global one, so feeds queued
    behind a busy host do not hold global slots other hosts could use.
    """

    def __init__(self, concurrency: int, per_host: int) -> None:
        self._total = asyncio.Semaphore(concurrency)
        self._per_host = per_host
        self._hosts: dict[str, asyncio.Semaphore] = {}

    @contextlib.asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        host = _host_key(url)
        if host is None:
            async with self._total:
                yield
            return
        host_slots = self._hosts.setdefault(host, asyncio.Semaphore(self._per_host))
        async with host_slots, self._total:
            yield


def new_client(settings: FetchSettings) -> httpx.AsyncClient:
    """The client one fetch run shares: our User-Agent, redirects capped, pool sized."""
    return httpx.AsyncClient(
        headers={
            "User-Agent": settings.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": ACCEPT_ENCODING,
        },
        follow_redirects=True,
        max_redirects=settings.max_redirects,
        limits=httpx.Limits(
            max_connections=settings.concurrency,
            max_keepalive_connections=settings.concurrency,
        ),
        timeout=httpx.Timeout(
            settings.timeout, connect=settings.connect_timeout, read=settings.read_timeout
        ),
    )


async def fetch_feed(
    client: httpx.AsyncClient,
    spec: FeedSpec,
    settings: FetchSettings,
    *,
    limits: FetchLimits | None = None,
) -> FetchOutcome:
    """Fetch one feed, retrying as allowed; every failure comes back as an outcome."""
    attempts = 0
    elapsed = 0.0
    last_status: int | None = None
    while True:
        attempts += 1
        slot = limits.slot(spec.url) if limits is not None else contextlib.nullcontext()
        async with slot:
            started = time.monotonic()
            try:
                outcome = await _attempt(client, spec, settings)
            except FetchError as err:
                error: FetchError | None = err
            else:
                error = None
            elapsed += time.monotonic() - started
        if error is None:
            return replace(outcome, attempts=attempts, elapsed_s=elapsed, fetched_at=_utc_now())
        if error.http_status is not None:
            last_status = error.http_status
        if not error.retryable or attempts > spec.retries:
            return FetchOutcome(
                feed_url=spec.url,
                status="failed",
                http_status=last_status,
                etag=spec.etag,
                last_modified=spec.last_modified,
                error=str(error),
                retry_after_s=getattr(error, "retry_after", None),
                attempts=attempts,
                elapsed_s=elapsed,
                fetched_at=_utc_now(),
            )
        delay = _retry_delay(error, attempts, settings)
        log.info("retrying in %.2f s (attempt %d failed): %s", delay, attempts, error)
        await asyncio.sleep(delay)
        elapsed += delay


async def fetch_all_async(
    specs: Iterable[FeedSpec], settings: FetchSettings
) -> list[FetchOutcome]:
    """Fetch all feeds concurrently with one client; outcomes in the order of `specs`."""
    specs = list(specs)
    limits = FetchLimits(settings.concurrency, settings.per_host)
    async with new_client(settings) as client:
        results = await asyncio.gather(
            *(fetch_feed(client, spec, settings, limits=limits) for spec in specs),
            return_exceptions=True,
        )
    return [_as_outcome(spec, result) for spec, result in zip(specs, results)]


def fetch_all(specs: Iterable[FeedSpec], settings: FetchSettings) -> list[FetchOutcome]:
    """Synchronous `fetch_all_async`: safe to call again and again in one process.

    Each call runs its own event loop (and client). Called from a thread that
    is already running a loop, it runs in a private worker thread instead.
    """
    specs = list(specs)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(fetch_all_async(specs, settings))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, fetch_all_async(specs, settings)).result()


def _as_outcome(spec: FeedSpec, result: FetchOutcome | BaseException) -> FetchOutcome:
    """Keep outcomes; a bug in one fetch becomes a loud, logged failure, not a lost batch."""
    if isinstance(result, FetchOutcome):
        return result
    if not isinstance(result, Exception):  # KeyboardInterrupt, SystemExit, cancellation
        raise result
    log.error("internal error while fetching %s", spec.url, exc_info=result)
    return FetchOutcome(
        feed_url=spec.url,
        status="failed",
        etag=spec.etag,
        last_modified=spec.last_modified,
        error=f"{spec.url}: internal error: {type(result).__name__}: {one_line(result)}",
        fetched_at=_utc_now(),
    )


# --- one attempt: the translation boundary --------------------------------------------


class _Progress:
    """What an attempt saw before it failed (the status, for the outcome)."""

    http_status: int | None = None


async def _attempt(
    client: httpx.AsyncClient, spec: FeedSpec, settings: FetchSettings
) -> FetchOutcome:
    """One try under the total deadline; raises only `FetchError`."""
    progress = _Progress()
    try:
        async with asyncio.timeout(spec.timeout):
            if urllib.parse.urlsplit(spec.url).scheme == "file":
                return await asyncio.to_thread(_read_file, spec)
            return await _get(client, spec, settings, progress)
    except TimeoutError as exc:
        raise FetchTimeout(
            spec.url,
            f"timed out: no complete response within {spec.timeout:g} s",
            http_status=progress.http_status,
        ) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise _translate(exc, spec, settings, progress.http_status) from exc


async def _get(
    client: httpx.AsyncClient, spec: FeedSpec, settings: FetchSettings, progress: _Progress
) -> FetchOutcome:
    headers = {}
    if spec.etag:
        headers["If-None-Match"] = spec.etag
    if spec.last_modified:
        headers["If-Modified-Since"] = spec.last_modified
    timeout = httpx.Timeout(
        spec.timeout,
        connect=min(settings.connect_timeout, spec.timeout),
        read=min(settings.read_timeout, spec.timeout),
    )
    async with client.stream("GET", spec.url, headers=headers, timeout=timeout) as response:
        status = progress.http_status = response.status_code
        final_url = str(response.url)
        etag = response.headers.get("etag")
        last_modified = response.headers.get("last-modified")
        if status == 304:
            return FetchOutcome(
                feed_url=spec.url,
                status="not_modified",
                http_status=status,
                final_url=final_url,
                etag=etag or spec.etag,
                last_modified=last_modified or spec.last_modified,
                max_age_s=_max_age(response.headers.get("cache-control")),
            )
        if not 200 <= status <= 299:
            reason = response.reason_phrase
            if final_url != spec.url:
                reason = f"{reason} (at {final_url})".strip()
            raise HTTPStatusFailure(
                spec.url,
                status,
                reason,
                retry_after=_parse_retry_after(response.headers.get("retry-after")),
            )
        body = _BoundedBody(
            spec.url, response.headers.get("content-encoding", ""), spec.max_bytes, status
        )
        async for chunk in response.aiter_raw():
            body.feed(chunk)
        return FetchOutcome(
            feed_url=spec.url,
            status="ok",
            http_status=status,
            body=body.finish(),
            content_type=response.headers.get("content-type"),
            final_url=final_url,
            etag=etag,
            last_modified=last_modified,
            max_age_s=_max_age(response.headers.get("cache-control")),
        )


def _translate(
    exc: Exception, spec: FeedSpec, settings: FetchSettings, http_status: int | None
) -> FetchError:
    """The one place httpx errors become ours."""
    url = spec.url
    detail = one_line(exc) or type(exc).__name__
    if isinstance(exc, httpx.TooManyRedirects):
        return TooManyRedirectsFailure(url, settings.max_redirects)
    if isinstance(exc, httpx.ConnectTimeout):
        limit = min(settings.connect_timeout, spec.timeout)
        return FetchTimeout(url, f"timed out: no connection within {limit:g} s")
    if isinstance(exc, httpx.ReadTimeout):
        limit = min(settings.read_timeout, spec.timeout)
        return FetchTimeout(url, f"timed out: no data for {limit:g} s", http_status=http_status)
    if isinstance(exc, httpx.TimeoutException):
        return FetchTimeout(url, f"timed out: {detail}", http_status=http_status)
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)):
        return ConnectionFailure(url, f"connection failed: {detail}", http_status=http_status)
    if isinstance(exc, httpx.DecodingError):
        return ContentDecodingFailure(url, f"cannot decode body: {detail}", http_status=http_status)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return FetchError(url, f"unsupported URL (redirect target?): {detail}")
    if isinstance(exc, httpx.InvalidURL):
        return FetchError(url, f"invalid URL: {detail}")
    return FetchError(url, f"{type(exc).__name__}: {detail}", http_status=http_status)


# --- bodies ----------------------------------------------------------------------------


class _BoundedBody:
    """Collects a body, decoding gzip/deflate, failing once it passes `limit` decoded bytes.

    Each decompress call may produce at most one byte more than is left
    under the limit, so a tiny compressed chunk can never inflate to
    gigabytes in memory.
    """

    def __init__(self, url: str, content_encoding: str, limit: int, http_status: int) -> None:
        self._url = url
        self._limit = limit
        self._status = http_status
        self._parts: list[bytes] = []
        self._size = 0
        self._fed = False
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        self._gzip = codings in (["gzip"], ["x-gzip"])
        self._may_be_raw_deflate = codings == ["deflate"]
        if not codings:
            self._decompressor = None
        elif self._gzip or self._may_be_raw_deflate:
            wbits = 16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS
            self._decompressor = zlib.decompressobj(wbits)
        else:
            raise ContentDecodingFailure(
                url, f"unsupported Content-Encoding {content_encoding!r}", http_status=http_status
            )

    def feed(self, data: bytes) -> None:
        self._fed = self._fed or bool(data)
        if self._decompressor is None:
            self._keep(data)
            return
        while data:
            try:
                out = self._decompressor.decompress(data, self._limit - self._size + 1)
            except zlib.error as exc:
                if self._may_be_raw_deflate and self._size == 0:
                    # Some servers send raw deflate without the zlib wrapper.
                    self._may_be_raw_deflate = False
                    self._decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise ContentDecodingFailure(
                    self._url, f"corrupt compressed body: {exc}", http_status=self._status
                ) from exc
            self._may_be_raw_deflate = False
            self._keep(out)
            if self._decompressor.eof:
                data = self._decompressor.unused_data
                if data and self._gzip:  # a multi-member gzip stream
                    self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                else:
                    data = b""
            else:
                data = self._decompressor.unconsumed_tail

    def finish(self) -> bytes:
        if self._decompressor is not None and self._fed:
            self._keep(self._decompressor.flush())
            if not self._decompressor.eof:
                raise ContentDecodingFailure(
                    self._url, "compressed body is truncated", http_status=self._status
                )
        return b"".join(self._parts)

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._limit:
            raise BodyTooLarge(self._url, self._limit, http_status=self._status)
        if data:
            self._parts.append(data)


def _read_file(spec: FeedSpec) -> FetchOutcome:
    """Read a ``file://`` feed (in a worker thread) with HTTP-like validators."""
    path = urllib.request.url2pathname(urllib.parse.urlsplit(spec.url).path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device could block forever
            raise FileReadFailure(spec.url, "cannot read file: not a regular file")
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            etag = f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
            last_modified = email.utils.formatdate(info.st_mtime, usegmt=True)
            if _file_unchanged(spec, etag, last_modified):
                return FetchOutcome(
                    feed_url=spec.url,
                    status="not_modified",
                    final_url=spec.url,
                    etag=etag,
                    last_modified=last_modified,
                )
            if info.st_size > spec.max_bytes:
                raise BodyTooLarge(spec.url, spec.max_bytes)
            body = handle.read(spec.max_bytes + 1)
    except OSError as exc:
        raise FileReadFailure(spec.url, f"cannot read file: {exc.strerror or exc}") from exc
    if len(body) > spec.max_bytes:  # the file grew while we read it
        raise BodyTooLarge(spec.url, spec.max_bytes)
    return FetchOutcome(
        feed_url=spec.url,
        status="ok",
        body=body,
        final_url=spec.url,
        etag=etag,
        last_modified=last_modified,
    )


def _file_unchanged(spec: FeedSpec, etag: str, last_modified: str) -> bool:
    """The ETag (mtime in ns + size) decides when known; else the mtime to the second."""
    if spec.etag is not None:
        return spec.etag == etag
    return spec.last_modified is not None and spec.last_modified == last_modified


# --- small helpers -----------------------------------------------------------------------


def _retry_delay(error: FetchError, attempt: int, settings: FetchSettings) -> float:
    """Exponential backoff with "equal jitter", raised to a (capped) Retry-After."""
    backoff = min(settings.backoff_max, settings.backoff_base * 2 ** (attempt - 1))
    delay = backoff / 2 + random.uniform(0, backoff / 2)
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.retry_after_max))
    return delay


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _max_age(cache_control: str | None) -> float | None:
    """Cache-Control max-age in seconds; None when absent, invalid, or no-cache / no-store.

    A feed reader is a private cache, so s-maxage (for shared caches) does not apply.
    """
    if not cache_control:
        return None
    max_age: float | None = None
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        name = name.strip().lower()
        if name in ("no-cache", "no-store"):
            return None
        if name == "max-age":
            value = value.strip().strip('"')
            if not value.isdigit():
                return None
            max_age = float(value)
    return max_age


def _host_key(url: str) -> str | None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{parts.hostname}:{port or (443 if parts.scheme == 'https' else 80)}"


def _utc_now() -> str:
    """Now as UTC ISO-8601 with a Z, to the millisecond."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

