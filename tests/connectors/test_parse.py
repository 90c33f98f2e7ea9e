"""parse_feed on real feed files: RSS 0.91, RSS 1.0, RSS 2.0, Atom, malformed, wrong charsets."""

from __future__ import annotations

from pathlib import Path

from connectors.feeds import FetchSettings
from connectors.fetch import fetch_all
from connectors.parse import ParsedFeed, parse_feed
from tests.feedserver import FeedServer, Reply
from transforms.model import FeedSpec, FetchOutcome

DATA = Path(__file__).resolve().parents[1] / "data" / "feeds"
FEED_URL = "https://wire.example.com/libya/feed"
FINAL_URL = "https://wire.example.com/libya/feed.xml"
FETCHED_AT = "2025-07-12T06:00:00.000Z"


XML = "application/xml"
ARABIC_TITLE = "وصول شحنة أسلحة إلى ميناء بنغازي بحسب مراقبين"


def parse_file(file: str, content_type: str | None = XML, **spec: object) -> ParsedFeed:
    return parse_body((DATA / file).read_bytes(), content_type, **spec)


def parse_body(body: bytes, content_type: str | None = XML, **spec: object) -> ParsedFeed:
    outcome = FetchOutcome(
        feed_url=FEED_URL,
        status="ok",
        http_status=200,
        body=body,
        content_type=content_type,
        final_url=FINAL_URL,
        fetched_at=FETCHED_AT,
    )
    return parse_feed(outcome, FeedSpec(url=FEED_URL, **spec))


def test_rss20_entries_are_mapped_as_given() -> None:
    parsed = parse_file("rss20.xml", "application/rss+xml; charset=utf-8", name="Tripoli Wire")

    assert (parsed.bozo, parsed.error, parsed.skipped) == (None, None, ())
    assert len(parsed.entries) == 3
    first, second, third = parsed.entries
    assert first.title == "Satellite images show new hangars at al-Jufra air base"
    assert first.link == "https://tripoliwire.example.com/2025/03/04/jufra-hangars"
    assert first.guid == "tw-2025-0304-001"
    assert first.published == "2025-03-04T14:30:00Z"
    assert first.updated is None
    # content:encoded beats the description, and its HTML is kept.
    assert first.content_html.startswith("<p>TRIPOLI, March 4")
    assert "<b>three new hangars</b>" in first.content_html
    assert first.feed_url == FEED_URL
    assert first.base_url == FINAL_URL
    assert first.feed_title == "Tripoli Wire"
    assert first.feed_name == "Tripoli Wire"
    assert first.feed_language == "en-gb"
    assert first.entry_language is None
    assert first.fetched_at == FETCHED_AT
    # A relative link stays relative; base_url resolves it later.
    assert second.link == "/2025/03/03/sirte-ceasefire-committee"
    # +0100 is converted to UTC.
    assert second.published == "2025-03-03T08:00:00Z"
    # Without content:encoded the description is the body, HTML included.
    assert "<em>foreign fighters and mercenaries</em>" in second.content_html
    assert third.published is None


def test_rss091_latin1_feed() -> None:
    parsed = parse_file("rss091.xml")

    assert (parsed.bozo, parsed.error) == (None, None)
    assert [e.title for e in parsed.entries] == [
        "Cargo flights resume into al-Khadim air base, monitors say",
        "Kufra border post reinforced after clashes near Sudan frontier",
    ]
    second = parsed.entries[1]
    assert "\u00abtense but contained\u00bb" in second.content_html
    assert second.link == "https://sahelwire.example.org/2025/02/kufra-border"
    assert (second.guid, second.published, second.updated) == (None, None, None)
    assert second.feed_language == "en-us"


