"""normalize_entry, article_from_input and the Normalize transforms."""

from dataclasses import replace

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.model import DeadLetter, RawEntry
from transforms.normalize import (
    Normalize,
    NormalizeInput,
    UnusableEntry,
    article_from_input,
    content_hash,
    normalize_entry,
    to_utc_iso,
)
from transforms.urls import document_id

FEED = "https://example.com/feeds/africa.xml"
ENGLISH = (
    "<p>Forces loyal to Khalifa Haftar advanced on the southern outskirts of the capital "
    "on Thursday, residents said.</p><script>track()</script>"
)


def make_entry(**changes) -> RawEntry:
    entry = RawEntry(
        feed_url=FEED,
        feed_name="Example News",
        feed_title="Example News - Africa",
        feed_language=None,
        base_url=FEED,
        guid="urn:example:1",
        link="/world/libya-clashes?utm_source=rss#comments",
        title="Clashes near <b>Tripoli</b> &amp; Sirte",
        content_html=ENGLISH,
        published="2020-06-07T10:30:00+02:00",
        updated="2020-06-08T09:00:00+00:00",
        fetched_at="2020-06-09T12:00:00+00:00",
    )
    return replace(entry, **changes)


# --------------------------------------------------------------------- dates

@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020-06-07T10:30:00+02:00", "2020-06-07T08:30:00Z"),
        ("2020-06-07T10:30:00Z", "2020-06-07T10:30:00Z"),
        ("2020-06-07T10:30:00.123456+00:00", "2020-06-07T10:30:00Z"),
        ("2020-06-07T10:30:00", "2020-06-07T10:30:00Z"),
        ("2020-06-07", "2020-06-07T00:00:00Z"),
        ("2020-06-07T00:30:00-05:00", "2020-06-07T05:30:00Z"),
    ],
)
def test_to_utc_iso(value, expected):
    assert to_utc_iso(value) == expected


def test_to_utc_iso_rejects_other_formats():
    with pytest.raises(ValueError):
        to_utc_iso("Sun, 07 Jun 2020 10:30:00 GMT")


# ------------------------------------------------------------- normalize_entry

def test_entry_normalized():
    article = normalize_entry(make_entry())
    assert article.url == "https://example.com/world/libya-clashes"
    assert article.id == document_id("https://example.com/world/libya-clashes")
    assert article.title == "Clashes near Tripoli & Sirte"
    assert article.text == (
        "Forces loyal to Khalifa Haftar advanced on the southern outskirts of the capital "
        "on Thursday, residents said."
    )
    assert (article.published, article.published_source) == ("2020-06-07T08:30:00Z", "published")
    assert (article.language, article.language_source) == ("en", "detected")
    assert article.outlet == "Example News"
    assert article.feed_url == FEED
    assert article.fetched_at == "2020-06-09T12:00:00Z"
    assert article.content_hash == content_hash(article.text, article.title)
    assert article.relevance is None


@pytest.mark.parametrize(
    ("published", "updated", "expected"),
    [
        ("2020-06-07T10:30:00+02:00", "2020-06-08T09:00:00+00:00", ("2020-06-07T08:30:00Z", "published")),
        (None, "2020-06-08T09:00:00+00:00", ("2020-06-08T09:00:00Z", "updated")),
        (None, None, ("2020-06-09T12:00:00Z", "fetched")),
        ("", "", ("2020-06-09T12:00:00Z", "fetched")),
        ("not a date", "2020-06-08T09:00:00+00:00", ("2020-06-08T09:00:00Z", "updated")),
    ],
)
def test_published_falls_back_to_updated_then_fetched(published, updated, expected):
    article = normalize_entry(make_entry(published=published, updated=updated))
    assert (article.published, article.published_source) == expected


def test_unparsable_fetched_at_is_an_error():
    with pytest.raises(UnusableEntry, match="fetched_at"):
        normalize_entry(make_entry(fetched_at="yesterday"))


