"""split_sentences: abbreviations, initials, quotes, Arabic punctuation, line breaks, offsets."""

import pytest

from transforms.sentences import (
    SentenceRulesError,
    default_sentence_rules,
    load_sentence_rules,
    sentence_rules_from_mapping,
    split_sentences,
)


def sentences(text: str, language: str | None = "en") -> list[str]:
    return [text[start:end] for start, end in split_sentences(text, language)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Turkey sent drones. Russia sent jets.", ["Turkey sent drones.", "Russia sent jets."]),
        ("The U.N. envoy met Lt. Gen. Haftar in Benghazi. Talks failed.",
         ["The U.N. envoy met Lt. Gen. Haftar in Benghazi.", "Talks failed."]),
        ("Mr. Dbeibah and Dr. Salem met on Monday. No deal was reached.",
         ["Mr. Dbeibah and Dr. Salem met on Monday.", "No deal was reached."]),
        ("Resolution No. 1970 imposed an arms embargo. It still applies.",
         ["Resolution No. 1970 imposed an arms embargo.", "It still applies."]),
        ("Drones, jets, e.g. Pantsir systems, etc. were seen.",
         ["Drones, jets, e.g. Pantsir systems, etc. were seen."]),
        ("Khalifa B. Haftar leads the LNA. He is 80.",
         ["Khalifa B. Haftar leads the LNA.", "He is 80."]),
        ("The U.S.-backed plan failed. Fighting resumed.",
         ["The U.S.-backed plan failed.", "Fighting resumed."]),
        ("Oil output rose 3.5 percent. Exports followed.",
         ["Oil output rose 3.5 percent.", "Exports followed."]),
    ],
)
def test_abbreviations_initials_and_numbers_do_not_end_sentences(text, expected):
    assert sentences(text) == expected


def test_an_abbreviation_ends_a_sentence_when_a_sentence_starter_follows():
    assert sentences("Drones were flown in from the U.S. The ministry denied it.") == [
        "Drones were flown in from the U.S.", "The ministry denied it."]
    assert sentences("Officials in the U.S. Congress objected.") == [
        "Officials in the U.S. Congress objected."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"We enter the battle." He said it twice.',
         ['"We enter the battle."', "He said it twice."]),
        ('"We enter the battle," he said. Then he left.',
         ['"We enter the battle," he said.', "Then he left."]),
        ('"Are there Russians in Libya?" he asked. "No."',
         ['"Are there Russians in Libya?" he asked.', '"No."']),
        ("“There are no Russian troops.” The Kremlin repeated it.",
         ["“There are no Russian troops.”", "The Kremlin repeated it."]),
        ("Il a dit : « Nous sommes là. » Puis il est parti.",
         ["Il a dit : « Nous sommes là. »", "Puis il est parti."]),
    ],
)
def test_closing_quotes_stay_with_their_sentence(text, expected):
    assert sentences(text) == expected


def test_arabic_question_mark_and_semicolon_end_sentences():
    text = "هل أرسلت روسيا مرتزقة إلى ليبيا؟ نفت موسكو ذلك؛ وقال الكرملين إنه لا يملك معلومات."
    assert sentences(text, "ar") == [
        "هل أرسلت روسيا مرتزقة إلى ليبيا؟",
        "نفت موسكو ذلك؛",
        "وقال الكرملين إنه لا يملك معلومات.",
    ]


def test_line_breaks_from_block_elements_end_sentences():
    text = "Turkey sends drones to GNA\nAnkara confirmed the shipment\n\nNo comment from Moscow"
    assert sentences(text) == [
        "Turkey sends drones to GNA", "Ankara confirmed the shipment", "No comment from Moscow"]


def test_language_specific_abbreviations():
    french = "M. Dbeibah a réclamé le départ des mercenaires. Moscou dément."
    assert sentences(french, "fr") == ["M. Dbeibah a réclamé le départ des mercenaires.",
                                       "Moscou dément."]
    russian = "В Ливии находятся т.е. сотни наемников. Кремль отрицает."
    assert sentences(russian, "ru") == ["В Ливии находятся т.е. сотни наемников.",
                                        "Кремль отрицает."]
    # Unknown or unlisted languages use every language's abbreviations.
    assert sentences(french, None) == sentences(french, "fr")
    assert sentences(french, "de") == sentences(french, "fr")


def test_offsets_point_into_the_text_and_are_trimmed():
    text = "  Wagner is in Libya.   Moscow denies it.  \n"
    spans = split_sentences(text, "en")
    assert spans == [(2, 21), (24, 41)]
    assert [text[a:b] for a, b in spans] == ["Wagner is in Libya.", "Moscow denies it."]


def test_empty_and_blank_texts_have_no_sentences():
    assert split_sentences("", "en") == []
    assert split_sentences(" \n\n ", "en") == []


def test_text_without_terminator_is_one_sentence():
    text = "Russia and Turkey escalate in Libya"
    assert sentences(text) == [text]


def test_default_rules_are_loaded_once():
    assert default_sentence_rules() is default_sentence_rules()


def test_rules_from_a_mapping_are_checked():
    rules = sentence_rules_from_mapping({"terminators": ["."], "abbreviations": {"en": ["Gen."]}})
    assert ["Gen. Haftar spoke.", "Then he left."] == [
        "Gen. Haftar spoke. Then he left."[a:b]
        for a, b in split_sentences("Gen. Haftar spoke. Then he left.", "en", rules)]
    with pytest.raises(SentenceRulesError, match="terminators"):
        sentence_rules_from_mapping({"terminators": []})
    with pytest.raises(SentenceRulesError, match="closers must be single characters"):
        sentence_rules_from_mapping({"terminators": ["."], "closers": ["''"]})
    with pytest.raises(SentenceRulesError, match="unknown field"):
        sentence_rules_from_mapping({"terminators": ["."], "terminator": ["!"]})


def test_rules_file_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.yaml"
    with pytest.raises(SentenceRulesError, match="missing.yaml: cannot read"):
        load_sentence_rules(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("sentences: [", encoding="utf-8")
    with pytest.raises(SentenceRulesError, match="broken.yaml: invalid YAML"):
        load_sentence_rules(broken)
    no_section = tmp_path / "empty.yaml"
    no_section.write_text("types: {}\n", encoding="utf-8")
    with pytest.raises(SentenceRulesError, match="empty.yaml: missing mapping 'sentences'"):
        load_sentence_rules(no_section)
