"""load_feeds: a valid file, and one test per kind of error (each names file and place)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from connectors.errors import ConfigError, LibyaWatchError
from connectors.feeds import FeedsConfig, FetchSettings, load_feeds
from transforms.model import FeedSpec


def write(tmp_path: Path, text: str, name: str = "feeds.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_feeds(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


def test_valid_file_with_defaults_and_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
settings:
  timeout: 12
  retries: 1
  per_host: 4
feeds:
  - url: https://tripoliwire.example.com/rss
    name: Tripoli Wire
    language: en
  - url: http://libyadesk.example.com/feed
    timeout: 5.5
    max_bytes: 2000000
    retries: 0
""",
    )

    config = load_feeds(path)

    assert config == FeedsConfig(
        feeds=(
            FeedSpec(
                url="https://tripoliwire.example.com/rss",
                name="Tripoli Wire",
                language="en",
                timeout=12.0,
                max_bytes=10 * 1024 * 1024,
                retries=1,
            ),
            FeedSpec(
                url="http://libyadesk.example.com/feed",
                timeout=5.5,
                max_bytes=2_000_000,
                retries=0,
            ),
        ),
        settings=FetchSettings(timeout=12, retries=1, per_host=4),
    )


def test_defaults_without_settings(tmp_path: Path) -> None:
    config = load_feeds(write(tmp_path, "feeds:\n  - url: https://a.example/rss\n"))

    settings = config.settings
    assert (settings.timeout, settings.max_bytes, settings.retries) == (20.0, 10 * 1024 * 1024, 2)
    assert (settings.concurrency, settings.per_host) == (16, 2)
    assert settings.user_agent.startswith("libya-watch/")
    assert config.feeds[0] == FeedSpec(url="https://a.example/rss")


def test_every_setting_can_be_set_from_the_file(tmp_path: Path) -> None:
    wanted = {f.name: "agent/1" if f.name == "user_agent" else 3 for f in fields(FetchSettings)}
    lines = "".join(f"  {name}: {value}\n" for name, value in wanted.items())
    path = write(tmp_path, f"settings:\n{lines}feeds:\n  - url: https://a.example/rss\n")

    settings = load_feeds(path).settings

    assert {name: getattr(settings, name) for name in wanted} == wanted


def test_file_urls_relative_and_absolute(tmp_path: Path) -> None:
    (tmp_path / "archive").mkdir()
    absolute = tmp_path / "elsewhere.xml"
    path = write(
        tmp_path,
        f"""
feeds:
  - url: file:archive/tripoli.xml
  - url: file:./archive/../archive/benghazi.xml
  - url: {absolute.as_uri()}
""",
    )

    urls = [feed.url for feed in load_feeds(path).feeds]

    assert urls == [
        (tmp_path / "archive" / "tripoli.xml").as_uri(),
        (tmp_path / "archive" / "benghazi.xml").as_uri(),
        absolute.as_uri(),
    ]


def test_config_error_is_a_libya_watch_error() -> None:
    assert issubclass(ConfigError, LibyaWatchError)


# --- one test per kind of error ----------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert error_of(tmp_path / "feeds.yaml") == "file not found"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: https://a.example/rss\n    name: [unclosed\n")

    message = error_of(path)

    assert message.startswith("line 4, column 1: YAML syntax error: ")


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: https://a.example/rss\n    url: https://b.example/\n")

    assert error_of(path) == "line 3, column 5: YAML syntax error: duplicate key 'url'"


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- url: https://a.example/rss\n")

    assert error_of(path) == "top level: the top level must be a mapping with a 'feeds' list"


def test_empty_file(tmp_path: Path) -> None:
    assert error_of(write(tmp_path, "")).startswith("top level: ")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, "feed:\n  - url: https://a.example/rss\n")

    assert error_of(path) == "top level: unknown key 'feed'"


def test_missing_feeds_list(tmp_path: Path) -> None:
    path = write(tmp_path, "settings:\n  retries: 1\n")

    assert error_of(path) == "top level: missing 'feeds' list"


