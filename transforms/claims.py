"""Foreign-involvement claims: which state is said to be doing what in Libya's war.

The annotation guidelines (section 3) score a claim as (country, type,
polarity) and ask, beside it, for the actor that carried it, the Libyan side
that benefits, the source as written and the sentence. A denial or a source
belongs to its sentence, so claims are read one sentence at a time:

1. Two term matchers run once over the whole text (cues, which may shadow one
   another: "drone strikes" is not "drones"; and context words, which must
   not), then each sentence is read from its own matches and the actor
   tagger's mentions.
2. The sentence's foreign actors become units: a state (with its organs and
   leaders beside it), a contractor force (Wagner -> russia), another foreign
   armed force (Africa Corps -> russia, troops), or a foreign-fighter phrase
   ("Syrian mercenaries") whose country is the state that sends or pays
   them, else their own for Sudanese and Chadian fighters.
3. Each involvement cue goes to the nearest unit (its subject before it, or
   an agent after "by"), with the units coordinated with it ("Egypt and the
   UAE"), and takes its type from the unit's kind.
4. No claim: a cue whose clause is about another theatre ("in Mali") or
   whose backing goes to a foreign actor ("ally of Assad"); a clause where
   the actor declines to comment, or about aid, trade or sport; a demand that
   forces leave; a conditional ("if the GNA requests them").
5. Polarity, source and beneficiary come from the sentence's denial,
   attribution and side cues. Over the whole article, a denial then takes the
   type and actor of the claim it answers ("the Russian state has no forces
   in Libya" after a Wagner report denies the Wagner claim).

The lexicons and word lists are data (claims.yaml).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import apache_beam as beam
import yaml
from apache_beam import pvalue

from transforms.actors import find_actor_mentions, load_gazetteer
from transforms.matching import Match, Term, TermError, TermMatcher, fold, terms_from_forms
from transforms.metrics import counter, stage_timer
from transforms.model import Actor, ActorMention, Article, Claim, DeadLetter
from transforms.sentences import SentenceRules, SentenceRulesError, sentence_rules_from_mapping
from transforms.sentences import split_sentences

__all__ = [
    "claim_fields",
    "CLAIM_TYPES",
    "DEAD_LETTER",
    "ClaimError",
    "ClaimLexicon",
    "ClaimLexiconError",
    "ExtractClaims",
    "Grammar",
    "default_claim_lexicon",
    "extract_claims",
    "load_claim_lexicon",
]

CLAIM_TYPES = ("troops", "mercenaries", "weapons", "strikes", "funding", "political")
DEAD_LETTER = "dead_letter"
_STAGE = "claims"
_DEFAULT_FILE = Path(__file__).parent / "data" / "claims.yaml"

# Cue ids: the six types, plus presence (deployed, forces: the type comes
# from the actor) and military (military support: the type comes from the
# lexicon).
_TYPE_CUES = frozenset(CLAIM_TYPES + ("presence", "military"))
_CONCRETE = frozenset(("troops", "mercenaries", "weapons", "strikes", "funding", "military"))
_NON_CLAIMS = ("no_comment", "humanitarian", "trade", "sports", "neutral")
_CONTEXT_LISTS = {
    # context id -> key path in the lexicon file
    "deny": ("denial",),
    "negate": ("negation",),
    "deny_relative": ("denial_relatives",),
    "admission": ("admission",),
    "hypothetical": ("hypothetical",),
    "hypothetical_before": ("hypothetical_before",),
    "contrast": ("contrast",),
    "attr_follows": ("attribution", "follows"),
    "attr_precedes": ("attribution", "precedes"),
    "attr_self": ("attribution", "self_attributing"),
    "request": ("non_claims", "request"),
    "neutral_object": ("non_claims", "neutral_objects"),
    "fighter_noun": ("fighter_nouns",),
    "fighter_national": ("fighter_nationals",),
    "local_fighters": ("local_fighters",),
    "delivery": ("delivery_verbs",),
    "self_reference": ("self_reference",),
    "first_person": ("first_person",),
    "historical": ("historical_links",),
    "foreign_troops": ("foreign_forces", "troops"),
    "foreign_fighters": ("foreign_forces", "mercenaries"),
    "place_libya": ("places", "libya"),
    "place_elsewhere": ("places", "elsewhere"),
    "side_tripoli": ("side_phrases", "tripoli"),
    "side_east": ("side_phrases", "east"),
    "other_side": ("other_side_cues",),
    "benefit": ("benefit_cues",),
    "against": ("against_cues",),
}
_SIDES = ("lna", "gna", "gnu")
_ASSERTED, _DENIED = "asserted", "denied"
# Punctuation that closes a clause: sources, suppressions and the presence
# rule do not reach across it.
_CLAUSE_BREAK = re.compile(r"[,;:()\[\]\u2013\u2014\u060c\"“”«»]|\s-\s")
_PERSONNEL = frozenset(("troops", "mercenaries", "presence"))
_QUOTE = re.compile(r'"[^"]*"|“[^”]*”|«[^»]*»')
_SEMICOLON = re.compile(r"[;؛]")
_INVERTED_WORDS = 8  # a speaker after "said" is a short name or title, not a clause
_CLOSING = (",", "\"", "”", "’", "'", "»")
_POSSESSIVE_GAP = re.compile(r"^(?:['’]s)?\s{0,2}$")
_APPOSITION = 30  # "Russia, one of Haftar's backers": how far a possessed noun's actor may be
_AFTER_PENALTY = 40  # an actor after its cue is seldom its subject (English, French, Russian)
_SOURCE_EDGE = " \t\n,;:.\"'“”‘’«»()[]-–—"
_ARABIC = re.compile(r"[\u0600-\u06ff]")


class ClaimLexiconError(ValueError):
    """A claim lexicon file that is missing a key or holds a value of the wrong type."""


class ClaimError(ValueError):
    """Input the extractor cannot read: a mention whose offsets do not fit the text."""


@dataclass(frozen=True, eq=False)
class Grammar:
    """Patterns built from the small linking words of the `grammar` section."""

    coordination: re.Pattern[str]  # the whole gap between two actors named together
    agent: re.Pattern[str]  # the whole gap before an actor that acts ("backed by")
    owner: re.Pattern[str]  # the whole gap before an owner ("fighters of the")
    relative: re.Pattern[str]  # the start of a relative clause
    source_agent: re.Pattern[str]  # the start of a source after a passive verb
    fighter_links: frozenset[str]  # gaps between a fighter noun and its demonym


def _alternatives(words: Sequence[str]) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


def _words(section: Any, where: str) -> list[str]:
    if not isinstance(section, list) or not all(isinstance(word, str) for word in section):
        raise ClaimLexiconError(f"{where} must be a list of words")
    return section


def _grammar(section: Any, attribution: Any, source: str) -> Grammar:
    # Matched on the text as written, ignoring case: the words are not folded.
    words = {key: _words(_at(section, (key,), source), f"{source}: grammar.{key}")
             for key in ("coordination", "articles", "agents", "owners", "relatives",
                         "fighter_links")}
    agents = _words(_at(attribution, ("agents",), source), f"{source}: attribution.agents")
    article = f"(?:\\s*(?:{_alternatives(words['articles'])}))?"
    return Grammar(
        coordination=re.compile(
            f"^\\s*(?:,|,?\\s*(?:{_alternatives(words['coordination'])})){article}\\s*$", re.I),
        agent=re.compile(f"^\\s*(?:{_alternatives(words['agents'])}){article}\\s*$", re.I),
        owner=re.compile(f"^\\s*(?:{_alternatives(words['owners'])}){article}\\s*$", re.I),
        relative=re.compile(f"[\\s»\"”]*[,،]?\\s*(?:{_alternatives(words['relatives'])})\\b", re.I),
        source_agent=re.compile(f"\\s*(?:{_alternatives(agents)})\\s+", re.I),
        fighter_links=frozenset(fold(word) for word in words["fighter_links"]) | {""},
    )


@dataclass(frozen=True, eq=False)
class ClaimLexicon:
    """A loaded claims.yaml: two matchers and the rules that read their matches."""

    cue_matcher: TermMatcher
    context_matcher: TermMatcher
    report_matcher: TermMatcher  # "the reports", "the accusations": what a denial rejects
    everything_matcher: TermMatcher  # "any involvement": a denial of every claim
    sentence_rules: SentenceRules
    military_support_type: str
    contractor_actors: frozenset[str]
    fighter_origins: frozenset[str]
    own_country_origins: frozenset[str]
    sides: Mapping[str, str]
    grammar: Grammar
    trailing: re.Pattern[str]  # on folded text: where the rest of a source is time or place
    leading_words: frozenset[str]
    trailing_words: frozenset[str]
    pronouns: frozenset[str]
    inverted: frozenset[str]
    locatives: frozenset[str]
    made_after: tuple[str, ...]
    made_before: tuple[str, ...]
    demonyms_before: tuple[frozenset[str], tuple[str, ...]]  # folded (forms, stems)
    demonyms_after: tuple[frozenset[str], tuple[str, ...]]
    fighter_pay: tuple[str, ...]
    max_source_words: int
    side_window: int
    weak_window: int


# --- loading ------------------------------------------------------------------------------


def _by_language(term_id: str, section: Any, where: str) -> list[Term]:
    if not isinstance(section, Mapping):
        raise ClaimLexiconError(f"{where} must map a language to a list of forms")
    terms: list[Term] = []
    for language, forms in section.items():
        if not isinstance(forms, list):
            raise ClaimLexiconError(f"{where}.{language} must be a list of forms")
        terms += terms_from_forms(term_id, forms, where=f"{where}.{language}")
    return terms


def _at(data: Any, path: tuple[str, ...], source: str) -> Any:
    value = data
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            raise ClaimLexiconError(f"{source}: missing '{'.'.join(path)}'")
        value = value[key]
    return value


def _id_list(data: Mapping[str, Any], key: str, source: str) -> frozenset[str]:
    value = _at(data, (key,), source)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ClaimLexiconError(f"{source}: '{key}' must be a list of actor ids")
    return frozenset(value)


def _positive_int(data: Any, path: tuple[str, ...], source: str) -> int:
    value = _at(data, path, source)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ClaimLexiconError(f"{source}: '{'.'.join(path)}' must be a positive integer")
    return value


def _folded_words(section: Any, where: str) -> tuple[str, ...]:
    """The plain-string words of a list or a per-language mapping of lists, folded."""
    if isinstance(section, list):
        section = {"any": section}
    if not isinstance(section, Mapping):
        raise ClaimLexiconError(f"{where} must be a list of words or map a language to one")
    words: list[str] = []
    for language, forms in section.items():
        if not isinstance(forms, list) or not all(isinstance(form, str) and form for form in forms):
            raise ClaimLexiconError(f"{where}.{language} must be a list of words")
        words += [fold(form) for form in forms]
    return tuple(words)


def _parse_lexicon(data: Any, source: str) -> ClaimLexicon:
    if not isinstance(data, Mapping):
        raise ClaimLexiconError(f"{source}: expected a mapping at the top level")
    types = _at(data, ("types",), source)
    if not isinstance(types, Mapping) or set(types) != _TYPE_CUES:
        raise ClaimLexiconError(f"{source}: 'types' must have exactly {sorted(_TYPE_CUES)}")
    cue_terms: list[Term] = []
    for type_id, section in types.items():
        cue_terms += _by_language(type_id, section, f"types.{type_id}")
    for kind in _NON_CLAIMS:
        cue_terms += _by_language(kind, _at(data, ("non_claims", kind), source),
                                  f"non_claims.{kind}")
    context_terms: list[Term] = []
    for context_id, path in _CONTEXT_LISTS.items():
        context_terms += _by_language(context_id, _at(data, path, source), ".".join(path))

    military_type = _at(data, ("military_support_type",), source)
    if military_type not in CLAIM_TYPES:
        raise ClaimLexiconError(f"{source}: 'military_support_type' must be one of {CLAIM_TYPES}")
    sides_section = _at(data, ("sides",), source)
    if not isinstance(sides_section, Mapping) or set(sides_section) != set(_SIDES):
        raise ClaimLexiconError(f"{source}: 'sides' must list actor ids for {list(_SIDES)}")
    sides: dict[str, str] = {}
    for side, ids in sides_section.items():
        if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
            raise ClaimLexiconError(f"{source}: sides.{side} must be a list of actor ids")
        sides.update({actor_id: side for actor_id in ids})
    try:
        sentence_rules = sentence_rules_from_mapping(_at(data, ("sentences",), source),
                                                     f"{source}: sentences")
    except SentenceRulesError as exc:
        raise ClaimLexiconError(str(exc)) from exc
    return ClaimLexicon(
        cue_matcher=TermMatcher.from_terms(cue_terms),
        context_matcher=TermMatcher.from_terms(context_terms),
        report_matcher=TermMatcher.from_terms(_by_language(
            "report", _at(data, ("denial_scope", "reports"), source), "denial_scope.reports")),
        everything_matcher=TermMatcher.from_terms(_by_language(
            "everything", _at(data, ("denial_scope", "everything"), source),
            "denial_scope.everything")),
        sentence_rules=sentence_rules,
        military_support_type=military_type,
        contractor_actors=_id_list(data, "contractor_actors", source),
        fighter_origins=_id_list(data, "fighter_origins", source),
        own_country_origins=_id_list(data, "fighter_origins_own_country", source),
        sides=sides,
        grammar=_grammar(_at(data, ("grammar",), source), _at(data, ("attribution",), source),
                         source),
        trailing=re.compile("(?<!\\w)(?:{})(?!\\w)".format(_alternatives(_folded_words(
            _at(data, ("attribution", "trailing"), source), "attribution.trailing")))),
        leading_words=frozenset(_folded_words(_at(data, ("attribution", "leading_words"), source),
                                              "attribution.leading_words")),
        trailing_words=frozenset(_folded_words(
            _at(data, ("attribution", "trailing_words"), source), "attribution.trailing_words")),
        pronouns=frozenset(_folded_words(_at(data, ("attribution", "pronouns"), source),
                                         "attribution.pronouns")),
        inverted=frozenset(_folded_words(_at(data, ("attribution", "inverted"), source),
                                         "attribution.inverted")),
        locatives=frozenset(_folded_words(_at(data, ("locatives",), source), "locatives")),
        made_after=_folded_words(_at(data, ("made_after",), source), "made_after"),
        made_before=_folded_words(_at(data, ("made_before",), source), "made_before"),
        demonyms_before=_demonym_forms(_at(data, ("demonym_adjectives", "before"), source),
                                       "demonym_adjectives.before"),
        demonyms_after=_demonym_forms(_at(data, ("demonym_adjectives", "after"), source),
                                      "demonym_adjectives.after"),
        fighter_pay=_folded_words(_at(data, ("fighter_pay",), source), "fighter_pay"),
        max_source_words=_positive_int(data, ("attribution", "max_words"), source),
        side_window=_positive_int(data, ("side_cue_window",), source),
        weak_window=_positive_int(data, ("weak_cue_window",), source),
    )


def load_claim_lexicon(path: str | Path | None = None) -> ClaimLexicon:
    """The claim lexicon at `path`, or the packaged one."""
    path = Path(path) if path is not None else _DEFAULT_FILE
    source = path.name if path == _DEFAULT_FILE else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ClaimLexiconError(f"{source}: cannot read: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ClaimLexiconError(" ".join(f"{source}: invalid YAML: {exc}".split())) from exc
    try:
        return _parse_lexicon(data, source)
    except TermError as exc:
        raise ClaimLexiconError(f"{source}: {exc}") from exc


@lru_cache(maxsize=1)
def default_claim_lexicon() -> ClaimLexicon:
    """The packaged lexicon, loaded once per process."""
    return load_claim_lexicon()


# --- what a sentence yields -------------------------------------------------------------------


@dataclass
class _Unit:
    """A foreign actor as it acts in one sentence."""

    start: int
    end: int
    actor: str  # the id reported as the claim's actor
    country: str
    kind: str  # "state", "contractor", "force", "fighters" or "inert" (history only)
    remembered: bool = False  # fighters whose sender came from another sentence
    speaker: bool = False  # named as the source of the sentence
    bound: int | None = None  # start of the cue noun a demonym qualifies ("Russian jets")


@dataclass
class _Found:
    """A claim before the article-level pass; `type` None is a denial still to be typed."""

    actor: str | None  # None: unnamed foreign forces, resolved from the article
    country: str | None
    type: str | None
    polarity: str
    beneficiary: str | None
    explicit_side: bool
    source: str | None
    sentence: str
    sentence_index: int
    confidence: float
    cue_start: int = 0
    generic: bool = False  # worded as mere presence ("having forces"): typed by what it answers
    pay: bool = False  # a funding cue that is a pay word
    weak_political: bool = False  # "support", "backed": may be the purpose of another act
    everything: bool = False  # a denial of any involvement: answers every claim of its country
    named_types: frozenset[str] = frozenset()  # types a denial's sentence names without a claim
    # about another theatre ("in Mali"): no claim, kept only so that a denial
    # answering it is not taken for a denial of a Libya claim
    elsewhere: bool = False
    libya_named: bool = False  # its sentence names Libya, a Libyan place or side


@dataclass
class _Article:
    """What every sentence may need from the rest of the article."""

    text: str
    lexicon: ClaimLexicon
    actors: Mapping[str, Actor]
    in_libya: bool
    tripoli_side: str
    side_positions: list[tuple[int, str]]  # (start, side) of every side named
    # (origin, side or None) -> (actor, country) of the state that sent such fighters
    senders: dict[tuple[str, str | None], tuple[str, str]] = field(default_factory=dict)
    last_carrier: tuple[str, str] | None = None  # who last carried a mercenaries claim

    def opposite(self, side: str) -> str:
        return self.tripoli_side if side == "lna" else "lna"

    def side_before(self, position: int) -> str | None:
        index = bisect_left(self.side_positions, (position, "")) - 1
        return self.side_positions[index][1] if index >= 0 else None


@dataclass
class _Sentence:
    index: int
    start: int
    end: int
    mentions: list[ActorMention]
    cues: list[Match]
    context: list[Match]


def _in_range(items: Sequence[Any], starts: Sequence[int], start: int, end: int) -> list[Any]:
    return list(items[bisect_left(starts, start):bisect_left(starts, end)])


def _country(actors: Mapping[str, Actor], mention: ActorMention) -> str | None:
    actor = actors.get(mention.actor_id)
    return actor.country if actor is not None else None


# --- reading one article ----------------------------------------------------------------


def extract_claims(
    title: str,
    text: str,
    language: str | None,
    mentions: Sequence[ActorMention] | None = None,
    *,
    lexicon: ClaimLexicon | None = None,
    actors: Mapping[str, Actor] | None = None,
) -> list[Claim]:
    """The claims of an article, in text order.

    `mentions` are the actor tagger's mentions in `title + "\\n" + text`
    (found here when None); `actors` is the gazetteer (id -> Actor), by
    default the packaged one. Raises ClaimError when a mention's offsets do
    not fit the text.
    """
    lexicon = lexicon or default_claim_lexicon()
    full = f"{title}\n{text}"
    if mentions is None:
        mentions = find_actor_mentions(full)
    actors = load_gazetteer().actors if actors is None else actors
    for mention in mentions:
        if full[mention.start:mention.end] != mention.surface:
            raise ClaimError(
                f"mention {mention.actor_id!r} at {mention.start}:{mention.end} reads "
                f"{full[mention.start:mention.end]!r}, not {mention.surface!r}")
    if not any(_country(actors, mention) not in (None, "libya") for mention in mentions):
        return []
    folded = fold(full)
    cues = lexicon.cue_matcher.find(full, folded)
    if not any(cue.term_id in _TYPE_CUES for cue in cues):
        return []
    context = lexicon.context_matcher.find(full, folded)
    mentions = sorted(mentions, key=lambda mention: (mention.start, -mention.end))

    named_sides = {lexicon.sides[m.actor_id] for m in mentions if m.actor_id in lexicon.sides}
    tripoli_side = "gnu" if "gnu" in named_sides and "gna" not in named_sides else "gna"
    side_positions = sorted(
        [(m.start, lexicon.sides[m.actor_id]) for m in mentions if m.actor_id in lexicon.sides]
        + [(m.start, tripoli_side if m.term_id == "side_tripoli" else "lna")
           for m in context if m.term_id in ("side_tripoli", "side_east")])
    article = _Article(
        text=full, lexicon=lexicon, actors=actors,
        in_libya=bool(side_positions) or any(m.term_id == "place_libya" for m in context)
        or any(_country(actors, mention) == "libya" for mention in mentions),
        tripoli_side=tripoli_side, side_positions=side_positions,
    )
    mention_starts = [mention.start for mention in mentions]
    cue_starts = [cue.start for cue in cues]
    context_starts = [match.start for match in context]
    found: list[_Found] = []
    spans = split_sentences(full, language, lexicon.sentence_rules)
    for index, (start, end) in enumerate(spans):
        sentence = _Sentence(
            index, start, end,
            _in_range(mentions, mention_starts, start, end),
            _in_range(cues, cue_starts, start, end),
            _in_range(context, context_starts, start, end),
        )
        found += _read_sentence(article, sentence)
    return _resolve_article(found)


def _resolve_article(found: list[_Found]) -> list[Claim]:
    """Denials take the claim they answer; sides carry over; one claim per sentence and key."""
    asserted = [item for item in found if item.polarity == _ASSERTED]
    by_country: dict[str, list[_Found]] = {}
    for item in asserted:
        by_country.setdefault(item.country, []).append(item)
    resolved: list[_Found] = []
    for item in found:
        if item.polarity == _DENIED:
            resolved += _answer(item, asserted, by_country)
        else:
            resolved.append(item)
    resolved = [item for item in resolved if not item.elsewhere]

    votes: dict[str, dict[str, int]] = {}
    for item in resolved:
        if item.beneficiary is not None and item.explicit_side:
            counts = votes.setdefault(item.country, {})
            counts[item.beneficiary] = counts.get(item.beneficiary, 0) + 1
    claims: dict[tuple[int, str, str, str, str], Claim] = {}
    for item in resolved:
        beneficiary = item.beneficiary
        if beneficiary is None and votes.get(item.country):
            counts = votes[item.country]
            beneficiary = max(sorted(counts), key=counts.__getitem__)
        key = (item.sentence_index, item.actor, item.country, item.type, item.polarity)
        if key in claims:
            continue
        claims[key] = Claim(
            actor=item.actor, country=item.country, type=item.type, polarity=item.polarity,
            beneficiary=beneficiary, source=item.source, sentence=item.sentence,
            confidence=item.confidence)
    return list(claims.values())


def _nearest_before(denial: _Found, claims: list[_Found]) -> list[_Found]:
    """The claims of the last sentence before the denial that holds any of `claims`
    (the report a denial in general words answers), or the first claim when the
    denial comes first (a headline's "denies role" answers the lead)."""
    before = [item for item in claims if (item.sentence_index, item.cue_start)
              < (denial.sentence_index, denial.cue_start)]
    if not before:
        return claims[:1]
    index = max(item.sentence_index for item in before)
    return [item for item in before if item.sentence_index == index]


def _in_libya(denial: _Found, claims: list[_Found]) -> list[_Found]:
    """The Libya claims a denial may answer: none when the nearest claims before a
    denial that names no Libyan place are about another theatre ("Mali accused
    Russian troops of killings; Moscow rejected the accusations")."""
    if not denial.libya_named and claims and all(
            item.elsewhere for item in _nearest_before(denial, claims)):
        return []
    return [item for item in claims if not item.elsewhere]


def _answer(denial: _Found, asserted: list[_Found],
            by_country: dict[str, list[_Found]]) -> list[_Found]:
    """The denial typed by the claims it answers, or by its own words if it answers none.

    A denial in general words ("denied the reports", "has no forces in
    Libya") answers the nearest claims about that country before it (those
    of its headline when it comes first); one that denies everything ("denied
    any involvement") answers each of the country's claims; one by a third
    party that names no foreign actor ("the LNA dismissed the reports")
    answers the nearest foreign claims. One in specific words answers the
    claim of its type; if there is none, a denial of personnel ("no Russian
    servicemen", "not paid by the state") answers the claim about the
    country's personnel or, failing that, its first claim, while a denial of
    an act ("did not carry out any strike") stands as worded.
    """
    if denial.elsewhere:
        return [denial]  # about another theatre: dropped with the claims it denies
    if denial.country is None and denial.type is None:  # a third party: "the reports"
        military = _in_libya(denial, [item for item in asserted if item.type != "political"])
        if not military:
            return []
        return [replace(denial, country=target.country, type=target.type, actor=target.actor,
                        beneficiary=target.beneficiary)
                for target in _nearest_before(denial, military)]
    if denial.country is None:  # unnamed foreign forces: the article's main foreign actor
        counts = {country: [item for item in items if not item.elsewhere]
                  for country, items in by_country.items()}
        counts = {country: items for country, items in counts.items() if items}
        if not counts:
            return []
        first = {country: asserted.index(items[0]) for country, items in counts.items()}
        country = max(counts, key=lambda c: (len(counts[c]), -first[c]))
        denial = replace(denial, country=country)
    answered = _in_libya(denial, by_country.get(denial.country, []))
    if denial.type == "political":  # "does not take sides" answers only a political claim
        answered = [item for item in answered if item.type == "political"]
    elif denial.type is not None or denial.generic:  # a military denial, a military claim
        answered = [item for item in answered if item.type != "political"]
    if denial.type is None:  # not what its sentence admits after it ("denied ..., saying it")
        admitted = [item for item in answered if item.sentence_index == denial.sentence_index
                    and item.cue_start > denial.cue_start]
        answered = [item for item in answered if item not in admitted]
        denial = replace(denial, named_types=denial.named_types - {i.type for i in admitted})
    if not answered:
        return [denial] if denial.type is not None and denial.actor is not None else []
    same_type = [item for item in answered if item.type == denial.type]
    personnel = [item for item in answered if item.type in ("troops", "mercenaries")]
    if denial.type is None and denial.everything:
        military = [item for item in answered if item.type != "political"]
        targets = list({item.type: item for item in reversed(military or answered)}.values())
    elif denial.type is None:
        named = [item for item in answered if item.type in denial.named_types]
        targets = _nearest_before(denial, named or answered)  # "denied the money was to finance"
    elif denial.generic:
        targets = _nearest_before(denial, personnel or answered)[:1]
    elif same_type:
        targets = same_type[:1]
    elif denial.type in ("troops", "mercenaries") or denial.pay:
        targets = (personnel or answered)[:1]
    else:
        return [denial]
    return [replace(denial, type=target.type, actor=target.actor,
                    beneficiary=denial.beneficiary or target.beneficiary) for target in targets]


# --- reading one sentence ----------------------------------------------------------------


class _Reader:
    """Positions, sources, units, places, sides and polarity of one sentence."""

    def __init__(self, article: _Article, sentence: _Sentence) -> None:
        self.article = article
        self.lexicon = article.lexicon
        self.text = article.text
        self.sentence = sentence
        self.start, self.end = sentence.start, sentence.end
        self.by_id: dict[str, list[Match]] = {}
        for match in sentence.context:
            self.by_id.setdefault(match.term_id, []).append(match)
        self.breaks = [found.start() for found in
                       _CLAUSE_BREAK.finditer(self.text, self.start, self.end)]
        # Contrast words and semicolons split a sentence into parts that
        # keep their own polarity ("UAE may be financing Wagner; Abu Dhabi rejects").
        self.contrasts = sorted([match.start for match in self.by_id.get("contrast", ())] + [
            found.start() for found in _SEMICOLON.finditer(self.text, self.start, self.end)])
        self.quotes = self._quotes()

    # -- positions --
    def clause_of(self, position: int) -> int:
        return bisect_right(self.breaks, position)

    def part_of(self, position: int) -> int:
        return bisect_right(self.contrasts, position)

    def clause_span(self, position: int) -> tuple[int, int]:
        index = bisect_right(self.breaks, position)
        start = self.breaks[index - 1] + 1 if index > 0 else self.start
        end = self.breaks[index] if index < len(self.breaks) else self.end
        return start, end

    def matches(self, context_id: str) -> list[Match]:
        return self.by_id.get(context_id, [])

    # -- sources --
    def sources(self) -> list[tuple[int, tuple[int, int], str]]:
        """(cue position, span, text) of each attribution in the sentence."""
        found = []
        for cue in self.matches("attr_follows"):
            span = self._source_after(cue.end)
            if span:
                found.append((cue.start, span, self.text[span[0]:span[1]]))
        for cue in self.matches("attr_precedes"):
            span = self._source_around(cue)
            if span:
                found.append((cue.start, span, self.text[span[0]:span[1]]))
        return found

    def _source_after(self, position: int) -> tuple[int, int] | None:
        _, end = self.clause_span(position)
        return self._trim(position, min(end, self.end))

    def _source_around(self, cue: Match) -> tuple[int, int] | None:
        after = self.text[cue.end:self.end]
        passive = self.lexicon.grammar.source_agent.match(after)
        if passive:
            return self._source_after(cue.end + passive.end())  # "confirmed by the head of"
        before = self.text[self.start:cue.start].rstrip()
        if fold(cue.surface) in self.lexicon.inverted and before[-1:] in _CLOSING:
            _, end = self.clause_span(cue.end)
            if len(self.text[cue.end:end].split()) <= _INVERTED_WORDS:
                # '..." said Joshua Landis, head of', "..., a confirmé mercredi le ministère"
                return self._source_after(cue.end)
        start, end = self.clause_span(cue.start)
        end = cue.start
        while start > self.start and (not self.text[start:end].strip()
                                      or self.lexicon.grammar.relative.match(self.text[start:end])):
            # "One of the owners, Oleg K., said"; "Egypt and the UAE, which support
            # Haftar, accuse": the speaker is in the clause before
            end = start - 1
            start, _ = self.clause_span(start - 2)
        denier = any(d.start == cue.start for d in self.matches("deny"))
        return self._trim(start, end, denier)

    def _trim(self, start: int, end: int, denier: bool = False) -> tuple[int, int] | None:
        """The source phrase in text[start:end], cleared of time words, links and
        auxiliaries; None when nothing, a pronoun or a whole clause is left."""
        trailing = self.lexicon.trailing
        while True:  # time words that open an inverted source: "mercredi le ministère"
            lead = fold(self.text[start:end]).lstrip(_SOURCE_EDGE)
            found = trailing.match(lead)
            if found is None:
                break
            start += len(self.text[start:end]) - len(lead) + found.end()
        for cue in self.sentence.cues:  # "accused by officials in Tripoli of backing Haftar"
            if cue.term_id in _TYPE_CUES and start < cue.start < end:
                end = cue.start
                break
        found = trailing.search(fold(self.text[start:end]), 1)
        if found is not None:  # "seen by Reuters in May"
            end = start + found.start()
        while start < end and self.text[start] in _SOURCE_EDGE:
            start += 1
        for relative in self.matches("deny_relative"):  # "a charge Abu Dhabi denies"
            if denier and start <= relative.start <= start + 1 and relative.end < end:
                start = relative.end
                while start < end and self.text[start] in _SOURCE_EDGE:
                    start += 1
        words = self.text[start:end].split()
        while words and fold(words[0]) in self.lexicon.leading_words:  # "and analysts say"
            start = self.text.index(words[0], start) + len(words.pop(0))
            while start < end and self.text[start] in _SOURCE_EDGE:
                start += 1
        while words and fold(words[-1].strip(_SOURCE_EDGE)) in self.lexicon.trailing_words:
            end = start + self.text[start:end].rstrip().rindex(words[-1])
            words.pop()
        while end > start and self.text[end - 1] in _SOURCE_EDGE:
            end -= 1
        if not words or len(words) > self.lexicon.max_source_words:
            return None
        if fold(self.text[start:end]) in self.lexicon.pronouns:
            return None
        return start, end

    # -- units --
    def units(self, source_spans: list[tuple[int, int]], denial: bool) -> list[_Unit]:
        """The sentence's foreign actors, merged, with fighters' senders resolved."""
        units: list[_Unit] = []
        made: list[_Unit] = []
        for mention in self.sentence.mentions:
            actor = self.article.actors.get(mention.actor_id)
            if actor is None or actor.country in (None, "libya") or self._is_place(mention):
                continue
            in_source = any(a <= mention.start < b for a, b in source_spans)
            if mention.actor_id in self.lexicon.fighter_origins:
                if in_source:
                    continue  # "Syrian opposition sources said": the speakers, not actors
                span = self._fighter_phrase(mention)
                if span is not None:
                    units.append(_Unit(span[0], span[1], mention.actor_id, actor.country,
                                       "fighters"))
                    continue
            if self._historical(mention):
                kind = "inert"
            elif mention.actor_id in self.lexicon.contractor_actors or actor.type == "pmc":
                kind = "contractor"
            elif actor.type == "armed_force":
                kind = "force"
            else:
                kind = "state"
            unit = _Unit(mention.start, mention.end, mention.actor_id, actor.country, kind,
                         speaker=in_source and not denial, bound=self._bound_noun(mention))
            if self._made_by(mention):
                made.append(unit)
            elif units and self._merges(units[-1], unit):
                units[-1] = self._merged(units[-1], unit)
            else:
                units.append(unit)
        if any(unit.speaker for unit in units) and any(not unit.speaker for unit in units):
            units = [unit for unit in units if not unit.speaker]  # the speaker comments on others
        if made and not any(unit.kind != "inert" for unit in units):
            units += made  # "Turkish-made drones" with no other supplier named
        units.sort(key=lambda unit: unit.start)
        resolved = [self._resolve_sender(unit, units) if unit.kind == "fighters" else unit
                    for unit in units]
        return [unit for unit in resolved if unit is not None]

    def speaks_of_itself(self, unit: _Unit, cue: Match) -> bool:
        """Whether a quoted speaker is the actor of `cue`: "Turkey has acknowledged
        sending", "Turkey said it is providing", "[our soldiers]"."""
        if self.matches("attr_self") or self.matches("first_person"):
            return True
        return any(0 <= cue.start - match.end <= 25 for match in self.matches("self_reference"))

    def _is_place(self, mention: ActorMention) -> bool:
        """A state named as the scene of the clause ("in Syria", «в Сирии»), not an actor."""
        return self._after_locative(mention.start) and any(
            m.start <= mention.start < m.end for m in self.matches("place_elsewhere"))

    def _after_locative(self, position: int) -> bool:
        before = self.text[max(self.start, position - 12):position].split()
        return bool(before) and fold(before[-1]) in self.lexicon.locatives

    def _historical(self, mention: ActorMention) -> bool:
        """An actor named as the past of another ("successor of the Wagner group")."""
        if not any(0 <= mention.start - m.end <= 30 and not re.search(
                r"[.;,]", self.text[m.end:mention.start]) for m in self.matches("historical")):
            return False
        return not self.lexicon.grammar.relative.match(self.text, mention.end)

    def _made_by(self, mention: ActorMention) -> bool:
        after = fold(self.text[mention.end:mention.end + 16])
        before = fold(self.text[max(self.start, mention.start - 20):mention.start]).rstrip()
        return (any(after.startswith(marker) for marker in self.lexicon.made_after)
                or any(before.endswith(marker) for marker in self.lexicon.made_before))

    def _fighter_phrase(self, mention: ActorMention) -> tuple[int, int] | None:
        """The span of "Syrian fighters", "mercenaires syriens", "Syrians", or None."""
        nationals = [m for m in self.matches("fighter_national")
                     if m.start < mention.end and mention.start < m.end]
        if any(cue.term_id == "troops" and 0 <= cue.start - mention.end <= 1
               for cue in self.sentence.cues):
            return None  # "Sudanese troops": the state's own
        for noun in self.matches("fighter_noun"):
            if noun.start >= mention.end:
                gap = self.text[mention.end:noun.start]
                if len(gap) <= 24 and len(gap.split()) <= 2 and not re.search(r"[,.;:]", gap):
                    # "Syrian fighters", "Chadian and Sudanese fighters"
                    return mention.start, noun.end
            elif noun.end <= mention.start:
                gap = fold(self.text[noun.end:mention.start]).strip()
                if gap in self.lexicon.grammar.fighter_links:
                    return noun.start, mention.end  # "mercenaires syriens", "fighters from Sudan"
        return (mention.start, mention.end) if nationals else None

    def _bound_noun(self, mention: ActorMention) -> int | None:
        """The start of the cue noun a demonym adjective qualifies ("Russian jets",
        "drones turcs"), or None: that noun's claim is the demonym's state's."""
        surface = _folded_surface(mention.surface)
        before = _listed(surface, self.lexicon.demonyms_before)
        after = not before and _listed(surface, self.lexicon.demonyms_after)
        if not (before or after):
            return None
        for cue in self.sentence.cues:
            if cue.term_id not in _TYPE_CUES or cue.term_id == "political":
                continue
            if before and 0 < cue.start - mention.end <= 2 and not self.text[
                    mention.end:cue.start].strip():
                return cue.start
            if after and 0 < mention.start - cue.end <= 2 and not self.text[
                    cue.end:mention.start].strip():
                return cue.start
        return None

    def _merges(self, left: _Unit, right: _Unit) -> bool:
        if left.country != right.country or "fighters" in (left.kind, right.kind):
            return False
        gap = self.text[left.end:right.start]
        return len(gap) <= 30 and not re.search(r"[,.;:()\"“”«»]", gap)

    def _merged(self, left: _Unit, right: _Unit) -> _Unit:
        rank = {"contractor": 0, "force": 1, "state": 2, "inert": 3}

        def specific(unit: _Unit) -> tuple[int, int]:
            actor = self.article.actors[unit.actor]
            return rank[unit.kind], 1 if actor.type == "person" else 0
        best = min((left, right), key=specific)
        return _Unit(left.start, right.end, best.actor, best.country, best.kind,
                     speaker=left.speaker and right.speaker)

    def _resolve_sender(self, unit: _Unit, units: list[_Unit]) -> _Unit | None:
        origin = unit.actor
        senders = [other for other in units if other.kind not in ("fighters", "inert")
                   and other.bound is None  # "Russian jets and Sudanese fighters"
                   and other.actor not in self.lexicon.fighter_origins
                   and other.country != unit.country]
        sides = {side for _, _, side in self._sides_named()}
        side = sides.pop() if len(sides) == 1 else None
        if senders:
            nearest = min(senders, key=lambda other: _distance(other, unit.start, unit.end)[0])
            self.article.senders[origin, None] = (nearest.actor, nearest.country)
            if side is not None:
                self.article.senders[origin, side] = (nearest.actor, nearest.country)
            return replace(unit, actor=nearest.actor, country=nearest.country)
        if origin in self.lexicon.own_country_origins:
            return unit
        # "Haftar's militia denied it had recruited Syrian fighters": those sent for Haftar
        remembered = (self.article.senders.get((origin, side)) or self.article.senders.get(
            (origin, None)) or self.article.last_carrier)
        if remembered is None:
            return None
        return replace(unit, actor=remembered[0], country=remembered[1], remembered=True)

    def quote_of(self, position: int) -> tuple[int, int] | None:
        """The quotation (start, end) holding `position`, if any."""
        for start, end in self.quotes:
            if start <= position < end:
                return start, end
        return None

    def _quotes(self) -> list[tuple[int, int]]:
        """Quotations that open the sentence: a statement quoted, then attributed.
        (A quotation inside reported speech continues its subject's sentence.)"""
        spans = []
        for found in _QUOTE.finditer(self.text, self.start, self.end):
            if not self.text[self.start:found.start()].strip(" [(—–-"):
                spans.append((found.start(), found.end()))
        return spans

    # -- places, sides --
    def place_ok(self, position: int, political: bool = False) -> bool:
        """Whether the cue at `position` is about Libya rather than another theatre.

        The cue's own clause decides when it names a place; else the place
        nearest to the cue in the sentence; else the article. A foreign state
        or capital after "in" is another theatre in the cue's own clause
        ("trained in Turkey"), except for political cues, since diplomacy
        happens abroad ("met Bogdanov in Moscow to press for support").
        """
        places: list[tuple[int, bool]] = [(m.start, True) for m in self.matches("place_libya")]
        places += [(m.start, True)
                   for m in self.matches("side_tripoli") + self.matches("side_east")]
        for mention in self.sentence.mentions:
            if _country(self.article.actors, mention) == "libya":
                places.append((mention.start, True))
        places += [(m.start, False) for m in self.matches("place_elsewhere")]
        clause = self.clause_of(position)
        local = {libya for start, libya in places if self.clause_of(start) == clause}
        if not political and not local:
            local = {False for m in self.sentence.mentions
                     if self.clause_of(m.start) == clause and self._after_locative(m.start)
                     and _country(self.article.actors, m) not in (None, "libya")}
        if local:
            return True in local
        if not places:
            return self.article.in_libya
        return min(places, key=lambda place: abs(place[0] - position))[1]

    def _sides_named(self) -> list[tuple[int, int, str]]:
        """(start, end, side) of every side the sentence names."""
        named = [(m.start, m.end, self.lexicon.sides[m.actor_id]) for m in self.sentence.mentions
                 if m.actor_id in self.lexicon.sides]
        named += [(m.start, m.end, self.article.tripoli_side) for m in self.matches("side_tripoli")]
        named += [(m.start, m.end, "lna") for m in self.matches("side_east")]
        return named

    def beneficiary(self, cue: Match, claim_type: str, unit: _Unit,
                    units: list[_Unit]) -> tuple[str | None, bool, bool]:
        """(side, explicit, foreign) for the claim of `cue`.

        `explicit` says a cue names the side ("support for Haftar", "backed
        Haftar", "strikes on GNA positions"); `foreign` that the backing goes
        to a foreign actor instead ("a staunch ally of Syria's Assad").
        """
        window = self.lexicon.side_window
        relations = [(m.end, m.term_id) for m in self.matches("benefit") + self.matches("against")]
        explicit: list[tuple[int, str]] = []
        for start, end, side in self._sides_named():
            before = [rel for rel in relations if start - window <= rel[0] <= start
                      and not re.search(r"[.;,]", self.text[rel[0]:start])]
            if before:
                _, kind = max(before)
                explicit.append((start, side if kind == "benefit" else self.article.opposite(side)))
            elif (0 <= start - cue.end <= window
                  and not re.search(r"[.;,]", self.text[cue.end:start])):
                # the cue itself relates them: "backed Haftar", "bombed GNA positions"
                explicit.append((start, self.article.opposite(side) if claim_type == "strikes"
                                 else side))
            elif end <= cue.start and _POSSESSIVE_GAP.match(self.text[end:cue.start]):
                explicit.append((start, side))  # "Haftar's backers", "GNA allies"
        for match in self.matches("other_side"):
            named = self.article.side_before(match.start)
            if named is not None:
                explicit.append((match.start, self.article.opposite(named)))
        if explicit:
            return min(explicit, key=lambda item: abs(item[0] - cue.start))[1], True, False
        named = {side for _, _, side in self._sides_named()}
        side_clauses = {self.clause_of(start) for start, _, _ in self._sides_named()}
        if len(named) == 1 and not any(self.clause_of(m.start) in side_clauses
                                       for m in self.matches("against")):
            return named.pop(), False, False  # ("fighting in Libya, ... Haftar's": not against)
        if named:
            return None, False, False
        return None, False, self._backs_foreign(unit, units)

    def _backs_foreign(self, unit: _Unit, units: list[_Unit]) -> bool:
        window = self.lexicon.side_window
        for match in self.matches("benefit"):
            for mention in self.sentence.mentions:
                country = _country(self.article.actors, mention)
                if (0 <= mention.start - match.end <= window
                        and country not in (None, "libya", unit.country)
                        and not self.lexicon.grammar.source_agent.match(
                            self.text[match.end:mention.start])
                        and not re.search(r"[.;]", self.text[match.end:mention.start])
                        and not any(other.kind == "fighters" and other.start <= mention.start
                                    < other.end for other in units)):
                    return True
        return False

    # -- polarity --
    def polarities(self, position: int) -> tuple[str, ...]:
        part, clause = self.part_of(position), self.clause_of(position)
        if any(self.clause_of(n.start) == clause and n.start <= position <= n.end + 60
               for n in self.matches("negate")):
            return (_DENIED,)  # "there are no Russian troops"
        relevant = [d for d in self.matches("deny") if self.part_of(d.start) == part
                    and (self.clause_of(d.start) == clause or not self._elsewhere(d.start))]
        if not relevant:  # (a denial about another theatre, "rejected ... in Mali", is not one)
            return (_ASSERTED,)
        denial_clauses = {self.clause_of(d.start) for d in relevant}
        if clause not in denial_clauses and any(
                self.clause_of(m.start) not in denial_clauses for m in self.matches("admission")):
            return (_ASSERTED,)  # "denied the report, saying it sent only advisers"
        for denial in relevant:
            denial_clause = self.clause_of(denial.start)
            if denial_clause == clause + 1 and self._opens_with_relative(denial_clause):
                return (_ASSERTED, _DENIED)  # "accuse Qatar of funding ..., a charge Doha rejects"
        if any(self.clause_of(d.start) > clause + 1 and self._opens_with_relative(
                self.clause_of(d.start)) for d in relevant) and not any(
                self.clause_of(d.start) <= clause for d in relevant):
            return (_ASSERTED,)  # the relative denial answers a later clause
        return (_DENIED,)

    def local_fighters(self, start: int, end: int) -> bool:
        """Whether the fighters named at start:end are Libyan ("Libyan militia fighters",
        "armed groups in Benghazi"): a local word is the noun or qualifies it."""
        for match in self.matches("local_fighters"):
            if match.start <= start and end <= match.end:
                return True
            if 0 <= start - match.end <= 30 and not _CLAUSE_BREAK.search(
                    self.text, match.end, start):
                return True
        return False

    def _elsewhere(self, position: int) -> bool:
        """Whether the place named nearest to `position` in the sentence is another
        theatre ("Mali accused its fighters of killings, which Moscow rejected")."""
        places = [(m.start, False) for m in self.matches("place_elsewhere")]
        if not places:
            return False
        places += [(m.start, True) for m in self.matches("place_libya") + self.matches(
            "side_tripoli") + self.matches("side_east")]
        return not min(places, key=lambda place: abs(place[0] - position))[1]

    def denies(self) -> bool:
        return bool(self.matches("deny") or self.matches("negate"))

    def _opens_with_relative(self, clause: int) -> bool:
        start = self.breaks[clause - 1] + 1 if clause > 0 else self.start
        return any(start <= m.start <= start + 2 for m in self.matches("deny_relative"))


@lru_cache(maxsize=4096)
def _folded_surface(surface: str) -> str:
    return fold(surface)


def _listed(surface: str, words: tuple[frozenset[str], tuple[str, ...]]) -> bool:
    """Whether a folded surface is one of `words` (exact forms, stems)."""
    return surface in words[0] or surface.startswith(words[1])


def _demonym_forms(section: Any, where: str) -> tuple[frozenset[str], tuple[str, ...]]:
    words = _folded_words(section, where)
    return (frozenset(word for word in words if not word.endswith("-")),
            tuple(word[:-1] for word in words if word.endswith("-")))


def _distance(unit: _Unit, start: int, end: int, text: str = "",
              grammar: Grammar | None = None, personnel: bool = False) -> tuple[int, int]:
    """How far a unit is from a cue, as (distance, rank).

    The actor of a cue is usually its subject, before it; one after it counts
    for less unless an agent word makes it the one who acts ("backed by
    Russia"), an owner word the owner of the personnel named ("fighters of
    the Wagner Group"), or the sentence is Arabic, where the verb comes first
    and the owner follows the noun.
    """
    if unit.end <= start:
        return start - unit.end, 0
    if unit.start >= end:
        gap = text[end:unit.start]
        if grammar is not None and (grammar.agent.match(gap)
                                    or personnel and grammar.owner.match(gap)
                                    or _ARABIC.search(text[start:end])):
            return unit.start - end, 0
        return 2 * (unit.start - end) + _AFTER_PENALTY, 1
    return 0, 0


def _assign(units: list[_Unit], cue: Match, text: str, grammar: Grammar,
            pronouns: Sequence[int] = (), others: Sequence[int] = ()) -> tuple[list[_Unit], int]:
    """The units a cue speaks of (the nearest, with those coordinated with it), and how far.

    A pronoun between the last unit before the cue and the cue stands for that
    unit ("Turkey denied that its forces had carried out any strike"): the
    distance is counted from the pronoun (`pronouns` holds their ends), unless
    another actor is named in between (`others` holds their starts: "Cairo
    backed Haftar's forces in their campaign").
    """
    phrases = [unit for unit in units if unit.kind == "fighters"
               and unit.start <= cue.start and cue.end <= unit.end]
    if phrases:
        return phrases, 0
    owners = [unit for unit in units if unit.bound == cue.start]
    if owners:
        return owners, 0  # "Russian jets": the demonym's noun, whoever stands nearer
    personnel = cue.term_id in _PERSONNEL
    distances = [_distance(unit, cue.start, cue.end, text, grammar, personnel) for unit in units]
    before = [i for i, unit in enumerate(units) if unit.end <= cue.start]
    if before:
        last = before[-1]
        referring = [end for end in pronouns if units[last].end < end <= cue.start
                     and not any(units[last].end <= other < end for other in others)]
        if referring:
            distances[last] = (min(distances[last][0], cue.start - max(referring)), 0)
    best = min(range(len(units)), key=distances.__getitem__)
    distance = distances[best][0]
    group = [best]
    for step in (-1, 1):
        index = best
        while 0 <= index + step < len(units):
            left, right = sorted((index, index + step))
            if not grammar.coordination.match(text[units[left].end:units[right].start]):
                break
            index += step
            group.append(index)
    return [units[i] for i in sorted(group)], distance


def _claim_type(lexicon: ClaimLexicon, unit: _Unit, cue: Match, distance: int,
                concrete_near: bool) -> str | None:
    """The claim type of `cue` for `unit`, or None when the pair makes no claim."""
    cue_type = cue.term_id
    if unit.kind == "inert":
        return None
    if unit.kind == "fighters":
        return None if cue_type == "political" else "mercenaries"
    if unit.kind == "contractor":
        return cue_type if cue_type in ("weapons", "strikes") else "mercenaries"
    if unit.kind == "force":
        return cue_type if cue_type in ("weapons", "strikes", "funding") else "troops"
    if cue_type == "presence":  # a state: "Turkish forces", "deployed", not "its forces struck"
        if cue.term.weight < 1.0 or concrete_near or distance > lexicon.weak_window:
            return None
        return "troops"
    if cue_type == "military":
        return lexicon.military_support_type
    return cue_type


def _owned_by_other(reader: _Reader, cue: Match, political_ends: list[int]) -> bool:
    """Whether the cue's noun belongs to someone else: a Libyan or non-state actor right
    before it ("GNA troops", "ISIS fighters"), or the backer's client
    ("Turkish-backed forces")."""
    text = reader.text
    owners = [m.end for m in reader.sentence.mentions
              if _country(reader.article.actors, m) in (None, "libya")]
    owners += political_ends
    return any(end <= cue.start and _POSSESSIVE_GAP.match(text[end:cue.start]) for end in owners)


def _read_sentence(article: _Article, sentence: _Sentence) -> list[_Found]:
    if any(cue.term_id == "sports" for cue in sentence.cues):
        return []
    type_cues = [cue for cue in sentence.cues if cue.term_id in _TYPE_CUES]
    reader = _Reader(article, sentence)
    denies = reader.denies()
    if not (type_cues and sentence.mentions) and not denies:
        return []
    sources = reader.sources()
    source_spans = [span for _, span, _ in sources]
    units = reader.units(source_spans, denies) if sentence.mentions else []
    found = _typed_claims(reader, type_cues, units, sources) if units and type_cues else []
    if denies and not any(item.polarity == _DENIED for item in found):
        found += _untyped_denials(reader, units, sources)
    return found


def _typed_claims(reader: _Reader, type_cues: list[Match], units: list[_Unit],
                  sources: list[tuple[int, tuple[int, int], str]]) -> list[_Found]:
    article, sentence = reader.article, reader.sentence
    lexicon, text = article.lexicon, article.text
    source_spans = [span for _, span, _ in sources]
    silent = {reader.clause_of(cue.start) for cue in sentence.cues if cue.term_id == "no_comment"}
    off_topic = {reader.clause_of(cue.start) for cue in sentence.cues
                 if cue.term_id in ("humanitarian", "trade")}
    concrete = [cue for cue in type_cues if cue.term_id in _CONCRETE]
    strikes = [cue for cue in type_cues if cue.term_id == "strikes"]
    political_ends = [cue.end for cue in type_cues if cue.term_id == "political"]
    requests = [match.end for match in reader.matches("request")]
    maybe_before = [match.end for match in reader.matches("hypothetical_before")]
    pronouns = [match.end for match in reader.matches("self_reference")]
    others = [m.start for m in sentence.mentions
              if _country(article.actors, m) in (None, "libya")]
    neutral_objects = [match.start for match in reader.matches("neutral_object")]
    libya_here = bool(reader.matches("place_libya")) or any(
        _country(article.actors, m) == "libya" for m in sentence.mentions)
    sentence_text = text[sentence.start:sentence.end]
    found: list[_Found] = []

    def weak_troops_adjective(cue: Match) -> bool:
        return cue.term.weight < 1.0 and any(
            other.term_id == "weapons" and 0 < other.start - cue.end <= 2
            and not text[cue.end:other.start].strip() for other in type_cues)

    for cue in type_cues:
        clause = reader.clause_of(cue.start)
        if clause in silent or any(a <= cue.start < b for a, b in source_spans):
            continue
        if clause in off_topic and cue.term_id != "political":
            continue  # aid, trade: no claim, even from military units
        if any(0 <= cue.start - end <= 45 for end in requests):
            continue  # "seeking military support", "demanded the departure of foreign forces"
        if any(0 <= cue.start - end <= 3 for end in maybe_before) and (
                reader.polarities(cue.start) == (_ASSERTED,)):
            continue  # "any direct intervention" (but "has not provided any equipment")
        if cue.term_id != "political" and _owned_by_other(reader, cue, political_ends):
            continue
        if cue.term_id == "troops" and weak_troops_adjective(cue):
            continue  # «военные самолеты»: the adjective of a weapon, not personnel
        if cue.term_id == "mercenaries" and reader.local_fighters(cue.start, cue.end):
            continue  # "Libyan militia fighters": a state paying them funds a side
        if (cue.term_id == "presence" or cue.term_id == "troops" and cue.term.weight < 1.0) and any(
                _near(reader, cue, other, 60) for other in strikes):
            continue  # the agent of a strike ("its forces had carried out", "snipers firing")
        quote = reader.quote_of(cue.start)
        candidates = units
        if quote is not None and not any(quote[0] <= m.start < quote[1]
                                         for m in reader.matches("first_person")):
            candidates = [unit for unit in units if quote[0] <= unit.start < quote[1]]
            if not candidates:
                continue  # a quotation that names no actor comments, it does not claim
        assigned, distance = _assign(candidates, cue, text, lexicon.grammar, pronouns, others)
        weak = cue.term.weight < 1.0
        if weak and distance > lexicon.weak_window:
            continue
        if (cue.term_id == "political" and distance > _APPOSITION
                and _owned_by_other(reader, cue, [])):
            continue  # "reports about Haftar's backers": backers named only in apposition
        elsewhere = not reader.place_ok(cue.start, cue.term_id == "political")
        concrete_near = any(other is not cue and _near(reader, cue, other) for other in concrete)
        for unit in assigned:
            if unit.speaker and not reader.speaks_of_itself(unit, cue):
                continue
            claim_type = _claim_type(lexicon, unit, cue, distance, concrete_near)
            if claim_type is None:
                continue
            side, explicit, foreign = reader.beneficiary(cue, claim_type, unit, units)
            # backing for a foreign actor ("ally of Assad") is another country's war
            elsewhere = elsewhere or foreign and claim_type == "political"
            polarities = reader.polarities(cue.start)
            if cue.term_id == "political" and claim_type == "political":
                if any(0 <= start - cue.end <= 40 and reader.clause_of(start) == clause
                       for start in neutral_objects):
                    continue  # support for a ceasefire, a process: no side taken
                if weak and side is None and _ASSERTED in polarities:
                    continue
            source = _nearest_source(sources, cue.start)
            confidence = 0.45 + (0.0 if weak else 0.2) + (0.1 if libya_here else 0.0)
            confidence += (0.1 if distance <= 30 else 0.0) + (0.05 if source else 0.0)
            confidence += 0.05 if explicit else 0.0
            confidence -= 0.15 if unit.remembered else 0.0
            pay = cue.term_id == "funding" and fold(cue.surface).startswith(lexicon.fighter_pay)
            for polarity in polarities:
                found.append(_Found(
                    actor=unit.actor, country=unit.country, type=claim_type, polarity=polarity,
                    beneficiary=side, explicit_side=explicit, source=source,
                    sentence=sentence_text, sentence_index=sentence.index,
                    confidence=round(min(0.95, max(0.05, confidence)), 2), pay=pay,
                    cue_start=cue.start, generic=cue.term_id == "presence",
                    weak_political=cue.term_id == "political" and weak,
                    elsewhere=elsewhere, libya_named=libya_here))
    return _sentence_rules(reader, found)


def _near(reader: _Reader, cue: Match, other: Match, window: int = 40) -> bool:
    """Whether two cues are within `window` characters of each other in one clause."""
    return (reader.clause_of(cue.start) == reader.clause_of(other.start)
            and max(cue.start - other.end, other.start - cue.end) <= window)


def _sentence_rules(reader: _Reader, found: list[_Found]) -> list[_Found]:
    """Rules that look at all of a sentence's claims together."""
    if reader.matches("hypothetical"):
        found = [item for item in found if item.polarity == _DENIED]  # "if the GNA requests"
    # Support as the purpose of a concrete act ("deployed jets to support Wagner",
    # "envoi de militaires pour soutenir le GNA") is that act, not a political claim.
    acts = [(item.country, item.cue_start) for item in found
            if item.type not in ("political", None) and not item.weak_political]
    found = [item for item in found
             if not (item.weak_political and item.type == "political" and any(
                 country == item.country and start < item.cue_start for country, start in acts))]
    # A state's aircraft that struck: strikes only, unless their delivery is stated too.
    if not reader.matches("delivery"):
        striking = {(item.country, item.polarity) for item in found if item.type == "strikes"}
        found = [item for item in found
                 if not (item.type == "weapons" and (item.country, item.polarity) in striking)]
    # Pay for foreign fighters is part of the mercenaries claim.
    hiring = {item.country for item in found if item.type == "mercenaries"}
    fighters_named = bool(
        any(not reader.local_fighters(m.start, m.end) for m in reader.matches("fighter_noun"))
        or reader.matches("fighter_national")
        or any(cue.term_id == "mercenaries" and not reader.local_fighters(cue.start, cue.end)
               for cue in reader.sentence.cues))
    converted = []
    for item in found:
        if item.type == "funding" and (item.country in hiring or item.pay and fighters_named):
            item = replace(item, type="mercenaries")
        converted.append(item)
    for item in converted:
        if item.type == "mercenaries" and item.polarity == _ASSERTED and not item.elsewhere:
            reader.article.last_carrier = (item.actor, item.country)
    return converted


def _untyped_denials(reader: _Reader, units: list[_Unit],
                     sources: list[tuple[int, tuple[int, int], str]]) -> list[_Found]:
    """A denial with no type of its own ("Ankara denies role", "denied the report", "no
    foreign forces were stationed"): typed later by the claim it answers. Its actor is the
    denier, or unnamed foreign forces."""
    sentence = reader.sentence
    denial = (reader.matches("deny") + reader.matches("negate"))[0]
    if any(cue.term_id == "no_comment" and reader.clause_of(cue.start) == reader.clause_of(
            denial.start) for cue in sentence.cues) or not reader.place_ok(denial.start, True):
        return []  # (a denier is often named by its seat: "in the Kremlin", «в Кремле»)
    named_types = frozenset(cue.term_id for cue in sentence.cues if cue.term_id in CLAIM_TYPES)
    libyan = any(_country(reader.article.actors, m) == "libya" for m in sentence.mentions)
    common = dict(polarity=_DENIED, beneficiary=None, explicit_side=False,
                  libya_named=libyan or bool(reader.matches("place_libya")),
                  named_types=named_types, source=_nearest_source(sources, denial.start),
                  sentence=reader.text[sentence.start:sentence.end],
                  sentence_index=sentence.index, confidence=0.5, cue_start=denial.start)
    deniers = [unit for unit in units if unit.kind not in ("fighters", "inert")]
    if deniers:
        denier = min(deniers, key=lambda unit: _distance(unit, denial.start, denial.end,
                                                         reader.text, reader.lexicon.grammar))
        return [_Found(actor=denier.actor, country=denier.country, type=None,
                       everything=bool(reader.lexicon.everything_matcher.find(
                           reader.text[sentence.start:sentence.end])), **common)]
    for context_id, claim_type in (("foreign_troops", "troops"),
                                   ("foreign_fighters", "mercenaries")):
        if reader.matches(context_id):
            return [_Found(actor=None, country=None, type=claim_type, **common)]
    if libyan and reader.lexicon.report_matcher.find(reader.text[sentence.start:sentence.end]):
        # a Libyan side rejects "the reports": those about its foreign backers
        return [_Found(actor=None, country=None, type=None, **common)]
    return []


def _nearest_source(sources: list[tuple[int, tuple[int, int], str]], position: int) -> str | None:
    if not sources:
        return None
    return min(sources, key=lambda source: abs(source[0] - position))[2]


# --- Beam ----------------------------------------------------------------------------------


def _mentions_of(article: Article) -> list[ActorMention] | None:
    """Mentions an earlier stage left in `extra["actor_mentions"]`, or None."""
    stored = article.extra.get("actor_mentions")
    if stored is None:
        return None
    mentions = []
    for item in stored:
        if isinstance(item, ActorMention):
            mentions.append(item)
        elif isinstance(item, Mapping):
            try:
                mentions.append(ActorMention(**item))
            except TypeError as exc:
                raise ClaimError(f"extra.actor_mentions: bad mention {item!r}: {exc}") from exc
        else:
            raise ClaimError(f"extra.actor_mentions: expected mappings, got {type(item).__name__}")
    return mentions


def claim_fields(claims: Sequence[Claim]) -> dict[str, Any]:
    """The document fields of the claims: the nested list, and flat keyword lists.

    Lucene query strings (what Kibana users type) cannot reach nested
    fields, so each claim is also a `country:type:polarity` key, and the
    countries, types and polarities are listed on their own.
    """
    return {
        "claims": [asdict(claim) for claim in claims],
        "claim_keys": sorted({f"{c.country}:{c.type}:{c.polarity}" for c in claims}),
        "claim_countries": sorted({c.country for c in claims}),
        "claim_types": sorted({c.type for c in claims}),
        "claim_polarities": sorted({c.polarity for c in claims}),
    }


class _ExtractFn(beam.DoFn):
    def __init__(self, lexicon_path: str | None) -> None:
        self._lexicon_path = lexicon_path
        self._lexicon: ClaimLexicon | None = None
        self._actors: Mapping[str, Actor] | None = None
        self._found = counter("claims_found")

    def setup(self) -> None:
        # Built on the worker: the automata are rebuilt from YAML, not pickled.
        self._lexicon = load_claim_lexicon(self._lexicon_path)
        self._actors = load_gazetteer().actors

    def process(self, article: Article) -> Iterator[Any]:
        with stage_timer(_STAGE):
            try:
                claims = extract_claims(article.title, article.text, article.language,
                                        _mentions_of(article), lexicon=self._lexicon,
                                        actors=self._actors)
            except ClaimError as exc:
                yield pvalue.TaggedOutput(DEAD_LETTER, DeadLetter(
                    stage=_STAGE, key=article.id, error=str(exc), feed_url=article.feed_url))
                return
        self._found.inc(len(claims))
        yield replace(article, extra={**article.extra, **claim_fields(claims)})


class ExtractClaims(beam.PTransform):
    """Article -> Article with `extra["claims"]`, a list of claim dicts (see `Claim`).

    Reuses `extra["actor_mentions"]` when an earlier stage left them (offsets
    into `title + "\\n" + text`), else tags actors itself. Outputs: `articles`
    (main) and `dead_letter` (articles whose stored mentions do not fit their
    text). `lexicon_path` selects another lexicon than the packaged one; it is
    loaded here once so that a broken file fails when the pipeline is built.
    """

    def __init__(self, lexicon_path: str | None = None) -> None:
        super().__init__()
        load_claim_lexicon(lexicon_path)
        self._lexicon_path = lexicon_path

    def expand(self, articles: beam.PCollection) -> pvalue.DoOutputsTuple:
        return articles | "Extract" >> beam.ParDo(_ExtractFn(self._lexicon_path)).with_outputs(
            DEAD_LETTER, main="articles")
