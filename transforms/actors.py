"""Actor tagging: which states, forces, organisations and persons an article names.

The annotation guidelines (section 2) count an actor as mentioned when the text
names it by name, abbreviation, variant, transliteration, demonym, capital or
organ, and not when a homonym is meant (Richard Wagner, a roast turkey, Chad
the first name). The gazetteer (actors.yaml) holds every surface form and, as
data, the rules for ambiguous ones. One Aho-Corasick pass finds the forms and
the context words are searched only for the rules that need them; the rules
then run over those few matches only.

Public surface used by other stages: `load_gazetteer().actors` (id -> Actor)
and `find_actor_mentions(text)`.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import apache_beam as beam
import yaml

from transforms.matching import Match, Term, TermError, TermMatcher, fold, terms_from_forms
from transforms.metrics import counter, stage_timer
from transforms.model import Actor, ActorMention, Article

__all__ = [
    "GazetteerError",
    "FormRule",
    "Implication",
    "Settings",
    "Gazetteer",
    "load_gazetteer",
    "find_actor_mentions",
    "tag_actors",
    "TagActors",
]

# Located from this file rather than by package name, which a test package can shadow.
_DEFAULT_PATH = Path(__file__).parent / "data" / "actors.yaml"
_ID = re.compile(r"[a-z][a-z0-9_]*")
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_HOMONYM = "~"  # prefix of the term ids of homonyms; never a valid actor id
_MATCHER_FIELDS = ("surface", "case_sensitive", "prefix")
_RULE_FLAGS = ("given_name", "as_government", "seat", "not_in_caps")
_RULE_LISTS = ("also", "needs_support", "unless_near", "yields_to")
_SEAT_CUES = ("skip_before", "location_before", "location_after", "government_after_location",
              "government_before", "government_after", "relative", "coordinators")
_GOVERNMENT, _VENUE, _UNCLEAR = "government", "venue", "unclear"  # how a seat reads
# Words, or a single punctuation mark: the tokens the seat and name rules look at.
_TOKEN = re.compile(r"[-'\u2019]?\w+|[^\w\s]")
# What follows the place of a dateline: "CAIRO (Reuters) -", "TRIPOLI/CAIRO, May 2 (AFP) -".
_DATELINE_TAIL = re.compile(
    r"(?:/[^\W\d_][^\n(,/]{0,30})*[ \t]*(?:,[^\n(]{0,40}?)?[ \t]*(?:\(|[-\u2013\u2014][ \t])")
_WORD = re.compile(r"[^\W\d_]\w*")
_NOT_BETWEEN = re.compile(r"[^\w\s-]")  # punctuation that breaks an implication
_LOOK = 60  # characters looked at around a match by the token rules


class GazetteerError(ValueError):
    """An actor gazetteer that cannot be used; the message names the place in the file."""


@dataclass(frozen=True)
class FormRule:
    """How one surface form is checked before it counts (see the top of actors.yaml)."""

    also: tuple[str, ...] = ()
    needs_support: tuple[str, ...] = ()  # context groups; empty: no support needed
    unless_near: tuple[str, ...] = ()
    yields_to: tuple[str, ...] = ()
    given_name: bool = False
    as_government: bool = False
    seat: bool = False
    not_in_caps: bool = False

    firm: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A firm form counts wherever it appears; the others are checked in context.
        object.__setattr__(self, "firm", not (
            self.needs_support or self.unless_near or self.yields_to or self.given_name
            or self.as_government or self.seat or self.not_in_caps))


@dataclass(frozen=True)
class Implication:
    """A construction in which a mention also names `id` ("Haftar's forces" -> lna)."""

    id: str
    after: str | None
    before: str | None
    max_words: int


@dataclass(frozen=True)
class Settings:
    """Constants of the rules; word lists are folded (lower case, no accents)."""

    near_chars: int
    support: tuple[str, ...]
    datelines_count: bool
    not_surnames: frozenset[str]
    skip_before: frozenset[str]
    location_before: frozenset[str]
    location_after: frozenset[str]
    government_after_location: frozenset[str]
    government_before: frozenset[str]
    government_after: frozenset[str]
    relative: frozenset[str]
    coordinators: frozenset[str]


@dataclass(frozen=True, eq=False)
class Gazetteer:
    """A loaded gazetteer: the actors, the automata, and the rules for ambiguous forms.

    `actors` maps every actor id to its `Actor`, in file order.
    """

    actors: Mapping[str, Actor]
    matcher: TermMatcher
    context_matchers: Mapping[str, TermMatcher]  # one per context group, searched on demand
    rules: Mapping[Term, FormRule]
    homonyms: Mapping[str, str | None]  # homonym term id -> the actor it shadows, if any
    implications: Mapping[str, tuple[Implication, ...]]
    settings: Settings


# --- loading ----------------------------------------------------------------------


def load_gazetteer(path: str | Path | None = None) -> Gazetteer:
    """The gazetteer at `path`, or the packaged one (loaded once per process)."""
    if path is None:
        return _default_gazetteer()
    return _load(Path(path), str(path))


@lru_cache(maxsize=1)
def _default_gazetteer() -> Gazetteer:
    return _load(_DEFAULT_PATH, _DEFAULT_PATH.name)


def _load(path: Path, source: str) -> Gazetteer:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GazetteerError(f"{source}: cannot read: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GazetteerError(" ".join(f"{source}: invalid YAML: {exc}".split())) from exc
    try:
        return _Parser(data).gazetteer()
    except GazetteerError as exc:
        raise GazetteerError(f"{source}: {exc}") from exc


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise GazetteerError(f"{where}: expected a mapping")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise GazetteerError(f"{where}: expected a list")
    return value


def _strings(value: Any, where: str) -> list[str]:
    # Numbers in a word list (years) are read as their text.
    items = _list(value, where)
    for index, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise GazetteerError(f"{where}[{index}]: expected a string, got {item!r} "
                                 "(quote words YAML reads otherwise, such as On, No, Yes)")
    return [str(item) for item in items]


def _no_unknown(section: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(section) - allowed
    if unknown:
        raise GazetteerError(f"{where}: unknown field(s) {sorted(unknown)}")


class _Parser:
    """Validates the YAML document and builds the Gazetteer; errors name the YAML place."""

    def __init__(self, data: Any) -> None:
        self.data = _mapping(data, "top level")
        _no_unknown(self.data, {"types", "settings", "contexts", "actors", "homonyms"}, "top level")
        self.terms: list[Term] = []
        self.rules: dict[Term, FormRule] = {}
        self.owners: dict[str, tuple[str, str]] = {}  # folded surface -> (owner, where)
        self.exact: dict[tuple[str, bool], tuple[Term, FormRule, str]] = {}

    def gazetteer(self) -> Gazetteer:
        types = set(_strings(self.data.get("types"), "types"))
        contexts = self._contexts()
        self.context_names = set(contexts)
        self.settings = settings = self._settings()
        actors, implications, references = self._actors(types)
        homonyms = self._homonyms(actors)
        for actor_id, where in references:
            if actor_id not in actors:
                raise GazetteerError(f"{where}: unknown actor id {actor_id!r}")
        for actor in actors.values():
            owner = actors.get(actor.country or "")
            if owner is not None and owner.type != "state":
                raise GazetteerError(
                    f"actors ({actor.id}): country {actor.country!r} is not a state")
        return Gazetteer(
            actors=MappingProxyType(actors),
            matcher=TermMatcher.from_terms(self.terms),
            context_matchers=MappingProxyType(
                {name: TermMatcher.from_terms(terms) for name, terms in contexts.items()}),
            rules=MappingProxyType(self.rules),
            homonyms=MappingProxyType(homonyms),
            implications=MappingProxyType(implications),
            settings=settings,
        )

    def _contexts(self) -> dict[str, list[Term]]:
        section = _mapping(self.data.get("contexts", {}), "contexts")
        groups: dict[str, list[Term]] = {}
        for name, forms in section.items():
            where = f"contexts.{name}"
            if not isinstance(forms, list) or not forms:
                raise GazetteerError(f"{where}: expected a non-empty list of forms")
            groups[str(name)] = [
                _term(str(name), str(form) if isinstance(form, int) else form, f"{where}[{index}]")
                for index, form in enumerate(forms)]
        return groups

    @staticmethod
    def _words(value: Any, where: str) -> frozenset[str]:
        return frozenset(fold(word) for word in _strings(value, where))

    def _groups(self, value: Any, where: str) -> tuple[str, ...]:
        names = _strings(value, where)
        unknown = [name for name in names if name not in self.context_names]
        if unknown:
            raise GazetteerError(f"{where}: unknown context group(s) {unknown}")
        return tuple(names)

    def _settings(self) -> Settings:
        where = "settings"
        section = _mapping(self.data.get("settings"), where)
        _no_unknown(section, {"near_chars", "support", "datelines_count", "seat_cues",
                              "not_surnames"}, where)
        near = section.get("near_chars")
        if isinstance(near, bool) or not isinstance(near, int) or near < 0:
            raise GazetteerError(f"{where}.near_chars: expected a non-negative integer")
        datelines = section.get("datelines_count")
        if not isinstance(datelines, bool):
            raise GazetteerError(f"{where}.datelines_count: expected true or false")
        cues = _mapping(section.get("seat_cues"), f"{where}.seat_cues")
        _no_unknown(cues, set(_SEAT_CUES), f"{where}.seat_cues")
        words = {key: self._words(cues.get(key), f"{where}.seat_cues.{key}") for key in _SEAT_CUES}
        return Settings(
            near_chars=near,
            support=self._groups(section.get("support"), f"{where}.support"),
            datelines_count=datelines,
            not_surnames=self._words(section.get("not_surnames"), f"{where}.not_surnames"),
            **words,
        )

    def _actors(self, types: set[str]) -> tuple[dict[str, Actor], dict, list[tuple[str, str]]]:
        actors: dict[str, Actor] = {}
        implications: dict[str, tuple[Implication, ...]] = {}
        references: list[tuple[str, str]] = []
        entries = _list(self.data.get("actors"), "actors")
        for index, entry in enumerate(entries):
            where = f"actors[{index}]"
            entry = _mapping(entry, where)
            actor_id = entry.get("id")
            if not isinstance(actor_id, str) or not _ID.fullmatch(actor_id):
                raise GazetteerError(
                    f"{where}: 'id' must be lower case letters, digits, underscores")
            where = f"actors[{index}] ({actor_id})"
            _no_unknown(entry, {"id", "name", "type", "country", "forms", "implies"}, where)
            if actor_id in actors:
                raise GazetteerError(f"{where}: duplicate id")
            name = entry.get("name")
            if not isinstance(name, str) or not name.strip():
                raise GazetteerError(f"{where}: 'name' must be a non-empty string")
            if entry.get("type") not in types:
                raise GazetteerError(f"{where}: 'type' must be one of {sorted(types)}")
            country = entry.get("country")
            if country is not None and (not isinstance(country, str) or not _ID.fullmatch(country)):
                raise GazetteerError(f"{where}: 'country' must be an id or null")
            actors[actor_id] = Actor(actor_id, name.strip(), entry["type"], country)
            forms = _mapping(entry.get("forms"), f"{where}.forms")
            if not forms:
                raise GazetteerError(f"{where}.forms: expected at least one language")
            for language, items in forms.items():
                here = f"{where}.forms.{language}"
                if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
                    raise GazetteerError(f"{here}: expected a language code such as en, fr, ar, ru")
                for form_index, form in enumerate(_list(items, here)):
                    rule = self._form(actor_id, form, f"{here}[{form_index}]")
                    references += [(other, f"{here}[{form_index}]")
                                   for other in rule.also + rule.yields_to]
            rules = [self._implication(item, f"{where}.implies[{i}]")
                     for i, item in enumerate(_list(entry.get("implies", []), f"{where}.implies"))]
            references += [(rule.id, f"{where}.implies") for rule in rules]
            if rules:
                implications[actor_id] = tuple(rules)
        if not actors:
            raise GazetteerError("actors: expected at least one actor")
        return actors, implications, references

    def _form(self, owner: str, form: Any, where: str) -> FormRule:
        if isinstance(form, str):
            form = {"surface": form}
        form = _mapping(form, where)
        _no_unknown(form, {*_MATCHER_FIELDS, *_RULE_FLAGS, *_RULE_LISTS}, where)
        values: dict[str, Any] = {}
        for flag in _RULE_FLAGS:
            value = form.get(flag, False)
            if not isinstance(value, bool):
                raise GazetteerError(f"{where}: '{flag}' must be true or false")
            values[flag] = value
        for key in ("also", "yields_to"):
            values[key] = tuple(_strings(form.get(key, []), f"{where}.{key}"))
        support = form.get("needs_support", False)
        if isinstance(support, bool):
            values["needs_support"] = self.settings.support if support else ()
        else:
            values["needs_support"] = self._groups(support, f"{where}.needs_support")
        values["unless_near"] = self._groups(form.get("unless_near", []), f"{where}.unless_near")
        rule = FormRule(**values)
        term = _term(owner, {key: form[key] for key in _MATCHER_FIELDS if key in form}, where)
        self._add(owner, term, rule, where)
        return rule

    def _add(self, owner: str, term: Term, rule: FormRule, where: str) -> None:
        """Adds a term once; a surface listed under two owners is an error."""
        key = fold(term.surface)
        previous = self.owners.get(key)
        if previous is not None and previous[0] != owner:
            raise GazetteerError(f"{where}: {term.surface!r} is already a form of {previous[0]} "
                                 f"({previous[1]})")
        self.owners.setdefault(key, (owner, where))
        exact_key = (term.surface if term.case_sensitive else key, term.case_sensitive)
        same = self.exact.get(exact_key)
        if same is not None:
            if (same[0].prefix, same[1]) != (term.prefix, rule):
                raise GazetteerError(f"{where}: {term.surface!r} is listed again at {same[2]} "
                                     "with other flags")
            return  # the same form under another language: one term is enough
        self.exact[exact_key] = (term, rule, where)
        self.terms.append(term)
        self.rules[term] = rule

    def _implication(self, item: Any, where: str) -> Implication:
        item = _mapping(item, where)
        _no_unknown(item, {"id", "after", "before", "max_words"}, where)
        groups = {}
        for side in ("after", "before"):
            value = item.get(side)
            groups[side] = None if value is None else self._groups([value], f"{where}.{side}")[0]
        if groups["after"] is None and groups["before"] is None:
            raise GazetteerError(f"{where}: needs 'after' or 'before'")
        words = item.get("max_words", 0)
        if isinstance(words, bool) or not isinstance(words, int) or words < 0:
            raise GazetteerError(f"{where}.max_words: expected a non-negative integer")
        if not isinstance(item.get("id"), str):
            raise GazetteerError(f"{where}: 'id' must be an actor id")
        return Implication(item["id"], groups["after"], groups["before"], words)

    def _homonyms(self, actors: Mapping[str, Actor]) -> dict[str, str | None]:
        homonyms: dict[str, str | None] = {}
        for index, entry in enumerate(_list(self.data.get("homonyms", []), "homonyms")):
            where = f"homonyms[{index}]"
            entry = _mapping(entry, where)
            _no_unknown(entry, {"of", "what", "shadows", "forms"}, where)
            of = entry.get("of")
            if of not in actors:
                raise GazetteerError(f"{where}: 'of' must be an actor id, got {of!r}")
            shadows = entry.get("shadows", False)
            if not isinstance(shadows, bool):
                raise GazetteerError(f"{where}: 'shadows' must be true or false")
            term_id = f"{_HOMONYM}{index}"
            homonyms[term_id] = of if shadows else None
            for form_index, form in enumerate(_list(entry.get("forms"), f"{where}.forms")):
                here = f"{where}.forms[{form_index}]"
                if isinstance(form, dict):
                    _no_unknown(form, set(_MATCHER_FIELDS), here)
                self._add(term_id, _term(term_id, form, here), FormRule(), here)
        return homonyms


def _term(owner: str, form: Any, where: str) -> Term:
    """The matcher's Term for one form; its errors name `where` itself."""
    try:
        (term,) = terms_from_forms(owner, [form], where=where)
    except TermError as exc:
        raise GazetteerError(str(exc).replace(f"{where}.forms[0]", where, 1)) from exc
    return term