@pytest.mark.parametrize(
    ("entry_language", "feed_language", "expected"),
    [
        ("en-US", "fr", ("en", "entry")),
        (None, "fr-FR", ("fr", "feed")),
        ("english", "AR", ("ar", "feed")),
        (None, None, ("en", "detected")),
    ],
)
def test_language_from_entry_then_feed_then_detection(entry_language, feed_language, expected):
    article = normalize_entry(make_entry(entry_language=entry_language, feed_language=feed_language))
    assert (article.language, article.language_source) == expected


def test_language_detected_from_arabic_text():
    arabic = "<p>قالت مصادر عسكرية إن القوات تقدمت نحو العاصمة.</p>"
    article = normalize_entry(make_entry(title="قوات حفتر تتقدم", content_html=arabic))
    assert (article.language, article.language_source) == ("ar", "detected")


def test_language_unknown_when_text_too_short():
    article = normalize_entry(make_entry(title="Sirte", content_html=""))
    assert (article.language, article.language_source) == (None, "unknown")


def test_content_hash_ignores_markup_case_and_spacing():
    first = normalize_entry(make_entry(content_html="<p>Haftar  forces <b>advance</b></p>"))
    second = normalize_entry(make_entry(content_html="HAFTAR forces\n advance", link="https://other.org/x"))
    third = normalize_entry(make_entry(content_html="Haftar forces retreat"))
    assert first.content_hash == second.content_hash
    assert first.content_hash != third.content_hash


def test_content_hash_uses_title_when_text_empty():
    first = normalize_entry(make_entry(content_html="", title="Sirte port reopens"))
    second = normalize_entry(make_entry(content_html="", title="SIRTE  port reopens"))
    third = normalize_entry(make_entry(content_html="", title="Brega port reopens"))
    assert first.content_hash == second.content_hash != third.content_hash


def test_tracking_variants_of_a_link_share_an_id():
    first = normalize_entry(make_entry(link="https://EXAMPLE.com/world/libya-clashes?fbclid=1"))
    second = normalize_entry(make_entry(link="/world/libya-clashes#top"))
    assert first.id == second.id


def test_id_falls_back_to_guid_then_title():
    by_guid = normalize_entry(make_entry(link=None))
    assert by_guid.url is None
    assert by_guid.id == document_id(f"{FEED}#urn:example:1")
    by_title = normalize_entry(make_entry(link=None, guid=None))
    assert by_title.id == document_id(f"{FEED}#Clashes near Tripoli & Sirte")


def test_non_http_link_gives_no_url():
    article = normalize_entry(make_entry(link="mailto:desk@example.com"))
    assert article.url is None
    assert article.id == document_id(f"{FEED}#urn:example:1")


@pytest.mark.parametrize(
    ("feed_name", "feed_title", "expected"),
    [
        ("Example News", "Example - Africa", "Example News"),
        (None, "Example - Africa", "Example - Africa"),
        (None, None, "example.com"),
    ],
)
def test_outlet_from_feed_name_then_title_then_host(feed_name, feed_title, expected):
    article = normalize_entry(make_entry(feed_name=feed_name, feed_title=feed_title,
                                         link="https://www.example.com/a"))
    assert article.outlet == expected


def test_entry_without_title_or_text_is_unusable():
    with pytest.raises(UnusableEntry, match="neither title nor text") as caught:
        normalize_entry(make_entry(title=" ", content_html="<p> </p><script>x()</script>",
                                   link="https://example.com/empty"))
    assert isinstance(caught.value, ValueError)
    assert "https://example.com/empty" in str(caught.value)


def test_title_only_entry_is_usable():
    article = normalize_entry(make_entry(content_html=""))
    assert article.text == ""
    assert article.title == "Clashes near Tripoli & Sirte"


# ---------------------------------------------------------- article_from_input

def test_input_record_normalized():
    record = {
        "id": "case-17",
        "title": "Haftar &amp; the capital",
        "text": "<p>Forces loyal to Khalifa Haftar advanced on the capital, residents said.</p>",
        "url": "HTTPS://www.Example.com/a?utm_medium=x&b=1#frag",
        "published": "2020-06-07T10:30:00+02:00",
        "language": "en-GB",
    }
    article = article_from_input(record)
    assert article.id == "case-17"
    assert article.url == "https://www.example.com/a?b=1"
    assert article.title == "Haftar & the capital"
    assert article.text == "Forces loyal to Khalifa Haftar advanced on the capital, residents said."
    assert (article.published, article.published_source) == ("2020-06-07T08:30:00Z", "input")
    assert (article.language, article.language_source) == ("en", "input")
    assert article.outlet == "example.com"
    assert article.feed_url is None


