"""Find many terms in a text in one pass, respecting word boundaries in any script.

Topic packs and actor lists hold hundreds of surface forms in Latin, Arabic
and Cyrillic script; looping a pattern per term over every article would not
scale. The terms go into two Aho-Corasick automata (pyahocorasick), one for
case-sensitive forms (acronyms such as "UN", which must not match "un") run
over the text as written, and one for the rest run over a folded copy of the
text. Folding maps every character to exactly one character, so offsets in the
folded copy are offsets in the original and boundaries are checked on the very
string that was matched.

Word boundaries: a match may neither start nor end inside a word, with two
exceptions. A `prefix` term is a stem that may take endings (Russian cases,
French agreement), so it may end inside a word and the match then extends to
the end of that word. A term in Arabic script may be preceded by attached
clitics (و ف ب ك ل and the article ال, combined as in وبال, لل), since Arabic
writes them as part of the word.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import product
from typing import Any

import ahocorasick

__all__ = [
    "ARABIC_CLITIC_PREFIXES",
    "Match",
    "Term",
    "TermError",
    "TermMatcher",
    "fold",
    "terms_from_forms",
]


class TermError(ValueError):
    """A term definition that cannot be matched (empty surface, bad weight, bad field)."""


@dataclass(frozen=True)
class Term:
    """One surface form to find, and the id it stands for (several forms share an id)."""

    id: str
    surface: str
    weight: float = 1.0
    case_sensitive: bool = False
    prefix: bool = False


@dataclass(frozen=True)
class Match:
    """One occurrence: `surface` is the text as written, text[start:end]."""

    term_id: str
    surface: str
    start: int
    end: int
    term: Term


def _build_arabic_prefixes() -> frozenset[str]:
    # conjunction? + preposition? + article?, where ل followed by ال is written لل.
    prefixes = set()
    conjunctions, prepositions, articles = ("", "و", "ف"), ("", "ب", "ك", "ل"), ("", "ال")
    for conjunction, preposition, article in product(conjunctions, prepositions, articles):
        if preposition == "ل" and article:
            prefixes.add(conjunction + "لل")
        else:
            prefixes.add(conjunction + preposition + article)
    prefixes.discard("")
    return frozenset(prefixes)


ARABIC_CLITIC_PREFIXES = _build_arabic_prefixes()

# Characters that writers use interchangeably: alef maqsura for final ya,
# typographic apostrophes and hyphens. (Hamza-carrying alefs reduce to bare
# alef through decomposition in `_fold_char`.)
_EQUIVALENTS = {"ى": "ي", "\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2010": "-", "\u2011": "-"}


class _FoldTable(dict):
    """Character -> folded character, computed on first use; always exactly one character."""

    def __missing__(self, codepoint: int) -> str:
        folded = _fold_char(chr(codepoint))
        self[codepoint] = folded
        return folded


def _fold_char(char: str) -> str:
    # Case-fold, keeping one character (ß -> s, İ -> i), then strip diacritics
    # by canonical decomposition (é -> e, ğ -> g, أ -> ا, ё -> е).
    folded = char.casefold()[0]
    while True:
        decomposition = unicodedata.decomposition(folded)
        if not decomposition or decomposition.startswith("<"):
            break
        folded = chr(int(decomposition.split()[0], 16))
    return _EQUIVALENTS.get(folded, folded)


_FOLD_TABLE = _FoldTable()
# Runs of characters outside ASCII. In mostly-ASCII text (Latin script with a
# few curly quotes or accented names) only these need the table.
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
# Above this share of non-ASCII runs per character, one pass through the
# table beats a callback per run (Arabic or Cyrillic words between spaces).
_RUNS_PER_CHAR = 1 / 64


def fold(text: str) -> str:
    """Case- and accent-insensitive form of `text`, the same length as `text`.

    Same length, character for character, so that a match found in the folded
    text has the same offsets in the original.
    """
    if text.isascii():  # the common case: folding ASCII is lower-casing
        return text.lower()
    if len(_NON_ASCII_RUN.findall(text)) > len(text) * _RUNS_PER_CHAR:
        return text.translate(_FOLD_TABLE)
    # Non-ASCII runs through the table, then the ASCII letters lower-cased on
    # the UTF-8 bytes, where `bytes.lower` touches nothing but ASCII: the same
    # characters as translating all of `text`. ("surrogatepass": a lone
    # surrogate, which a `str` may hold, survives the round trip.)
    partly = _NON_ASCII_RUN.sub(_fold_run, text)
    return partly.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


def _fold_run(run: re.Match[str]) -> str:
    return run.group().translate(_FOLD_TABLE)


def _fold_each(text: str) -> str:
    """`fold` one character at a time through the table: what `fold` must equal."""
    return text.translate(_FOLD_TABLE)


def _is_word_char(char: str) -> bool:
    # Letters and digits of any script, plus combining marks (Arabic harakat,
    # Cyrillic accents), which belong to the letter before them.
    return char.isalnum() or char == "_" or unicodedata.category(char).startswith("M")


class _WordCharTable(dict):
    """Character -> `_is_word_char(character)`, computed on first use.

    Boundaries are checked for every hit of the automata; a dict lookup costs
    a fraction of the Unicode category test.
    """

    def __missing__(self, char: str) -> bool:
        is_word = _is_word_char(char)
        self[char] = is_word
        return is_word


_WORD_CHAR = _WordCharTable()
_NEW = object.__new__


def _new_match(term: Term, surface: str, start: int, end: int) -> Match:
    # Equal to Match(term.id, surface, start, end, term), built without the
    # five object.__setattr__ calls of a frozen dataclass's __init__: find()
    # makes one per match, and a news text has dozens.
    match = _NEW(Match)
    values = match.__dict__
    values["term_id"] = term.id
    values["surface"] = surface
    values["start"] = start
    values["end"] = end
    values["term"] = term
    return match


_ARABIC_BLOCKS = (("\u0600", "\u06ff"), ("\u0750", "\u077f"), ("\u08a0", "\u08ff"))


def _is_arabic(char: str) -> bool:
    # Most calls see Latin letters, below every block: one comparison settles them.
    return char >= "\u0600" and any(low <= char <= high for low, high in _ARABIC_BLOCKS)


def terms_from_forms(
    term_id: str, forms: Iterable[str | Mapping[str, Any]], *, weight: float = 1.0, where: str = ""
) -> list[Term]:
    """Terms for one id from YAML-style forms: a plain string, or a mapping with
    `surface` and optional `case_sensitive`, `prefix`, `weight`.

    `where` names the place in the source file for error messages.
    """
    where = where or term_id
    terms = []
    for index, form in enumerate(forms):
        here = f"{where}.forms[{index}]"
        if isinstance(form, str):
            form = {"surface": form}
        if not isinstance(form, Mapping):
            raise TermError(f"{here}: expected a string or a mapping, got {type(form).__name__}")
        unknown = set(form) - {"surface", "case_sensitive", "prefix", "weight"}
        if unknown:
            raise TermError(f"{here}: unknown field(s) {sorted(unknown)}")
        surface = form.get("surface")
        if not isinstance(surface, str) or not surface.strip():
            raise TermError(f"{here}: 'surface' must be a non-empty string")
        flags = {}
        for flag in ("case_sensitive", "prefix"):
            value = form.get(flag, False)
            if not isinstance(value, bool):
                raise TermError(f"{here}: '{flag}' must be true or false")
            flags[flag] = value
        form_weight = form.get("weight", weight)
        if (isinstance(form_weight, bool) or not isinstance(form_weight, (int, float))
                or form_weight < 0):
            raise TermError(f"{here}: 'weight' must be a non-negative number")
        terms.append(Term(id=term_id, surface=surface.strip(), weight=float(form_weight), **flags))
    return terms


class TermMatcher:
    """Finds all terms of a fixed list in texts; build once, use for many texts."""

    def __init__(
        self, terms: Iterable[Term], arabic_prefixes: Iterable[str] = ARABIC_CLITIC_PREFIXES
    ) -> None:
        self.terms: tuple[Term, ...] = tuple(terms)
        self._arabic_prefixes = frozenset(fold(prefix) for prefix in arabic_prefixes)
        self._longest_prefix = max((len(p) for p in self._arabic_prefixes), default=0)
        self._automaton = self._build_automaton(self.terms)

    @classmethod
    def from_terms(cls, terms: Iterable[Term], **options: Any) -> TermMatcher:
        return cls(terms, **options)

    @staticmethod
    def _build_automaton(terms: tuple[Term, ...]) -> ahocorasick.Automaton | None:
        # One automaton over the folded text for every term, walked once per
        # text. A case-sensitive term is keyed by its folded surface too (folding
        # maps character to character, so where the text holds the surface the
        # folded text holds the key) and is kept only where the text holds the
        # surface as written. Value: (length, case-sensitive terms, the others).
        exact = [term for term in terms if term.case_sensitive]
        others = [term for term in terms if not term.case_sensitive]
        keyed: dict[str, tuple[list[Term], list[Term]]] = {}
        for index, group in ((0, exact), (1, others)):
            for term in group:
                if not term.surface:
                    raise TermError(f"term {term.id!r}: empty surface")
                keyed.setdefault(fold(term.surface), ([], []))[index].append(term)
        if not keyed:
            return None
        automaton = ahocorasick.Automaton()
        for key, (sensitive, insensitive) in keyed.items():
            automaton.add_word(key, (len(key), tuple(sensitive), tuple(insensitive)))
        automaton.make_automaton()
        return automaton

    def find(self, text: str, folded: str | None = None) -> list[Match]:
        """Non-overlapping matches in text order; where matches overlap the longest wins.

        Longest-wins makes "Saddam Haftar" one match, not also "Haftar". Terms
        of different ids with the same span are all reported; forms of one id
        that match the same span (Libia, Líbia) are reported once. `folded`
        may pass `fold(text)` when several matchers search the same text.
        """
        if not text:
            return []
        automaton = self._automaton
        if automaton is None:
            return []
        if folded is None:
            folded = fold(text)
        # The rules of `_accept`, inlined: this loop runs for every hit. The
        # start rule does not depend on the term, so it is checked once per
        # hit; the end rule depends on `prefix` alone. Case-sensitive terms
        # come first, as if found in a pass of their own before the others.
        word = _WORD_CHAR
        size = len(text)
        exact: list[tuple[int, int, Term]] = []
        candidates: list[tuple[int, int, Term]] = []
        append = candidates.append
        for last, (length, sensitive, insensitive) in automaton.iter(folded):
            end = last + 1
            start = end - length
            if (start and word[text[start - 1]] and word[text[start]]
                    and not self._clitic_before(text, start)):
                continue
            stop = end
            if end < size and word[text[end]] and word[text[end - 1]]:
                stop = end + 1
                while stop < size and word[text[stop]]:
                    stop += 1
            if sensitive:
                written = text[start:end]
                for term in sensitive:
                    if term.surface == written and (stop == end or term.prefix):
                        exact.append((start, stop, term))
            if stop == end:
                for term in insensitive:
                    append((start, end, term))
            else:
                for term in insensitive:
                    if term.prefix:
                        append((start, stop, term))
        if exact:
            candidates = exact + candidates
        elif not candidates:
            return []
        return self._resolve(text, candidates)

    def _accept(self, text: str, start: int, end: int, term: Term) -> int | None:
        """The match's end if it sits on word boundaries, else None (the rules `find` applies)."""
        if (start > 0 and _is_word_char(text[start - 1]) and _is_word_char(text[start])
                and not self._clitic_before(text, start)):
            return None
        if end < len(text) and _is_word_char(text[end]) and _is_word_char(text[end - 1]):
            if not term.prefix:
                return None
            while end < len(text) and _is_word_char(text[end]):
                end += 1
        return end

    def _clitic_before(self, text: str, start: int) -> bool:
        if not _is_arabic(text[start]):
            return False
        word = _WORD_CHAR
        word_start = start
        lowest = max(0, start - self._longest_prefix)
        while word_start > lowest and word[text[word_start - 1]]:
            word_start -= 1
        if word_start > 0 and word[text[word_start - 1]]:
            return False  # more letters before the term than any clitic chain
        return fold(text[word_start:start]) in self._arabic_prefixes

    @classmethod
    def _resolve(cls, text: str, candidates: list[tuple[int, int, Term]]) -> list[Match]:
        # Usually no two spans overlap. Then every candidate is kept, once per
        # span and id, which is what `_resolve_overlaps` would keep too.
        candidates.sort(key=_span)  # stable: candidates of one span keep their order
        chosen: list[tuple[int, int, Term]] = []
        keep = chosen.append
        span_start = span_end = -1
        span_ids: set[str] = set()
        shared = False  # a span holds more than one id
        for candidate in candidates:
            start, end, term = candidate
            if start == span_start and end == span_end:
                if term.id not in span_ids:
                    span_ids.add(term.id)
                    keep(candidate)
                    shared = True
                continue
            if start < span_end:
                return cls._resolve_overlaps(text, candidates)
            span_start, span_end, span_ids = start, end, {term.id}
            keep(candidate)
        if shared:
            chosen.sort(key=_report_order)
        return [_new_match(term, text[start:end], start, end) for start, end, term in chosen]

    @staticmethod
    def _resolve_overlaps(text: str, candidates: list[tuple[int, int, Term]]) -> list[Match]:
        # Longest first, then leftmost; a candidate overlapping a taken span is
        # dropped unless it has exactly that span (another term, same surface).
        # Candidates of one span stay in the order they were found (both sorts
        # are stable), so the same form wins whichever way they arrived here.
        candidates.sort(key=_longest_leftmost)
        starts: list[int] = []  # starts of taken spans, sorted; spans never overlap
        ends: dict[int, int] = {}
        chosen: list[tuple[int, int, Term]] = []
        reported: set[tuple[int, str]] = set()  # one match per span and id
        for start, end, term in candidates:
            if (start, term.id) in reported:
                continue
            if ends.get(start) == end:
                reported.add((start, term.id))
                chosen.append((start, end, term))
                continue
            index = bisect_left(starts, start)
            if index < len(starts) and starts[index] < end:
                continue
            if index > 0 and ends[starts[index - 1]] > start:
                continue
            starts.insert(index, start)
            ends[start] = end
            reported.add((start, term.id))
            chosen.append((start, end, term))
        chosen.sort(key=_report_order)
        return [_new_match(term, text[start:end], start, end) for start, end, term in chosen]


def _span(candidate: tuple[int, int, Term]) -> tuple[int, int]:
    return candidate[0], candidate[1]


def _longest_leftmost(candidate: tuple[int, int, Term]) -> tuple[int, int]:
    return candidate[0] - candidate[1], candidate[0]


def _report_order(candidate: tuple[int, int, Term]) -> tuple[int, str, str]:
    return candidate[0], candidate[2].id, candidate[2].surface