# --- finding mentions -------------------------------------------------------------------


def find_actor_mentions(text: str, gazetteer: Gazetteer | None = None) -> list[ActorMention]:
    """Every accepted actor mention in `text`, in text order.

    Pass the whole article (title and body): whether an ambiguous form counts
    may depend on the rest of it. Offsets index `text`, and
    `text[m.start:m.end] == m.surface`. A form with `also` gives one mention
    per actor over the same span; an actor added by an `implies` rule gets a
    mention over the whole construction ("Haftar's forces" -> lna, "the
    government of Fayez al-Sarraj" -> gna).
    """
    gazetteer = gazetteer if gazetteer is not None else load_gazetteer()
    if not text:
        return []
    folded = fold(text)
    matches = gazetteer.matcher.find(text, folded)
    if not matches:
        return []
    return _Resolution(gazetteer, text, folded, matches).mentions()


class _Resolution:
    """The rules of actors.yaml applied to the matches of one text."""

    def __init__(self, gazetteer: Gazetteer, text: str, folded: str, matches: list[Match]) -> None:
        self.gazetteer = gazetteer
        self.settings = gazetteer.settings
        self.text = text
        self.folded = folded
        homonyms = gazetteer.homonyms
        homonym_spans = {(m.start, m.end) for m in matches if m.term_id in homonyms}
        # Actors whose checked forms need a firm form beside them in this text.
        self.shadowed = {homonyms[m.term_id] for m in matches if homonyms.get(m.term_id)}
        self.matches = [m for m in matches
                        if m.term_id not in homonyms and (m.start, m.end) not in homonym_spans]
        self.rules = [gazetteer.rules[m.term] for m in self.matches]
        self.firm = {m.term_id for m, rule in zip(self.matches, self.rules) if rule.firm}
        self._contexts: dict[str, list[Match]] = {}
        # A first name found once ("Chad Kowalczyk") makes later bare uses
        # ("Chad, as he is known") as doubtful as a homonym does.
        self.first_names = {i for i, (m, rule) in enumerate(zip(self.matches, self.rules))
                            if rule.given_name and self._followed_by_surname(m)}
        self.shadowed |= {self.matches[i].term_id for i in self.first_names}

    def context(self, group: str) -> list[Match]:
        """The matches of one context group, in text order; searched once, when a rule asks."""
        found = self._contexts.get(group)
        if found is None:
            matcher = self.gazetteer.context_matchers[group]
            found = self._contexts[group] = matcher.find(self.text, self.folded)
        return found

    def mentions(self) -> list[ActorMention]:
        seats = self._seat_readings()
        accepted: list[tuple[Match, FormRule]] = []
        yielding: list[tuple[Match, FormRule]] = []
        for index, (match, rule) in enumerate(zip(self.matches, self.rules)):
            if rule.seat and not self.settings.datelines_count and self._in_dateline(match):
                continue
            if not rule.firm and not self._passes(index, match, rule, seats):
                continue
            (yielding if rule.yields_to else accepted).append((match, rule))
        named = {match.term_id for match, _ in accepted}
        for match, rule in yielding:
            if match.term_id in named or not any(other in named for other in rule.yields_to):
                accepted.append((match, rule))

        found: dict[tuple[int, str], ActorMention] = {}
        implications = self.gazetteer.implications
        for match, rule in accepted:
            spans = [(actor_id, match.start, match.end) for actor_id in (match.term_id, *rule.also)]
            if match.term_id in implications:
                spans += self._implied(match, implications[match.term_id])
            for actor_id, start, end in spans:
                if (start, actor_id) not in found:
                    surface = self.text[start:end]
                    found[start, actor_id] = ActorMention(actor_id, surface, start, end)
        return sorted(found.values(), key=lambda m: (m.start, m.end, m.actor_id))

    def _passes(self, index: int, match: Match, rule: FormRule, seats: dict[int, str]) -> bool:
        # Never the actor, however clearly it is named elsewhere: a first name,
        # an acronym that is a word in a capitalised headline, a city as a venue.
        if index in self.first_names:
            return False
        if rule.not_in_caps and self._in_caps(match):
            return False
        if rule.as_government and seats.get(index) != _GOVERNMENT:
            return False
        # Doubtful alone, but not when the actor is named beyond doubt elsewhere.
        if match.term_id in self.firm:
            return True
        if rule.seat and seats.get(index) == _VENUE:
            return False
        if rule.unless_near and self._near(match, rule.unless_near):
            return False
        if match.term_id in self.shadowed:
            return False
        return not rule.needs_support or any(self.context(g) for g in rule.needs_support)

    # --- the rules -----------------------------------------------------------------

    def _near(self, match: Match, groups: tuple[str, ...]) -> bool:
        near = self.settings.near_chars
        for group in groups:
            for context in self.context(group):
                if context.end >= match.start - near and context.start <= match.end + near:
                    return True
        return False

    def _tokens_before(self, position: int) -> list[str]:
        return [fold(t) for t in _TOKEN.findall(self.text[max(0, position - _LOOK):position])]

    def _tokens_after(self, position: int) -> list[str]:
        return [fold(t) for t in _TOKEN.findall(self.text[position:position + _LOOK])]

    def _in_caps(self, match: Match) -> bool:
        """Inside a run of capitalised words ("WHAT IS NEXT"), where an acronym is a word."""
        around = (_TOKEN.findall(self.text[max(0, match.start - _LOOK):match.start])[-2:]
                  + _TOKEN.findall(self.text[match.end:match.end + _LOOK])[:2])
        capitalised = [t for t in around if len(t) > 1 and t.isalpha() and t.isupper()]
        return len(capitalised) >= 2

    def _followed_by_surname(self, match: Match) -> bool:
        rest = self.text[match.end:match.end + _LOOK]
        if not rest.startswith(" ") or len(rest) < 2 or not rest[1].isupper():
            return False
        word = _WORD.match(rest, 1)
        if word is None or fold(word.group()) in self.settings.not_surnames:
            return False
        return not self._in_title_case(match.start)

    def _in_title_case(self, position: int) -> bool:
        """In a headline that capitalises every word ("Chad Rebels Claim Attack")."""
        start = self.text.rfind("\n", 0, position) + 1
        end = self.text.find("\n", position)
        line = self.text[start:end if end >= 0 else len(self.text)]
        words = [word for word in _WORD.findall(line) if len(word) > 3]  # not "of", "in", "the"
        if not 4 <= len(words) <= 20:
            return False
        return sum(1 for word in words if word[0].isupper()) >= 0.85 * len(words)

    def _in_dateline(self, match: Match) -> bool:
        line_start = self.text.rfind("\n", 0, match.start) + 1
        at_line_start = not self.text[line_start:match.start].strip()
        if not (at_line_start or match.surface.isupper()):
            return False
        return _DATELINE_TAIL.match(self.text, match.end) is not None

    def _seat_readings(self) -> dict[int, str]:
        """How each seat and as_government match reads: government, venue or unclear.

        Seats joined by coordinators ("Rome and Paris", "روما وباريس") form a
        chain read as one, from the tokens before its first member and after
        its last one.
        """
        indexes = [i for i, rule in enumerate(self.rules) if rule.as_government or rule.seat]
        chains: list[list[int]] = []
        for i in indexes:
            if chains:
                previous = self.matches[chains[-1][-1]]
                between = _TOKEN.findall(self.text[previous.end:self.matches[i].start])
                if (between and len(between) <= 2
                        and all(fold(t) in self.settings.coordinators for t in between)):
                    chains[-1].append(i)
                    continue
            chains.append([i])
        readings: dict[int, str] = {}
        for chain in chains:
            reading = self._reading(self.matches[chain[0]].start, self.matches[chain[-1]].end)
            readings.update((i, reading) for i in chain)
        return readings

    def _reading(self, start: int, end: int) -> str:
        cues = self.settings
        before = [t for t in self._tokens_before(start) if t not in cues.skip_before][-1:]
        after = self._tokens_after(end)[:2]
        first = after[0] if after else ""
        if first in cues.location_after:
            return _VENUE
        if before and before[0] in cues.location_before:
            return _GOVERNMENT if first in cues.government_after_location else _VENUE
        if (before and before[0] in cues.government_before) or first in cues.government_after:
            return _GOVERNMENT
        if first == "," and len(after) > 1 and after[1] in cues.relative:
            return _GOVERNMENT
        return _UNCLEAR

    def _implied(self, match: Match, rules: tuple[Implication, ...]) -> list[tuple[str, int, int]]:
        """(id, start, end) for each implied actor; the span covers the construction."""
        implied = []
        for rule in rules:
            span = ((rule.after and self._implied_after(match, rule))
                    or (rule.before and self._implied_before(match, rule)))
            if span:
                implied.append((rule.id, *span))
        return implied

    def _implied_after(self, match: Match, rule: Implication) -> tuple[int, int] | None:
        for context in self._following(rule.after, match.end):
            between = self.text[match.end:context.start]
            allowed = 0
            for mark in ("'s", "\u2019s", "'", "\u2019"):
                if between.startswith(mark):
                    between, allowed = between[len(mark):], rule.max_words
                    break
            else:
                if between.startswith("-"):
                    between, allowed = between[1:], 1
            if self._plain_words(between, allowed):
                return match.start, context.end
        return None

    def _implied_before(self, match: Match, rule: Implication) -> tuple[int, int] | None:
        for context in self._preceding(rule.before, match.start):
            if self._plain_words(self.text[context.end:match.start], rule.max_words):
                return context.start, match.end
        return None

    def _plain_words(self, between: str, allowed: int) -> bool:
        if _NOT_BETWEEN.search(between):
            return False
        words = between.replace("-", " ").split()
        coordinators = self.settings.coordinators
        return len(words) <= allowed and not any(fold(w) in coordinators for w in words)

    def _following(self, group: str, position: int) -> Iterator[Match]:
        found = self.context(group)
        index = bisect_left([m.start for m in found], position)
        if index < len(found) and found[index].start - position <= _LOOK:
            yield found[index]

    def _preceding(self, group: str, position: int) -> Iterator[Match]:
        found = self.context(group)
        index = bisect_left([m.end for m in found], position + 1) - 1
        if index >= 0 and position - found[index].end <= _LOOK:
            yield found[index]