def test_input_record_minimal():
    record = {"id": 42, "title": "", "text": "Le ministre a déclaré que les négociations reprendraient."}
    article = article_from_input(record, read_at="2024-01-02T03:04:05Z")
    assert article.id == "42"
    assert article.url is None
    assert (article.published, article.published_source) == ("2024-01-02T03:04:05Z", "missing")
    assert (article.language, article.language_source) == ("fr", "detected")
    assert article.outlet is None


def test_input_record_outlet_given():
    article = article_from_input({"id": "1", "title": "t", "text": "x", "outlet": "Reuters",
                                  "url": "https://www.reuters.com/a"})
    assert article.outlet == "Reuters"


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        ({"title": "t", "text": "x"}, "'id' missing"),
        ({"id": "", "title": "t", "text": "x"}, "'id' missing"),
        ({"id": "7", "text": "x"}, "input record 7: missing 'title'"),
        ({"id": "7", "title": "t"}, "input record 7: missing 'text'"),
        ({"id": "7", "title": "t", "text": None}, "'text' must be a string"),
        ({"id": "7", "title": "", "text": "<p></p>"}, "neither title nor text"),
        ({"id": "7", "title": "t", "text": "x", "published": "last week"}, "'published' is not ISO-8601"),
        ({"id": "7", "title": "t", "text": "x", "url": 5}, "'url' must be a string"),
        (["not", "an", "object"], "expected a JSON object"),
    ],
)
def test_unusable_input_records(record, fragment):
    with pytest.raises(UnusableEntry, match=fragment):
        article_from_input(record)


# ------------------------------------------------------------- Beam transforms

def _counter(result, name):
    query = MetricsFilter().with_namespace("libya_watch").with_name(name)
    return sum(counter.committed for counter in result.metrics().query(query)["counters"])


def test_normalize_transform_routes_unusable_entries_to_dead_letter():
    good = make_entry()
    other = make_entry(link="https://example.com/other", title="Sirte", content_html="Port reopens")
    empty = make_entry(link="https://example.com/empty", title="", content_html="<p></p>")
    pipeline = test_pipeline.TestPipeline()
    results = pipeline | beam.Create([good, other, empty]) | Normalize()
    assert_that(results.articles, equal_to([normalize_entry(good), normalize_entry(other)]), label="articles")
    assert_that(
        results.dead_letter,
        equal_to([DeadLetter(stage="normalize", key="https://example.com/empty",
                             error="entry https://example.com/empty: neither title nor text",
                             feed_url=FEED)]),
        label="dead letters",
    )
    result = pipeline.run()
    result.wait_until_finish()
    assert _counter(result, "normalized") == 2
    assert _counter(result, "normalize_failed") == 1


def test_normalize_input_transform_routes_bad_records_to_dead_letter():
    records = [
        {"id": "a", "title": "Sirte", "text": "Port reopens", "published": "2020-06-07T10:30:00Z"},
        {"id": "b", "title": "Sirte"},
        {"title": "no id", "text": "x"},
    ]
    pipeline = test_pipeline.TestPipeline()
    results = pipeline | beam.Create(records) | NormalizeInput()
    assert_that(results.articles | beam.Map(lambda article: article.id), equal_to(["a"]), label="ids")
    assert_that(
        results.dead_letter,
        equal_to([
            DeadLetter(stage="normalize", key="b", error="input record b: missing 'text'"),
            DeadLetter(stage="normalize", key="<no id>",
                       error="input record {\"title\": \"no id\", \"text\": \"x\"}: "
                             "'id' missing or not a string"),
        ]),
        label="dead letters",
    )
    result = pipeline.run()
    result.wait_until_finish()
    assert _counter(result, "normalized") == 1
    assert _counter(result, "normalize_failed") == 2
