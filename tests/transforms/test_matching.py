"""TermMatcher: many terms, one pass, word boundaries in Latin, Cyrillic and Arabic."""

import pytest

from transforms.matching import (
    ARABIC_CLITIC_PREFIXES,
    Term,
    TermError,
    TermMatcher,
    fold,
    terms_from_forms,
)


def matcher(*terms: Term) -> TermMatcher:
    return TermMatcher.from_terms(terms)


def found(m: TermMatcher, text: str) -> list[tuple[str, str]]:
    return [(match.term_id, match.surface) for match in m.find(text)]


LIBYA = matcher(Term("libya", "Libya"), Term("libyan", "Libyan"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Libya", [("libya", "Libya")]),
        ("in Libya's south", [("libya", "Libya")]),
        ("a Libyan official", [("libyan", "Libyan")]),
        ("Libyans voted", []),
        ("Libyaville", []),
        ("Olibya", []),
        ("Libya2", []),
        ("(Libya)", [("libya", "Libya")]),
        ("LIBYA, libya", [("libya", "LIBYA"), ("libya", "libya")]),
        ("Libya-based", [("libya", "Libya")]),
    ],
)
def test_word_boundaries(text, expected):
    assert found(LIBYA, text) == expected


def test_offsets_point_into_the_original_text():
    text = "Reports from Libya and Libyan ports"
    matches = LIBYA.find(text)
    assert [(m.start, m.end) for m in matches] == [(13, 18), (23, 29)]
    assert all(text[m.start:m.end] == m.surface for m in matches)


def test_offsets_stay_aligned_after_characters_that_fold_to_two():
    # "ß".casefold() is "ss" and "İ".casefold() is two characters: the folded
    # copy must still line up with the original.
    text = "Straße İİİ Libya"
    (match,) = LIBYA.find(text)
    assert (match.start, match.end, match.surface) == (11, 16, "Libya")


def test_fold_keeps_length_and_removes_case_and_diacritics():
    text = "ÉGYPTE Straße İstanbul Erdoğan Ёлка أردوغان"
    assert len(fold(text)) == len(text)
    assert fold("Cyrénaïque") == fold("CYRENAIQUE") == "cyrenaique"
    assert fold("أردوغان") == fold("اردوغان")
    assert fold("N’Djamena") == fold("N'Djamena")


ACRONYMS = matcher(
    Term("un", "UN", case_sensitive=True),
    Term("usa", "US", case_sensitive=True),
    Term("usa", "U.S.", case_sensitive=True),
    Term("unsmil", "UNSMIL", case_sensitive=True),
    Term("lna", "LNA", case_sensitive=True),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the UN said", [("un", "UN")]),
        ("a UN-backed government", [("un", "UN")]),
        ("un homme, Un jour", []),
        ("let us go", []),
        ("US troops", [("usa", "US")]),
        ("U.S.-made drones", [("usa", "U.S.")]),
        ("UNSMIL said", [("unsmil", "UNSMIL")]),
        ("the LNA and the lna", [("lna", "LNA")]),
    ],
)
def test_case_sensitive_acronyms(text, expected):
    assert found(ACRONYMS, text) == expected


RUSSIAN = matcher(Term("libya", "Ливи", prefix=True), Term("haftar", "Хафтар", prefix=True))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ливия", [("libya", "Ливия")]),
        ("в Ливии", [("libya", "Ливии")]),
        ("в Ливию", [("libya", "Ливию")]),
        ("ливийский", [("libya", "ливийский")]),
        ("войска Хафтара", [("haftar", "Хафтара")]),
        ("Оливия", []),
        ("Ливан", []),
    ],
)
def test_cyrillic_prefix_terms_take_case_endings(text, expected):
    assert found(RUSSIAN, text) == expected


def test_french_prefix_term():
    m = matcher(Term("libyan", "libyen", prefix=True))
    assert found(m, "les forces libyennes et Libyens") == [("libyan", "libyennes"), ("libyan", "Libyens")]


ARABIC = matcher(Term("libya", "ليبيا"), Term("libyan", "ليبي"), Term("jufra", "جفرة"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ليبيا", [("libya", "ليبيا")]),
        ("وليبيا", [("libya", "ليبيا")]),
        ("بليبيا", [("libya", "ليبيا")]),
        ("لليبيا", [("libya", "ليبيا")]),
        ("فليبيا", [("libya", "ليبيا")]),
        ("الجيش الليبي", [("libyan", "ليبي")]),
        ("والليبي", [("libyan", "ليبي")]),
        ("قاعدة الجفرة", [("jufra", "جفرة")]),
        ("وبالجفرة", [("jufra", "جفرة")]),
        ("مليبيا", []),
        ("ليبيريا", []),
        ("ليبيات", []),
        ("سالليبيا", []),
    ],
)
def test_arabic_clitics_allowed_before_terms(text, expected):
    assert found(ARABIC, text) == expected


def test_arabic_clitic_prefixes_include_the_listed_ones():
    assert {"و", "ف", "ب", "ل", "ك", "ال", "وال", "بال", "لل"} <= ARABIC_CLITIC_PREFIXES