def test_rss10_rdf_feed() -> None:
    parsed = parse_file("rss10.rdf", "application/rdf+xml")

    assert (parsed.bozo, parsed.error) == (None, None)
    first, second = parsed.entries
    assert first.title == "Des drones turcs observés à la base aérienne de Misrata"
    assert first.guid == "https://medsecu.example.net/2025/04/02/misrata-drones"
    # dc:date is an update date; 09:15+02:00 is 07:15 UTC.
    assert (first.published, first.updated) == (None, "2025-04-02T07:15:00Z")
    assert first.content_html.startswith("<p>MISRATA, 2 avril")
    assert first.feed_language == "fr"
    assert first.feed_title == "Observatoire de la sécurité méditerranéenne"
    assert second.content_html.startswith("Une délégation du ministère russe")


def test_atom_feed_with_entry_language() -> None:
    parsed = parse_file("atom.xml", "application/atom+xml")

    assert (parsed.bozo, parsed.error) == (None, None)
    convoy, arabic, irini = parsed.entries
    assert convoy.guid == "tag:monitor.example.org,2025:entry-4411"
    assert convoy.link == "https://monitor.example.org/libya/2025/05/africa-corps-convoy"
    assert (convoy.published, convoy.updated) == ("2025-05-06T09:20:00Z", "2025-05-06T11:45:00Z")
    assert convoy.content_html.startswith("<p>SEBHA, May 6")  # content, not the summary
    assert "Russia&#8217;s Africa Corps" in convoy.content_html  # HTML as given
    assert convoy.feed_language == "en"
    assert convoy.entry_language is None  # inherited from the feed
    assert arabic.title == ARABIC_TITLE
    assert arabic.entry_language == "ar"
    assert arabic.content_html.startswith("قال مراقبون")  # no content: the summary
    assert arabic.published is None
    assert "Operation Irini" in irini.content_html  # xhtml content
    assert irini.feed_title == "Sahel and Maghreb Monitor"


def test_malformed_feed_with_usable_entries_is_kept_with_its_bozo_reason() -> None:
    parsed = parse_file("malformed_with_entries.xml")

    assert parsed.error is None
    assert parsed.bozo == (
        "XML not well-formed at line 6, column 41: not well-formed (invalid token)"
    )
    assert [e.title for e in parsed.entries] == [
        "Mercenaries & foreign fighters still in Libya, panel says",
        "Airlift to eastern Libya continues",
    ]
    assert parsed.entries[0].published == "2025-06-11T07:30:00Z"


def test_malformed_feed_without_entries_is_an_error() -> None:
    parsed = parse_file("malformed_no_entries.xml")

    assert parsed.entries == ()
    assert parsed.error == (
        f"{FEED_URL}: malformed feed: XML not well-formed at line 6, column 4: mismatched tag"
    )
    assert "\n" not in parsed.error


def test_declared_utf8_but_windows_1252_bytes() -> None:
    parsed = parse_file("charset_declared_utf8_bytes_cp1252.xml", "application/rss+xml")

    assert parsed.error is None
    [entry] = parsed.entries
    assert entry.title == "Le maréchal Haftar reçoit une délégation russe à Benghazi"
    assert "\u201ccoopération militaire\u201d \u2014 selon" in entry.content_html
    assert entry.published == "2025-07-10T13:00:00Z"
    assert "declared as utf-8, but parsed as windows-1252" in parsed.bozo


def test_declared_windows_1252_but_utf8_bytes() -> None:
    parsed = parse_file("charset_declared_cp1252_bytes_utf8.xml", "application/rss+xml")

    assert parsed.error is None
    [entry] = parsed.entries
    assert entry.title == (
        "Une frégate turque fait escale à Tripoli — «\u00a0coopération navale\u00a0»"
    )
    assert "Ã" not in entry.content_html
    assert entry.feed_title == "Dépêches de Tripoli"
    assert "the bytes are UTF-8" in parsed.bozo


def test_wrong_http_charset_header_does_not_garble_text() -> None:
    parsed = parse_file("atom.xml", "text/xml; charset=iso-8859-1")

    assert parsed.entries[1].title == ARABIC_TITLE
    assert "the bytes are UTF-8" in parsed.bozo


