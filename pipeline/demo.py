"""Offline demo (`libya-watch demo`): serve the fixture feeds on 127.0.0.1, run one pass, show the index.

Run it twice: the second pass finds every feed unchanged (304) and indexes
nothing new.
"""

from __future__ import annotations

import functools
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from connectors.alerting.rules import DEFAULT_RULES_FILE
from connectors.es_client import make_client, translating_errors
from pipeline.launch import resolve_es, run_pass

__all__ = ["run_demo", "serve_directory", "describe_index"]

DEMO_DIR = Path(__file__).resolve().parent.parent / "deploy" / "demo"
DEMO_ALIAS = "libya-watch-demo"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature from the stdlib
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the fetcher opens up to 16 connections at once


@contextmanager
def serve_directory(directory: Path, port: int = 0) -> Iterator[str]:
    """A static file server on 127.0.0.1 (it answers If-Modified-Since with 304); yields its URL.

    Port 0 picks a free port.
    """
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = _Server(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def describe_index(alias: str) -> str:
    """The documents now in the demo index, newest first, one line each."""
    with translating_errors(f"reading '{alias}'"):
        client = make_client(resolve_es(None))
        try:
            hits = client.search(index=alias, size=50, sort=[{"published": "desc"}],
                                 source=["title", "outlet", "published", "language",
                                         "relevance.score"])
        finally:
            client.close()
    lines = [f"{hits['hits']['total']['value']} documents in '{alias}':"]
    for hit in hits["hits"]["hits"]:
        doc = hit["_source"]
        lines.append(f"  {doc['published'][:10]}  {doc.get('language') or '--'}  "
                     f"{doc['relevance']['score']:.2f}  {doc.get('outlet') or '-':<16} "
                     f"{doc['title'][:70]}")
    return "\n".join(lines)


def run_demo(beam_args: list[str], alerts_out: Path | None = None) -> str:
    """Serves the fixture feeds, runs one pass into the demo alias with the packaged alert
    rules, and returns what to show."""
    port = int(os.environ.get("DEMO_PORT", "8765"))
    template = (DEMO_DIR / "feeds.yaml").read_text(encoding="utf-8")
    with serve_directory(DEMO_DIR / "feeds", port) as base, \
            tempfile.TemporaryDirectory() as tmp:
        feeds_path = Path(tmp) / "feeds.yaml"
        feeds_path.write_text(template.replace("{base}", base), encoding="utf-8")
        summary = run_pass(feeds_path, None, DEMO_ALIAS, beam_args, rules=DEFAULT_RULES_FILE,
                           alerts_out=alerts_out)
    return summary.to_text() + "\n\n" + describe_index(DEMO_ALIAS)
