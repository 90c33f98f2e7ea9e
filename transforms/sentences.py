"""Sentence boundaries as offsets, so that later stages can point back into the text.

Claims are read sentence by sentence: a denial or a source belongs to the
sentence it is written in. News text defeats a naive split on full stops
("U.N. envoy", "Lt. Gen. Haftar", "Khalifa B. Haftar", '"... battle." he
said'), so a terminator ends a sentence only when the token before it is not
a known abbreviation or an initial and the next word could start a sentence.
The rules (terminators, closing quotes, abbreviations per language) live in
the `sentences` section of claims.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "SentenceRules",
    "SentenceRulesError",
    "default_sentence_rules",
    "load_sentence_rules",
    "sentence_rules_from_mapping",
    "split_sentences",
]

_DEFAULT_FILE = Path(__file__).parent / "data" / "claims.yaml"


class SentenceRulesError(ValueError):
    """A `sentences` section that is missing a key or holds a value of the wrong type."""


@dataclass(frozen=True, eq=False)
class SentenceRules:
    """How to split: see the `sentences` section of claims.yaml."""

    terminators: frozenset[str]
    closers: frozenset[str]
    abbreviations: Mapping[str, frozenset[str]]
    ending_abbreviations: frozenset[str]
    sentence_starters: frozenset[str]
    split_on_newlines: bool = True
    initials: bool = True
    pattern: re.Pattern[str] = field(init=False, repr=False)  # every candidate end
    all_abbreviations: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # One pattern finds every candidate end: a run of terminators and the
        # closing quotes after it, or a line break.
        ends = "".join(re.escape(char) for char in sorted(self.terminators))
        closers = "".join(re.escape(char) for char in sorted(self.closers))
        newline = r"|\n" if self.split_on_newlines else ""
        # French sets a thin or plain space before its closing guillemet: "là. »"
        closing = f"(?:[{closers}]|[ \u00a0\u202f][»›])*" if closers else ""
        object.__setattr__(self, "pattern", re.compile(f"[{ends}]+{closing}{newline}"))
        object.__setattr__(self, "all_abbreviations",
                           frozenset().union(*self.abbreviations.values()))

    def abbreviations_for(self, language: str | None) -> frozenset[str]:
        """English ones always (news in any language quotes "U.N."), plus the language's own;
        every language's when the language is unknown or has no list."""
        base = (language or "").lower().split("-")[0].split("_")[0]
        if base not in self.abbreviations:
            return self.all_abbreviations
        return self.abbreviations[base] | self.abbreviations.get("en", frozenset())


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise SentenceRulesError(f"{where} must be a list of non-empty strings")
    return value


def sentence_rules_from_mapping(section: Any, where: str = "sentences") -> SentenceRules:
    """Rules from the parsed `sentences` section; `where` names it in error messages."""
    if not isinstance(section, Mapping):
        raise SentenceRulesError(f"{where}: expected a mapping")
    unknown = set(section) - {"terminators", "closers", "abbreviations", "ending_abbreviations",
                              "sentence_starters", "split_on_newlines", "initials"}
    if unknown:
        raise SentenceRulesError(f"{where}: unknown field(s) {sorted(unknown)}")
    terminators = _strings(section.get("terminators"), f"{where}.terminators")
    if not terminators or any(len(char) != 1 for char in terminators):
        raise SentenceRulesError(f"{where}.terminators must be a non-empty list of characters")
    closers = _strings(section.get("closers", []), f"{where}.closers")
    if any(len(char) != 1 for char in closers):
        raise SentenceRulesError(f"{where}.closers must be single characters")
    by_language = section.get("abbreviations", {})
    if not isinstance(by_language, Mapping):
        raise SentenceRulesError(f"{where}.abbreviations must map a language to a list")
    abbreviations = {
        str(language): frozenset(_strings(forms or [], f"{where}.abbreviations.{language}"))
        for language, forms in by_language.items()
    }
    flags = {}
    for flag in ("split_on_newlines", "initials"):
        value = section.get(flag, True)
        if not isinstance(value, bool):
            raise SentenceRulesError(f"{where}.{flag} must be true or false")
        flags[flag] = value
    return SentenceRules(
        terminators=frozenset(terminators),
        closers=frozenset(closers),
        abbreviations=abbreviations,
        ending_abbreviations=frozenset(
            _strings(section.get("ending_abbreviations", []), f"{where}.ending_abbreviations")),
        sentence_starters=frozenset(
            _strings(section.get("sentence_starters", []), f"{where}.sentence_starters")),
        **flags,
    )