def test_feeds_not_a_list(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  url: https://a.example/rss\n")

    assert error_of(path) == "feeds: must be a list of feeds"


def test_feeds_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds: []\n")

    assert error_of(path) == "feeds: the list is empty; name at least one feed"


def test_feed_given_as_a_bare_string(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - https://a.example/rss\n")

    assert error_of(path).startswith("feeds[0]: must be a mapping with a 'url' key")


def test_unknown_feed_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
feeds:
  - url: https://a.example/rss
  - url: https://b.example/rss
  - url: https://c.example/rss
  - urll: https://d.example/rss
""",
    )

    assert error_of(path) == "feeds[3]: unknown key 'urll'"


def test_missing_url(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: https://a.example/rss\n  - name: Libya Desk\n")

    assert error_of(path) == "feeds[1]: missing 'url'"


def test_url_not_a_string(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: 42\n")

    assert error_of(path) == "feeds[0]: url must be a non-empty string, got 42"


def test_bad_url_scheme(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: ftp://a.example/rss\n")

    assert error_of(path) == (
        "feeds[0]: unsupported url scheme 'ftp' (use http, https or file): 'ftp://a.example/rss'"
    )


def test_url_without_scheme(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: www.a.example/rss\n")

    assert error_of(path).startswith("feeds[0]: url has no scheme")


def test_http_url_without_host(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: 'https:///rss'\n")

    assert error_of(path).startswith("feeds[0]: url has no host")


def test_url_with_bad_port(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: https://a.example:99999/rss\n")

    assert error_of(path).startswith("feeds[0]: invalid url 'https://a.example:99999/rss'")


def test_url_with_whitespace(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: 'https://a.example/libya rss'\n")

    assert error_of(path).startswith("feeds[0]: url contains whitespace")


def test_file_url_with_a_host(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: file://server/share/feed.xml\n")

    assert error_of(path) == (
        "feeds[0]: file url must not name a host: 'file://server/share/feed.xml'"
    )


def test_duplicate_url(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
feeds:
  - url: https://a.example/rss
  - url: https://b.example/rss
  - url: https://a.example/rss
""",
    )

    assert error_of(path) == "feeds[2]: duplicate url 'https://a.example/rss' (first in feeds[0])"


def test_duplicate_file_url_after_resolving(tmp_path: Path) -> None:
    absolute = (tmp_path / "feed.xml").as_uri()
    path = write(tmp_path, f"feeds:\n  - url: file:feed.xml\n  - url: {absolute}\n")

    assert error_of(path).startswith("feeds[1]: duplicate url ")


@pytest.mark.parametrize("value", ["0", "-3", "true", "'fast'", ".nan"])
def test_non_positive_or_non_numeric_timeout(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"feeds:\n  - url: https://a.example/rss\n    timeout: {value}\n")

    assert error_of(path).startswith("feeds[0]: timeout must be a positive number of seconds, got ")


def test_max_bytes_must_be_a_positive_integer(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: https://a.example/rss\n    max_bytes: 1.5\n")

    assert error_of(path) == "feeds[0]: max_bytes must be a positive integer, got 1.5"


def test_negative_retries(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: https://a.example/rss\n    retries: -1\n")

    assert error_of(path) == "feeds[0]: retries must be a non-negative integer, got -1"


def test_bad_language(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: https://a.example/rss\n    language: English\n")

    assert error_of(path).startswith("feeds[0]: language must be a language tag")


def test_empty_name(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: https://a.example/rss\n    name: ''\n")

    assert error_of(path) == "feeds[0]: name must be a non-empty string, got ''"


def test_settings_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "settings: 20\nfeeds:\n  - url: https://a.example/rss\n")

    assert error_of(path) == "settings: must be a mapping"


def test_unknown_setting(tmp_path: Path) -> None:
    path = write(tmp_path, "settings:\n  timout: 5\nfeeds:\n  - url: https://a.example/rss\n")

    assert error_of(path) == "settings: unknown key 'timout'"


def test_bad_setting_value(tmp_path: Path) -> None:
    path = write(tmp_path, "settings:\n  concurrency: 0\nfeeds:\n  - url: https://a.example/rss\n")

    assert error_of(path) == "settings: concurrency must be a positive integer, got 0"


def test_empty_user_agent(tmp_path: Path) -> None:
    path = write(tmp_path, "settings:\n  user_agent: ' '\nfeeds:\n  - url: https://a.example/rss\n")

    assert error_of(path) == "settings: user_agent must be a non-empty string, got ' '"


def test_file_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    text = "feeds:\n  - url: https://a.example/rss\n    name: D\u00e9p\u00eaches\n"
    path.write_bytes(text.encode("latin-1"))

    assert error_of(path).startswith("cannot read file: 'utf-8' codec can't decode")