def test_arabic_term_matches_with_hamza_variants():
    m = matcher(Term("erdogan", "أردوغان"))
    assert found(m, "قال اردوغان") == [("erdogan", "اردوغان")]


def test_accents_ignored_for_case_insensitive_terms():
    m = matcher(Term("cyrenaica", "Cyrénaïque"), Term("erdogan", "Erdogan"))
    assert found(m, "la Cyrenaique et Erdoğan") == [("cyrenaica", "Cyrenaique"), ("erdogan", "Erdoğan")]


def test_longest_overlapping_match_wins():
    m = matcher(Term("khalifa_haftar", "Haftar"), Term("saddam_haftar", "Saddam Haftar"),
                Term("benghazi", "Benghazi"), Term("bdb", "Benghazi Defence Brigades"))
    text = "Saddam Haftar met Haftar after the Benghazi Defence Brigades left Benghazi."
    assert found(m, text) == [
        ("saddam_haftar", "Saddam Haftar"),
        ("khalifa_haftar", "Haftar"),
        ("bdb", "Benghazi Defence Brigades"),
        ("benghazi", "Benghazi"),
    ]


def test_same_span_reported_once_per_id_and_for_each_id():
    m = matcher(Term("libya", "Libia"), Term("libya", "Líbia"), Term("place", "Libia"))
    assert found(m, "Libia") == [("libya", "Libia"), ("place", "Libia")]


def test_matches_in_text_order_across_both_automata():
    m = matcher(Term("un", "UN", case_sensitive=True), Term("libya", "Libya"))
    assert found(m, "Libya and the UN and libya") == [("libya", "Libya"), ("un", "UN"), ("libya", "libya")]


def test_match_carries_its_term():
    term = Term("libya", "Libya", weight=0.7)
    (match,) = matcher(term).find("Libya")
    assert match.term == term


def test_empty_inputs():
    assert LIBYA.find("") == []
    assert TermMatcher.from_terms([]).find("Libya") == []


def test_terms_from_forms():
    forms = [
        "Libya",
        {"surface": "Ливи", "prefix": True},
        {"surface": "LBY", "case_sensitive": True, "weight": 0.5},
    ]
    terms = terms_from_forms("libya", forms, weight=0.9)
    assert terms == [
        Term("libya", "Libya", 0.9),
        Term("libya", "Ливи", 0.9, prefix=True),
        Term("libya", "LBY", 0.5, case_sensitive=True),
    ]


@pytest.mark.parametrize(
    ("form", "fragment"),
    [
        ({"prefix": True}, "'surface' must be a non-empty string"),
        ({"surface": "  "}, "'surface' must be a non-empty string"),
        ({"surface": "x", "prefix": "yes"}, "'prefix' must be true or false"),
        ({"surface": "x", "weight": -1}, "'weight' must be a non-negative number"),
        ({"surface": "x", "colour": "red"}, "unknown field"),
        (7, "expected a string or a mapping"),
    ],
)
def test_terms_from_forms_rejects_bad_forms(form, fragment):
    with pytest.raises(TermError, match=fragment) as caught:
        terms_from_forms("libya", [form], where="terms[3]")
    assert "terms[3].forms[0]" in str(caught.value)


# --- fast paths: each must give exactly what the plain path gives ----------------------

from transforms.matching import _fold_each  # noqa: E402


@pytest.mark.parametrize(
    "text",
    [
        "Libya",
        "Reuters \u2014 Haftar\u2019s forces entered Sirte on Tuesday, officials said.",
        "Straße İİİ Libya ß",
        "ليبيا وبالليبيين، " * 10,
        "Ливия и ЛИВИЯ: " * 10 + "and a Latin tail " * 5,
        "mostly ASCII " * 20 + "é" + " more ASCII" * 20 + "\ud800 lone surrogate",
        "Ꭰ cherokee ꭰ " + "x" * 100,
        "",
    ],
)
def test_fold_equals_folding_each_character(text):
    assert fold(text) == _fold_each(text)
    assert len(fold(text)) == len(text)


def test_case_sensitive_and_folded_forms_of_one_span_keep_their_order():
    # The case-sensitive form is reported for its span, as when the two kinds
    # were searched in separate passes.
    m = matcher(Term("un", "UN", case_sensitive=True), Term("un", "un"), Term("other", "un"))
    assert [(x.term_id, x.term.case_sensitive) for x in m.find("the UN said")] == [
        ("other", False), ("un", True)]
    assert [(x.term_id, x.term.case_sensitive) for x in m.find("the un said")] == [
        ("other", False), ("un", False)]


def test_overlapping_and_adjacent_spans_resolve_alike():
    m = matcher(Term("haftar", "Haftar"), Term("saddam", "Saddam Haftar"), Term("lna", "LNA"))
    text = "Saddam Haftar and Haftar met the LNA"
    assert [(x.term_id, x.start, x.end) for x in m.find(text)] == [
        ("saddam", 0, 13), ("haftar", 18, 24), ("lna", 33, 36)]
