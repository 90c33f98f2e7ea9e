"""A feed that grows while a watcher polls it: for watch-mode tests and the latency benchmark."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping

from tests.feedfactory import rss
from tests.feedserver import Reply, Request

__all__ = ["LiveFeed", "wagner_item"]


_FILLER = ("airstrip convoy supply depot brigade militia port oil terminal checkpoint "
           "commander envoy ceasefire talks drone radar airport barracks coast patrol "
           "tribe council ministry budget fuel harbour shipment cargo ferry witness "
           "satellite image report panel sanction embargo vessel inspection tanker "
           "pipeline field refinery highway desert oasis village mayor hospital clinic "
           "school market bridge tunnel airbase runway hangar helicopter artillery").split()


def wagner_item(number: int) -> dict[str, str]:
    """A report the packaged Wagner alert rule fires on, distinct from every other number's.

    Each gets its own filler words, so no two are near-duplicates of one
    story (which would alert only once).
    """
    rng = random.Random(number)
    filler = " ".join(rng.choice(_FILLER) for _ in range(60))
    return {"title": f"Wagner fighters reported near Sirte, Libya ({number})",
            "link": f"http://live.example/wagner/{number}",
            "published": "2026-11-23T08:00:00Z",
            "body": f"<p>Russian Wagner Group mercenaries were deployed to Jufra and Sirte in "
                    f"Libya to support Khalifa Haftar's forces, according to a UN panel.</p>"
                    f"<p>{filler}.</p>"}


class LiveFeed:
    """A route (call it with a request) serving the items added so far, with an ETag per version.

    `add` records when each item appeared, so a test can measure the time
    from appearing to being alerted.
    """

    def __init__(self, items: list[Mapping[str, str]] | None = None, **reply_headers: str) -> None:
        self._lock = threading.Lock()
        self._items = list(items or [])
        self._headers = dict(reply_headers)
        self.added_at: dict[str, float] = {}

    def add(self, item: Mapping[str, str]) -> None:
        with self._lock:
            self._items.append(item)
            self.added_at[item["link"]] = time.monotonic()

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            etag = f'"v{len(self._items)}"'
            if request.headers.get("if-none-match") == etag:
                return Reply(status=304, headers={"ETag": etag, **self._headers})
            body = rss(self._items, title="Live Wire")
        return Reply(body=body, headers={"ETag": etag, "Content-Type": "application/rss+xml",
                                         **self._headers})
