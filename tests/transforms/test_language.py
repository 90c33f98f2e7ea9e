"""Declared language tags and language detection."""

import pytest

from transforms.language import (
    DetectionSettings,
    detect_language,
    load_detection_settings,
    normalize_language_tag,
)
from transforms.urls import ConfigError


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("en", "en"),
        ("en-US", "en"),
        ("EN_gb", "en"),
        (" fr-FR ", "fr"),
        ("ar-LY", "ar"),
        ("ara", None),
        ("english", None),
        ("", None),
        (None, None),
        ("e1", None),
    ],
)
def test_normalize_language_tag(tag, expected):
    assert normalize_language_tag(tag) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The minister said the talks would resume next week in Geneva.", "en"),
        ("Le ministre a déclaré que les négociations reprendraient la semaine prochaine.", "fr"),
        ("قال الوزير إن المحادثات ستستأنف الأسبوع المقبل في جنيف.", "ar"),
        ("Министр заявил, что переговоры возобновятся на следующей неделе.", "ru"),
        ("Il ministro ha detto che i colloqui riprenderanno la prossima settimana a Ginevra.", "it"),
        ("Der Minister sagte, die Gespräche würden nächste Woche in Genf fortgesetzt.", "de"),
        ("El ministro dijo que las conversaciones se reanudarán la próxima semana en Ginebra.", "es"),
        ("Bakan, görüşmelerin gelecek hafta Cenevre'de yeniden başlayacağını söyledi.", "tr"),
    ],
)
def test_detects_configured_languages(text, expected):
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["", "Libya", "Haftar, Sirte", "12345 67890 !!! ???"])
def test_too_short_to_judge(text):
    assert detect_language(text) is None


def test_low_confidence_guess_not_used():
    # Enough letters, but proper names carry no language.
    assert detect_language("Tripoli Benghazi Misrata Sirte") is None


def test_detection_restricted_to_configured_set():
    settings = DetectionSettings(("en", "fr"), min_letters=12, min_confidence=0.0, max_chars=4000)
    german = "Der Minister sagte, die Gespräche würden nächste Woche in Genf fortgesetzt."
    assert detect_language(german, settings) in {"en", "fr"}


def test_settings_loaded_from_file(tmp_path):
    path = tmp_path / "normalize.yaml"
    path.write_text(
        "language_detection:\n  languages: [en, ar]\n  min_letters: 3\n"
        "  min_confidence: 0.2\n  max_chars: 100\n",
        encoding="utf-8",
    )
    settings = load_detection_settings(path)
    assert settings == DetectionSettings(("en", "ar"), min_letters=3, min_confidence=0.2, max_chars=100)


def test_packaged_settings_cover_the_monitored_languages():
    monitored = {"en", "fr", "ar", "ru", "it", "de", "es", "tr"}
    assert monitored <= set(load_detection_settings().languages)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("other: 1\n", "language_detection"),
        ("language_detection:\n  languages: en\n", "languages"),
        (
            "language_detection:\n  languages: [en]\n  min_letters: many\n"
            "  min_confidence: 0.5\n  max_chars: 10\n",
            "min_letters",
        ),
    ],
)
def test_malformed_settings_raise_config_error(tmp_path, content, fragment):
    path = tmp_path / "normalize.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=fragment):
        load_detection_settings(path)


def test_unknown_language_code_raises_config_error():
    settings = DetectionSettings(("en", "xx"), min_letters=1, min_confidence=0.0, max_chars=100)
    with pytest.raises(ConfigError, match="xx"):
        detect_language("The minister said the talks would resume.", settings)