def load_sentence_rules(path: str | Path | None = None) -> SentenceRules:
    """The `sentences` section of the claim lexicon file at `path` (default: the packaged one)."""
    path = Path(path) if path is not None else _DEFAULT_FILE
    source = path.name if path == _DEFAULT_FILE else str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SentenceRulesError(f"{source}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise SentenceRulesError(" ".join(f"{source}: invalid YAML: {exc}".split())) from exc
    if not isinstance(data, Mapping) or "sentences" not in data:
        raise SentenceRulesError(f"{source}: missing mapping 'sentences'")
    return sentence_rules_from_mapping(data["sentences"], f"{source}: sentences")


@lru_cache(maxsize=1)
def default_sentence_rules() -> SentenceRules:
    """The packaged rules, loaded once per process."""
    return load_sentence_rules()


_DOTTED = re.compile(r"^(?:\w\.){2,}$")  # U.N., e.g., т.е.: dotted abbreviations in general
_OPENERS = "\"'“‘«([‹"


def _token_before(text: str, end: int, start_limit: int) -> str:
    """The whitespace-delimited token ending at `end`, without opening quotes."""
    start = end
    while start > start_limit and not text[start - 1].isspace():
        start -= 1
    return text[start:end].lstrip(_OPENERS)


_WORD = re.compile(r"\S+")


def _next_word(text: str, position: int) -> str:
    match = _WORD.search(text, position)
    return match.group(0).lstrip(_OPENERS) if match else ""


def _ends_sentence(text: str, run_start: int, run_end: int, rules: SentenceRules,
                   abbreviations: frozenset[str]) -> bool:
    """Whether the terminator run text[run_start:run_end] ends a sentence."""
    if run_end < len(text) and not text[run_end].isspace():
        return False  # "3.5", "U.S.-backed", "Libya.Then": no space, no end
    following = _next_word(text, run_end)
    if not following:
        return True
    first = following[0]
    if first.islower():
        return False  # '"... the battle." he said', "etc. and"
    run = text[run_start:run_end]
    if run.rstrip("".join(rules.closers) + " \u00a0\u202f") != ".":
        return True  # "?", "!", "...", Arabic question mark and semicolon
    token = _token_before(text, run_start + 1, 0)
    starts_sentence = following.rstrip(",;:") in rules.sentence_starters
    if token in rules.ending_abbreviations:
        return starts_sentence
    if token in abbreviations:
        return False
    if rules.initials and len(token) == 2 and token[0].isupper():
        return False  # an initial: "Khalifa B. Haftar"
    if _DOTTED.match(token):
        return starts_sentence
    return True


def split_sentences(text: str, language: str | None = None,
                    rules: SentenceRules | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of `text`, whitespace trimmed, none empty.

    `language` (an ISO code such as "en", "fr-FR") selects the abbreviations;
    None uses every language's.
    """
    rules = rules or default_sentence_rules()
    abbreviations = rules.abbreviations_for(language)
    spans: list[tuple[int, int]] = []
    start = 0
    for boundary in rules.pattern.finditer(text):
        if boundary.group(0) != "\n" and not _ends_sentence(
                text, boundary.start(), boundary.end(), rules, abbreviations):
            continue
        _append(spans, text, start, boundary.end())
        start = boundary.end()
    _append(spans, text, start, len(text))
    return spans


def _append(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))

