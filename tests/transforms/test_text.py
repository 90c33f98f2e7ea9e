"""html_to_text: reader-visible text from feed HTML."""

import pytest

from transforms.text import html_to_text


def test_tags_removed_and_blocks_become_lines():
    html = "<div><h1>Clashes in <b>Tripoli</b></h1><p>Gunfire was heard.</p><p>Three died.</p></div>"
    assert html_to_text(html) == "Clashes in Tripoli\nGunfire was heard.\nThree died."


def test_adjacent_blocks_do_not_run_together():
    assert html_to_text("<p>Tripoli</p><p>Sirte</p>") == "Tripoli\nSirte"
    assert html_to_text("<li>Tobruk</li><li>Derna</li>") == "Tobruk\nDerna"
    assert html_to_text("Benghazi<br>Misrata<br/>Sabha") == "Benghazi\nMisrata\nSabha"


def test_inline_elements_do_not_split_words():
    assert html_to_text("Lib<b>ya</b> and <a href='/x'>Haftar</a>'s forces") == "Libya and Haftar's forces"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("&lt;b&gt; is a tag", "<b> is a tag"),
        ("&#x41;&#66;C", "ABC"),
        ("caf&eacute; &laquo;Sirte&raquo;", "café «Sirte»"),
        ("a&nbsp;&nbsp;b", "a b"),
        ("AT&T and &unknown;", "AT&T and &unknown;"),
    ],
)
def test_entities_unescaped(html, expected):
    assert html_to_text(html) == expected


def test_script_style_noscript_content_dropped():
    html = (
        "<p>Before</p><script>var s = '<p>not text</p>';</script>"
        "<STYLE>p { color: red }</STYLE><noscript>Enable JavaScript</noscript><p>After</p>"
    )
    assert html_to_text(html) == "Before\nAfter"


def test_unclosed_script_hides_only_what_follows_it():
    assert html_to_text("<p>Visible</p><script>tracking();") == "Visible"


def test_comments_dropped_and_cdata_kept():
    assert html_to_text("one <!-- hidden --> two <![CDATA[three]]>") == "one two three"


def test_whitespace_collapsed_within_lines_and_blank_lines_removed():
    html = "  Haftar\t\tforces \r\n\n\n   advance\u00a0 now  <p>  </p><p> next </p>"
    assert html_to_text(html) == "Haftar forces\nadvance now\nnext"


def test_invisible_characters_removed():
    assert html_to_text("Li\u200bbya\u00ad \ufeffnews") == "Libya news"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("a < b and c > d", "a < b and c > d"),
        ("<p>unclosed paragraph <b>bold", "unclosed paragraph bold"),
        ("</p>stray end tag</div>", "stray end tag"),
        ("<p class='x>broken attribute</p>", ""),
        ("text with <", "text with <"),
    ],
)
def test_broken_html_does_not_raise(html, expected):
    assert html_to_text(html) == expected


def test_plain_text_and_empty_input():
    assert html_to_text("Plain text, no markup.") == "Plain text, no markup."
    assert html_to_text("") == ""
    assert html_to_text("<p> </p><br>") == ""


def test_non_latin_text_preserved():
    assert html_to_text("<p>قوات حفتر</p><p>Хафтар &mdash; Ливия</p>") == "قوات حفتر\nХафтар — Ливия"


# --- simple markup takes a shortcut that must give the parser's text -------------------

from transforms.text import _TextCollector  # noqa: E402


def _parsed(html: str) -> str:
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return collector.text()


@pytest.mark.parametrize(
    "html",
    [
        "<p>Tripoli</p><p>Sirte &amp; Misrata</p><p><em>Reporting by A</em></p>",
        "<P>Upper</P ><br/>x<br />y<BR>z",
        "&am<p>p; split entity</p>",
        "a < b and <p>c</p>",
        "<p>x</p><script>hidden()</script><p>y</p>",
        "<title>T</title><p>x</p>",
        "<p class='a'>attrs</p><!-- comment --><![CDATA[kept]]>",
        "plain &lt;text&gt; with\u200b invisible\u00ad characters",
        "<p>unclosed <b",
    ],
)
def test_html_to_text_equals_the_parser(html):
    assert html_to_text(html) == _parsed(html)
