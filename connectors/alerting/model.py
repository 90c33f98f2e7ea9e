"""The alert: one rule firing on one story, identified so that it can fire only once."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = ["Alert", "alert_id", "utc_now"]


def alert_id(rule_id: str, story_id: str) -> str:
    """sha1(rule id, U+001F, story id): the same rule and story give the same id on every run.

    The unit separator cannot occur in a rule id, so ("a", "b:c") and
    ("a:b", "c") never collide.
    """
    return hashlib.sha1(f"{rule_id}\x1f{story_id}".encode()).hexdigest()


def utc_now() -> str:
    """Now, as the ISO-8601 UTC timestamp the indices store."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Alert:
    """A rule that matched a story head.

    `delivered_to` names the notifiers that already have it (read from the
    alerts index), so a retry goes only to the ones that failed.
    """

    rule_id: str
    rule_name: str
    story_id: str
    doc_id: str
    title: str
    url: str | None
    published: str | None
    matched_at: str
    outlet: str | None = None
    run_id: str | None = None
    delivered_to: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return alert_id(self.rule_id, self.story_id)

    def to_record(self) -> dict[str, Any]:
        """The alert as notifiers write it (JSON lines, webhook fields)."""
        return {"alert_id": self.id, "rule_id": self.rule_id, "rule_name": self.rule_name,
                "story_id": self.story_id, "doc_id": self.doc_id, "title": self.title,
                "url": self.url, "published": self.published, "outlet": self.outlet,
                "run_id": self.run_id, "matched_at": self.matched_at}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Alert:
        """The alert from its stored form; `delivery` (per notifier) fills `delivered_to`."""
        delivery = record.get("delivery") or {}
        delivered = tuple(sorted(name for name, state in delivery.items()
                                 if isinstance(state, Mapping) and state.get("sent_at")))
        return cls(rule_id=record["rule_id"], rule_name=record.get("rule_name") or record["rule_id"],
                   story_id=record["story_id"], doc_id=record["doc_id"],
                   title=record.get("title") or "", url=record.get("url"),
                   published=record.get("published"), matched_at=record["matched_at"],
                   outlet=record.get("outlet"), run_id=record.get("run_id"),
                   delivered_to=delivered)
