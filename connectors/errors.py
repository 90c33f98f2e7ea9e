"""Our exceptions: library errors are translated into these once, at the boundary.

Every error's ``str()`` is one line that says what went wrong and where (the
file and place of a config problem, the URL of a feed), so it can go straight
into a log line, a ``FetchOutcome.error`` or a ``DeadLetter.error``.

    LibyaWatchError
     ├── ConfigError                    a config file is missing or invalid
     ├── FeedError                      something about one feed (has ``url``)
     │    ├── FetchError                fetching failed (``retryable``, ``http_status``)
     │    │    ├── HTTPStatusFailure    an unwanted status (``status``, ``retry_after``)
     │    │    ├── FetchTimeout         no complete response within the deadline
     │    │    ├── BodyTooLarge         the decoded body exceeds the byte limit
     │    │    ├── TooManyRedirectsFailure
     │    │    ├── ConnectionFailure    connect/read/protocol failure on the wire
     │    │    ├── ContentDecodingFailure  a gzip/deflate body that does not decode
     │    │    └── FileReadFailure      a ``file://`` feed that cannot be read
     │    └── FeedParseError            the body is not a usable RSS/Atom feed
     ├── ElasticsearchError             Elasticsearch refused or failed a request
     │    ├── ElasticsearchUnavailable  cannot reach the cluster, or it is overloaded
     │    ├── IndexingError             documents, mappings or templates not written
     │    └── LocalServerError          the local development server cannot be set up
     └── PipelineFailed                 a pipeline stage failed for a reason of its own

New families (for example Elasticsearch errors) go directly under
``LibyaWatchError`` and should follow the same rule: one line, what and where.
"""

from __future__ import annotations

__all__ = [
    "LibyaWatchError",
    "ConfigError",
    "FeedError",
    "FetchError",
    "HTTPStatusFailure",
    "FetchTimeout",
    "BodyTooLarge",
    "TooManyRedirectsFailure",
    "ConnectionFailure",
    "ContentDecodingFailure",
    "FileReadFailure",
    "FeedParseError",
    "ElasticsearchError",
    "ElasticsearchUnavailable",
    "IndexingError",
    "LocalServerError",
    "PipelineFailed",
    "JobServerError",
    "RunLockHeld",
    "one_line",
]


def one_line(text: object) -> str:
    """Collapse any whitespace run (newlines included) to one space."""
    return " ".join(str(text).split())


class LibyaWatchError(Exception):
    """Base of every error libya-watch raises on purpose.

    The message is normalised to a single line, so subclasses only have to
    build a message that says what and where.
    """

    def __init__(self, message: str) -> None:
        self.message = one_line(message)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class ConfigError(LibyaWatchError):
    """A config file is missing, unreadable or invalid.

    ``str()`` reads ``<source>: <where>: <problem>``, e.g.
    ``feeds.yaml: feeds[3]: unknown key 'urll'``.
    """

    def __init__(
        self, problem: str, *, source: str | None = None, where: str | None = None
    ) -> None:
        self.problem = one_line(problem)
        self.source = source
        self.where = where
        super().__init__(": ".join(part for part in (source, where, self.problem) if part))


class FeedError(LibyaWatchError):
    """Something went wrong with one feed; ``str()`` is ``<url>: <problem>``."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = one_line(problem)
        super().__init__(f"{url}: {self.problem}")


class FetchError(FeedError):
    """Fetching a feed failed.

    ``retryable`` says whether another attempt may succeed (timeouts,
    connection failures, 429 and 5xx); ``http_status`` is the last HTTP
    status seen before the failure, if any.
    """

    retryable: bool = False

    def __init__(self, url: str, problem: str, *, http_status: int | None = None) -> None:
        self.http_status = http_status
        super().__init__(url, problem)


class HTTPStatusFailure(FetchError):
    """The server answered with a status we do not accept (after redirects)."""

    def __init__(
        self, url: str, status: int, reason: str = "", *, retry_after: float | None = None
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        problem = f"HTTP {status} {reason}".rstrip()
        super().__init__(url, problem, http_status=status)

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.status == 429 or 500 <= self.status <= 599


class FetchTimeout(FetchError):
    """No complete response arrived in time (connect, read, or the total deadline)."""

    retryable = True


class BodyTooLarge(FetchError):
    """The decoded body exceeds the feed's byte limit (this also catches gzip bombs)."""

    def __init__(self, url: str, limit: int, *, http_status: int | None = None) -> None:
        self.limit = limit
        super().__init__(url, f"body exceeds {limit} bytes", http_status=http_status)


class TooManyRedirectsFailure(FetchError):
    """The redirect chain is too long or loops."""

    def __init__(self, url: str, max_redirects: int) -> None:
        self.max_redirects = max_redirects
        super().__init__(url, f"too many redirects (more than {max_redirects}; redirect loop?)")


class ConnectionFailure(FetchError):
    """The connection could not be made or broke off (DNS, refused, reset, protocol)."""

    retryable = True


class ContentDecodingFailure(FetchError):
    """The body's Content-Encoding is unsupported or the compressed data is corrupt."""


class FileReadFailure(FetchError):
    """A ``file://`` feed could not be read from disk."""


class FeedParseError(FeedError):
    """The body could not be parsed into any usable feed entries."""


class ElasticsearchError(LibyaWatchError):
    """Elasticsearch refused or failed a request.

    Messages name the cluster by its redacted URL (never credentials) and
    the index or alias concerned.
    """


class ElasticsearchUnavailable(ElasticsearchError):
    """The cluster cannot be reached, rejects our credentials, or stays overloaded (429/5xx)."""


class IndexingError(ElasticsearchError):
    """Documents, mappings or templates could not be written."""


class LocalServerError(ElasticsearchError):
    """The local development server cannot be installed, started or stopped."""


class PipelineFailed(LibyaWatchError):
    """A stage raised something that is none of the errors above (a bug, or a runner failure)."""


class JobServerError(LibyaWatchError):
    """The Flink job server cannot be installed (Maven missing or failing, a broken download)."""


class RunLockHeld(LibyaWatchError):
    """Another run holds the run lock of this index; this one must not start (exit 4)."""
