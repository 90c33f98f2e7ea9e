"""Canonical URLs, document ids and outlet names."""

import re

import pytest

from transforms.urls import (
    ConfigError,
    canonical_url,
    document_id,
    load_tracking_rules,
    outlet_from_url,
)


@pytest.mark.parametrize(
    ("link", "base", "expected"),
    [
        ("/news/libya-1", "https://example.com/feeds/rss.xml", "https://example.com/news/libya-1"),
        ("story.html", "https://example.com/world/africa/", "https://example.com/world/africa/story.html"),
        ("../story", "https://example.com/world/africa/feed", "https://example.com/world/story"),
        ("//cdn.example.org/a", "https://example.com/feed", "https://cdn.example.org/a"),
        ("https://other.org/x", "https://example.com/feed", "https://other.org/x"),
    ],
)
def test_relative_links_resolved_against_base(link, base, expected):
    assert canonical_url(link, base) == expected


def test_scheme_and_host_lower_cased_but_path_kept():
    assert canonical_url("HTTPS://News.Example.COM/World/Libya") == "https://news.example.com/World/Libya"


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com:80/a", "https://example.com:80/a"),
    ],
)
def test_only_default_ports_dropped(link, expected):
    assert canonical_url(link) == expected


def test_fragment_dropped():
    assert canonical_url("https://example.com/a#comments") == "https://example.com/a"


def test_tracking_parameters_removed_and_rest_sorted():
    link = (
        "https://example.com/a?utm_source=rss&page=2&UTM_Medium=feed&fbclid=abc"
        "&id=7&gclid=x&mc_cid=1&_ga=2.1&pk_campaign=news"
    )
    assert canonical_url(link) == "https://example.com/a?id=7&page=2"


def test_query_order_does_not_change_the_url():
    assert canonical_url("https://example.com/a?b=2&a=1") == canonical_url("https://example.com/a?a=1&b=2")


def test_query_values_keep_their_encoding():
    assert canonical_url("https://example.com/s?q=a%20b&tag=x+y&flag") == (
        "https://example.com/s?flag&q=a%20b&tag=x+y"
    )


def test_only_tracking_parameters_leaves_no_question_mark():
    assert canonical_url("https://example.com/a?utm_source=x&utm_campaign=y") == "https://example.com/a"


def test_empty_path_becomes_slash_and_credentials_dropped():
    assert canonical_url("https://user:secret@Example.com") == "https://example.com/"


def test_ipv6_host_kept_in_brackets():
    assert canonical_url("http://[::1]:8000/feed") == "http://[::1]:8000/feed"


@pytest.mark.parametrize(
    ("link", "base"),
    [
        ("mailto:desk@example.com", None),
        ("javascript:void(0)", "https://example.com/"),
        ("ftp://example.com/file", None),
        ("tag:example.com,2020:entry-1", None),
        ("/relative/without/base", None),
        ("", "https://example.com/"),
        ("   ", None),
        (None, None),
        ("https://example.com:99999/a", None),
        ("https:///no-host", None),
    ],
)
def test_unusable_links_give_none(link, base):
    assert canonical_url(link, base) is None


def test_custom_tracking_rules(tmp_path):
    path = tmp_path / "normalize.yaml"
    path.write_text("tracking_parameters:\n  exact: [ref]\n  prefixes: [x_]\n", encoding="utf-8")
    rules = load_tracking_rules(path)
    link = "https://example.com/a?ref=rss&x_trace=1&utm_source=kept&id=1"
    assert canonical_url(link, rules=rules) == "https://example.com/a?id=1&utm_source=kept"


@pytest.mark.parametrize(
    "content",
    ["other: 1\n", "tracking_parameters:\n  exact: fbclid\n", "tracking_parameters:\n  prefixes: [1, 2]\n"],
)
def test_malformed_tracking_rules_raise_config_error(tmp_path, content):
    path = tmp_path / "normalize.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match="tracking_parameters"):
        load_tracking_rules(path)


def test_missing_settings_file_raises_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_tracking_rules(tmp_path / "absent.yaml")


def test_document_id_is_stable_short_hex():
    first = document_id("https://example.com/a")
    assert re.fullmatch(r"[0-9a-f]{24}", first)
    assert document_id("https://example.com/a") == first
    assert document_id("https://example.com/b") != first


def test_urls_that_differ_only_in_tracking_share_an_id():
    shared = canonical_url("https://Example.com:443/a?utm_source=twitter#top")
    direct = canonical_url("https://example.com/a")
    assert document_id(shared) == document_id(direct)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.reuters.com/world/africa/x", "reuters.com"),
        ("https://news.bbc.co.uk/x", "news.bbc.co.uk"),
        ("http://WWW.Example.org:8080/", "example.org"),
        ("/relative", None),
        ("", None),
        (None, None),
    ],
)
def test_outlet_from_url(url, expected):
    assert outlet_from_url(url) == expected
