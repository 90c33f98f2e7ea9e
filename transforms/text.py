"""Plain text from the HTML that feeds put in titles and bodies.

Feeds carry anything from clean paragraphs to broken fragments with inline
scripts, so the text is pulled out with the standard library's tolerant
`html.parser` rather than with patterns over tags. Block elements become line
breaks (later stages split sentences on them); runs of whitespace inside a
line collapse to one space.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

__all__ = ["html_to_text"]

# Elements whose content is never reader-visible text.
_SKIPPED = frozenset({"script", "style", "noscript", "template", "head", "svg", "math"})

# Elements that start a new line of text: without a break, "<p>Tripoli</p><p>Sirte</p>"
# would read "TripoliSirte" and the matcher would miss both names.
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div",
    "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3",
    "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
    "summary", "table", "tbody", "td", "tfoot", "th", "thead", "title", "tr", "ul",
})

# Tags with nothing but a name (<p>, </p>, <br/>, <br />): most feed bodies use
# only these, and for them the parser's work reduces to one pattern (see
# `_simple_chunks`).
_SIMPLE_TAG = re.compile(r"<(?:([a-zA-Z][a-zA-Z0-9]*)(?: ?/)?|/([a-zA-Z][a-zA-Z0-9]*))>")
# Elements the parser treats specially (raw text, or skipped here): their
# documents take the parser's path.
_SPECIAL = _SKIPPED | frozenset({
    "iframe", "noembed", "noframes", "plaintext", "textarea", "title", "xmp",
})

# Characters that take space but are not whitespace to `str.split`.
_INVISIBLE = str.maketrans({"\u200b": None, "\ufeff": None, "\u00ad": None})


class _TextCollector(HTMLParser):
    """Collects character data outside skipped elements, breaking lines at blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._chunks: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip_depth += 1
        elif tag in _BLOCKS:
            self._chunks.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A self-closed element (<br/>, <script/>) opens nothing that could hide text.
        if tag in _BLOCKS:
            self._chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCKS:
            self._chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self._chunks.append(data)

    def unknown_decl(self, data: str) -> None:
        # <![CDATA[...]]> inside an HTML body still holds text meant for the reader.
        if data.startswith("CDATA[") and not self._skip_depth:
            self._chunks.append(data[len("CDATA["):])

    def close(self) -> None:
        # What is left unparsed at the end is an unterminated tag ("<p class='x>..."
        # with no closing quote) or stray text ("a <"). A browser shows the text
        # but not the tag; the parser would hand both over as data.
        rest = self.rawdata
        name_start = 2 if rest[1:2] == "/" else 1
        if rest[:1] == "<" and rest[name_start:name_start + 1].isalpha():
            self.rawdata = ""
        super().close()

    def text(self) -> str:
        return _lines(self._chunks)


def _lines(chunks: list[str]) -> str:
    raw = "".join(chunks).translate(_INVISIBLE)
    lines = (" ".join(line.split()) for line in raw.split("\n"))
    return "\n".join(line for line in lines if line)


def _simple_chunks(html: str) -> list[str] | None:
    """What `_TextCollector` would collect from `html`, if every "<" opens a simple tag.

    For such a fragment the parser hands over the text between tags,
    unescaped, and one tag at a time; None sends anything else (comments,
    attributes, CDATA, scripts, a stray "<") to the parser.
    """
    chunks: list[str] = []
    position = 0
    for tag in _SIMPLE_TAG.finditer(html):
        data = html[position:tag.start()]
        if "<" in data:
            return None
        if data:
            chunks.append(unescape(data) if "&" in data else data)
        name = (tag.group(1) or tag.group(2)).lower()
        if name in _SPECIAL:
            return None
        if name in _BLOCKS:
            chunks.append("\n")
        position = tag.end()
    data = html[position:]
    if "<" in data:
        return None
    if data:
        chunks.append(unescape(data) if "&" in data else data)
    return chunks


def html_to_text(html: str) -> str:
    """Reader-visible text of an HTML fragment: entities unescaped, one line per block.

    Plain text passes through unchanged apart from whitespace, so callers need
    not know whether a feed field held markup.
    """
    if not html:
        return ""
    chunks = _simple_chunks(html)
    if chunks is not None:
        return _lines(chunks)
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return collector.text()
