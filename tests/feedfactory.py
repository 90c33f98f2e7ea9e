"""Builds RSS 2.0 and Atom documents from plain item dicts, for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from email.utils import format_datetime
from datetime import datetime
from xml.sax.saxutils import escape

__all__ = ["rss", "atom"]


def _rfc822(iso: str) -> str:
    return format_datetime(datetime.fromisoformat(iso.replace("Z", "+00:00")), usegmt=True)


def rss(items: Iterable[Mapping[str, str]], title: str = "Test Wire", language: str = "en") -> bytes:
    """Items with `title`, `link`, `body` (HTML allowed), optional `guid` and `published` (ISO)."""
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
             f"<title>{escape(title)}</title><link>http://wire.example/</link>"
             f"<description>test feed</description><language>{language}</language>"]
    for item in items:
        parts.append("<item>")
        parts.append(f"<title>{escape(item['title'])}</title>")
        if item.get("link"):
            parts.append(f"<link>{escape(item['link'])}</link>")
        parts.append(f"<guid>{escape(item.get('guid') or item.get('link') or item['title'])}</guid>")
        if item.get("published"):
            parts.append(f"<pubDate>{_rfc822(item['published'])}</pubDate>")
        parts.append(f"<description>{escape(item.get('body', ''))}</description>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def atom(items: Iterable[Mapping[str, str]], title: str = "Test Atom", language: str = "en") -> bytes:
    """The same items as an Atom feed."""
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
             f'xml:lang="{language}"><title>{escape(title)}</title><id>urn:test:{escape(title)}</id>'
             f"<updated>2020-06-08T00:00:00Z</updated>"]
    for item in items:
        parts.append("<entry>")
        parts.append(f"<title>{escape(item['title'])}</title>")
        parts.append(f"<id>{escape(item.get('guid') or item.get('link') or item['title'])}</id>")
        if item.get("link"):
            parts.append(f'<link rel="alternate" href="{escape(item["link"])}"/>')
        if item.get("published"):
            parts.append(f"<published>{item['published']}</published>")
        parts.append(f'<content type="html">{escape(item.get("body", ""))}</content>')
        parts.append("</entry>")
    parts.append("</feed>")
    return "".join(parts).encode("utf-8")