# --- document fields and the transform ----------------------------------------------


def tag_actors(
    title: str, text: str, gazetteer: Gazetteer | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The document fields `actors` and `actor_ids` for one article.

    `actors` holds one object per actor id (sorted by id) with its name, type,
    country, number of mentions and sorted distinct surface forms;
    `actor_ids` is the sorted list of ids, for filters.
    """
    gazetteer = gazetteer if gazetteer is not None else load_gazetteer()
    document = "\n\n".join(part for part in (title, text) if part)
    counts: dict[str, int] = {}
    surfaces: dict[str, set[str]] = {}
    for mention in find_actor_mentions(document, gazetteer):
        counts[mention.actor_id] = counts.get(mention.actor_id, 0) + 1
        surfaces.setdefault(mention.actor_id, set()).add(mention.surface)
    actors = []
    for actor_id in sorted(counts):
        actor = gazetteer.actors[actor_id]
        actors.append({
            "id": actor.id,
            "name": actor.name,
            "type": actor.type,
            "country": actor.country,
            "mentions": counts[actor_id],
            "surfaces": sorted(surfaces[actor_id]),
        })
    return actors, sorted(counts)


class _TagActorsFn(beam.DoFn):
    def __init__(self, gazetteer_path: str | None) -> None:
        self._gazetteer_path = gazetteer_path
        self._gazetteer: Gazetteer | None = None
        self._tagged = counter("actors_tagged")

    def setup(self) -> None:
        # Built on the worker: the automata are rebuilt from YAML, not pickled.
        self._gazetteer = load_gazetteer(self._gazetteer_path)

    def process(self, article: Article) -> Iterator[Article]:
        with stage_timer("actors"):
            actors, actor_ids = tag_actors(article.title, article.text, self._gazetteer)
        self._tagged.inc()
        yield replace(article, extra={**article.extra, "actors": actors, "actor_ids": actor_ids})


class TagActors(beam.PTransform):
    """Article -> Article with `extra["actors"]` and `extra["actor_ids"]` set.

    `gazetteer_path` selects another gazetteer than the packaged one; it is
    loaded here once so that a broken file fails when the pipeline is built.
    """

    def __init__(self, gazetteer_path: str | None = None) -> None:
        super().__init__()
        load_gazetteer(gazetteer_path)
        self._gazetteer_path = gazetteer_path

    def expand(self, articles: beam.PCollection) -> beam.PCollection:
        return articles | "Tag" >> beam.ParDo(_TagActorsFn(self._gazetteer_path))