def test_an_html_page_is_not_a_feed() -> None:
    parsed = parse_body(b"<html><body><p>Service unavailable</p></body></html>", "text/html")

    assert parsed.entries == ()
    assert parsed.error.startswith(f"{FEED_URL}: malformed feed: ")
    assert "not an XML media type" in parsed.error


def test_xml_that_is_not_a_feed_is_an_error() -> None:
    parsed = parse_body(b'<?xml version="1.0"?><config><a>1</a></config>')

    assert (parsed.entries, parsed.error) == ((), f"{FEED_URL}: not an RSS or Atom feed")


def test_empty_body_is_an_error() -> None:
    assert parse_body(b"  \n").error == f"{FEED_URL}: empty body"


def test_a_valid_feed_without_items_is_not_an_error() -> None:
    parsed = parse_body(b'<rss version="2.0"><channel><title>Quiet day</title></channel></rss>')

    assert (parsed.entries, parsed.bozo, parsed.error) == ((), None, None)


def test_entries_without_title_link_or_content_are_reported_not_dropped_silently() -> None:
    body = (
        b'<rss version="2.0"><channel><title>T</title>'
        b'<item><guid isPermaLink="false">empty-1</guid>'
        b"<pubDate>Tue, 04 Mar 2025 14:30:00 +0000</pubDate></item>"
        b"<item><title>Haftar meets Russian deputy defence minister</title></item>"
        b"</channel></rss>"
    )

    parsed = parse_body(body)

    assert [e.title for e in parsed.entries] == ["Haftar meets Russian deputy defence minister"]
    assert parsed.skipped == ("entry 0 (empty-1): no title, link or content",)
    assert parsed.error is None


def test_feed_language_falls_back_to_the_configured_language() -> None:
    body = b"<rss><channel><title>T</title><item><title>Sirte</title></item></channel></rss>"

    [entry] = parse_body(body, language="ar").entries

    assert entry.feed_language == "ar"


def test_declared_feed_language_wins_over_the_configured_one() -> None:
    [first, *_] = parse_file("rss20.xml", language="fr").entries

    assert first.feed_language == "en-gb"


def test_not_modified_has_nothing_to_parse() -> None:
    outcome = FetchOutcome(feed_url=FEED_URL, status="not_modified", http_status=304)

    assert parse_feed(outcome, FeedSpec(url=FEED_URL)) == ParsedFeed(entries=())


def test_failed_fetch_carries_its_error() -> None:
    error = f"{FEED_URL}: HTTP 404 Not Found"
    outcome = FetchOutcome(feed_url=FEED_URL, status="failed", error=error)

    parsed = parse_feed(outcome, FeedSpec(url=FEED_URL))

    assert (parsed.entries, parsed.error) == ((), error)


def test_fetched_over_http_then_parsed(feed_server: FeedServer) -> None:
    """End to end: a redirected, gzipped feed; base_url is where it finally came from."""
    final = feed_server.route(
        "/feeds/tripoli.xml",
        Reply.gzipped(
            (DATA / "rss20.xml").read_bytes(), headers={"Content-Type": "application/rss+xml"}
        ),
    )
    url = feed_server.route("/tripoli", Reply.redirect("/feeds/tripoli.xml", status=301))
    feed = FeedSpec(url=url, name="Tripoli Wire", timeout=2.0)

    [outcome] = fetch_all([feed], FetchSettings(timeout=2.0))
    parsed = parse_feed(outcome, feed)

    assert outcome.status == "ok"
    assert len(parsed.entries) == 3
    entry = parsed.entries[1]
    assert (entry.feed_url, entry.base_url) == (url, final)
    assert entry.link == "/2025/03/03/sirte-ceasefire-committee"
    assert entry.fetched_at == outcome.fetched_at
