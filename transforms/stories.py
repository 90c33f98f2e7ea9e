"""Near-duplicate stories: syndicated copies of one report share a `story_id`.

Exact duplicates are gone before this stage; what is left to find are copies
that changed a dateline, a headline, a spelling or a paragraph. Each document
gets a MinHash signature over word shingles of its normalized text (settings
in stories.yaml, fixed seed, so every runner and every run computes the same
values) and the band keys of that signature, stored with the document so that
a copy arriving in a later run finds it with a terms query.

Deciding which story a document joins depends on the documents before it, so
the small signatures of one run go to a single grouping step and are decided
there in a fixed order (published, then id): a document joins the
best-matching earlier story (of this run, through an in-memory LSH index, or
of earlier runs, through Elasticsearch) when the estimated Jaccard similarity
reaches the threshold, and otherwise starts a story of its own. The decisions
are joined back to the full articles by key, so the articles themselves never
pass through that one worker.

Document fields: `story_id` (the id of the story's first document),
`duplicate_of` (the same id, or None on the first document), `minhash_bands`,
`minhash` (None when the text is too short to compare), and on the first
document of a story begun in this run `story_outlets` and `story_size`.
A copy of an earlier run's story adds its outlet to that story's first
document in Elasticsearch instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import apache_beam as beam
import numpy as np
import yaml
from apache_beam import pvalue
from datasketch import MinHash, MinHashLSH

from connectors.es_stories import (StoryCandidate, StoryUpdateError, add_outlet_to_story,
                                   find_story_candidates)
from transforms.esdofn import ElasticsearchDoFn
from transforms.matching import fold
from transforms.metrics import counter, stage_timer
from transforms.model import Article, DeadLetter

__all__ = [
    "StorySettings",
    "StorySettingsError",
    "StoryEntry",
    "StoryDecision",
    "HeadUpdate",
    "StoryAssignment",
    "StoryOutputs",
    "load_story_settings",
    "story_words",
    "signature",
    "band_keys",
    "similarity",
    "story_entry",
    "assign_stories",
    "story_fields",
    "AssignStories",
]

_STAGE = "stories"
_HEAD_UPDATES = "head_updates"
_ONE_KEY = "stories"  # every signature of a run goes to the same grouping step
# Located from this file rather than by package name, which a test package can shadow.
_DEFAULT_PATH = Path(__file__).parent / "data" / "stories.yaml"
_WORD = re.compile(r"\w+")
_SETTINGS_KEYS = {"minhash", "shingle_words", "min_words", "threshold", "stop_words", "normalize"}
_MINHASH_KEYS = {"num_perm", "seed", "bands", "rows"}
_NORMALIZE_KEYS = {"remove", "equivalences", "rewrites"}


class StorySettingsError(ValueError):
    """A stories.yaml that cannot be used; the message names the file and the place in it."""


@dataclass(frozen=True)
class StorySettings:
    """How signatures are computed and when two of them are copies of one report."""

    num_perm: int
    seed: int
    bands: int
    rows: int
    shingle_words: int
    min_words: int
    threshold: float
    stop_words: frozenset[str]  # folded; every language's list at once, as tags can differ
    remove: tuple[re.Pattern[str], ...]  # applied to the body as written
    equivalences: tuple[tuple[str, str], ...]  # (folded variant, canonical form)
    rewrites: tuple[tuple[re.Pattern[str], str], ...]  # applied to the folded text

    variants: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    canonical: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # One pass finds every variant; the longest wins where they overlap.
        alternatives = sorted((v for v, _ in self.equivalences), key=lambda v: (-len(v), v))
        pattern = (re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, alternatives)) + r")(?!\w)")
                   if alternatives else None)
        object.__setattr__(self, "variants", pattern)
        object.__setattr__(self, "canonical", dict(self.equivalences))


# --- settings ------------------------------------------------------------------------


def load_story_settings(path: str | Path | None = None) -> StorySettings:
    """The settings at `path`, or the packaged ones (loaded once per process)."""
    if path is None:
        return _default_settings()
    return _load(Path(path), str(path))


@lru_cache(maxsize=1)
def _default_settings() -> StorySettings:
    return _load(_DEFAULT_PATH, _DEFAULT_PATH.name)


def _load(path: Path, source: str) -> StorySettings:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StorySettingsError(f"{source}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise StorySettingsError(" ".join(f"{source}: invalid YAML: {exc}".split())) from exc
    try:
        return _settings_from(data)
    except StorySettingsError as exc:
        raise StorySettingsError(f"{source}: {exc}") from exc


def _mapping(value: Any, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise StorySettingsError(f"{where}: expected a mapping")
    unknown = set(value) - allowed
    if unknown:
        raise StorySettingsError(f"{where}: unknown field(s) {sorted(unknown)}")
    return value


def _integer(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise StorySettingsError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def _pattern(value: Any, where: str) -> re.Pattern[str]:
    if not isinstance(value, str) or not value:
        raise StorySettingsError(f"{where}: expected a regular expression")
    try:
        return re.compile(value)
    except re.error as exc:
        raise StorySettingsError(f"{where}: invalid regular expression: {exc}") from exc


def _settings_from(data: Any) -> StorySettings:
    top = _mapping(data, "top level", _SETTINGS_KEYS)
    minhash = _mapping(top.get("minhash"), "minhash", _MINHASH_KEYS)
    num_perm = _integer(minhash.get("num_perm"), "minhash.num_perm", 2)
    bands = _integer(minhash.get("bands"), "minhash.bands", 1)
    rows = _integer(minhash.get("rows"), "minhash.rows", 1)
    if bands * rows > num_perm:
        raise StorySettingsError(
            f"minhash: bands x rows ({bands} x {rows}) exceeds num_perm ({num_perm})")
    threshold = top.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not 0 < threshold <= 1:
        raise StorySettingsError(f"threshold: expected a number in (0, 1], got {threshold!r}")
    normalize = _mapping(top.get("normalize", {}), "normalize", _NORMALIZE_KEYS)

    stop_words: set[str] = set()
    section = top.get("stop_words", {}) or {}
    if not isinstance(section, dict):
        raise StorySettingsError("stop_words: expected a mapping of language to a list of words")
    for language, words in section.items():
        if not isinstance(words, list):
            raise StorySettingsError(f"stop_words.{language}: expected a list of words")
        for index, word in enumerate(words):
            if not isinstance(word, str) or not word:
                raise StorySettingsError(
                    f"stop_words.{language}[{index}]: expected a word, got {word!r} "
                    "(quote words YAML reads otherwise, such as no, on, yes)")
            stop_words.add(fold(word))

    remove = []
    for index, item in enumerate(normalize.get("remove", []) or []):
        where = f"normalize.remove[{index}]"
        item = _mapping(item, where, {"pattern", "why"})
        remove.append(_pattern(item.get("pattern"), f"{where}.pattern"))

    equivalences: dict[str, str] = {}
    section = normalize.get("equivalences", {}) or {}
    if not isinstance(section, dict):
        raise StorySettingsError("normalize.equivalences: expected a mapping")
    for canonical, variants in section.items():
        where = f"normalize.equivalences.{canonical}"
        if not isinstance(canonical, str) or not isinstance(variants, list) or not variants:
            raise StorySettingsError(f"{where}: expected a non-empty list of variants")
        for index, variant in enumerate(variants):
            if not isinstance(variant, str) or not variant.strip():
                raise StorySettingsError(f"{where}[{index}]: expected a non-empty string")
            folded = fold(variant.strip())
            if folded in equivalences and equivalences[folded] != fold(canonical):
                raise StorySettingsError(
                    f"{where}[{index}]: {variant!r} is already a variant of "
                    f"{equivalences[folded]!r}")
            equivalences[folded] = fold(canonical)

    rewrites = []
    for index, item in enumerate(normalize.get("rewrites", []) or []):
        where = f"normalize.rewrites[{index}]"
        item = _mapping(item, where, {"pattern", "replace", "why"})
        replacement = item.get("replace")
        if not isinstance(replacement, str):
            raise StorySettingsError(f"{where}.replace: expected a string")
        rewrites.append((_pattern(item.get("pattern"), f"{where}.pattern"), replacement))

    return StorySettings(
        num_perm=num_perm,
        seed=_integer(minhash.get("seed"), "minhash.seed", 0),
        bands=bands,
        rows=rows,
        shingle_words=_integer(top.get("shingle_words"), "shingle_words", 1),
        min_words=_integer(top.get("min_words"), "min_words", 1),
        threshold=float(threshold),
        stop_words=frozenset(stop_words),
        remove=tuple(remove),
        equivalences=tuple(sorted(equivalences.items())),
        rewrites=tuple(rewrites),
    )


# --- signatures ----------------------------------------------------------------------


def story_words(title: str, text: str, settings: StorySettings | None = None) -> list[str]:
    """The words shingles are made of: the content words of title and body, without
    datelines and credit lines, case- and accent-folded, spelling variants made one."""
    settings = settings or load_story_settings()
    for pattern in settings.remove:
        text = pattern.sub(" ", text)
    folded = fold(f"{title}\n{text}")
    if settings.variants is not None:
        canonical = settings.canonical
        folded = settings.variants.sub(lambda m: canonical[m.group()], folded)
    for rewrite, replacement in settings.rewrites:
        folded = rewrite.sub(replacement, folded)
    stop_words = settings.stop_words
    return [word for word in _WORD.findall(folded) if word not in stop_words]


@lru_cache(maxsize=4)
def _permutations(num_perm: int, seed: int) -> np.ndarray:
    # Drawn once per process: MinHash would otherwise draw them for every document.
    return MinHash(num_perm=num_perm, seed=seed).permutations


def _minhash(settings: StorySettings, values: Sequence[int] | None = None) -> MinHash:
    return MinHash(num_perm=settings.num_perm, seed=settings.seed, hashvalues=values,
                   permutations=_permutations(settings.num_perm, settings.seed))


def signature(article: Article, settings: StorySettings | None = None) -> tuple[int, ...]:
    """The MinHash signature of the article's shingles; () when it has too few words.

    Hashing is SHA-1 based and the permutations come from a fixed seed, so the
    values are the same in every process (no dependence on Python's hash).
    """
    settings = settings or load_story_settings()
    words = story_words(article.title, article.text, settings)
    if len(words) < settings.min_words:
        return ()
    k = settings.shingle_words
    shingles = {" ".join(words[i:i + k]) for i in range(max(1, len(words) - k + 1))}
    minhash = _minhash(settings)
    minhash.update_batch([shingle.encode("utf-8") for shingle in shingles])
    return tuple(minhash.hashvalues.tolist())


def band_keys(sig: Sequence[int], settings: StorySettings | None = None) -> list[str]:
    """One key per LSH band, "<band>:<the band's values in hex>"; [] for an empty signature.

    Two signatures are candidates when they share a key; the key holds the
    values themselves, so sharing one never happens by a hash collision.
    """
    if not sig:
        return []
    settings = settings or load_story_settings()
    if len(sig) != settings.num_perm:
        raise ValueError(
            f"signature has {len(sig)} values, the settings expect {settings.num_perm}")
    rows = settings.rows
    return [f"{band}:" + "".join(f"{value:08x}" for value in sig[band * rows:(band + 1) * rows])
            for band in range(settings.bands)]


def similarity(sig_a: Sequence[int], sig_b: Sequence[int]) -> float:
    """Estimated Jaccard similarity: the share of positions where the signatures agree.

    0.0 when either is empty (too short to compare); signatures of different
    lengths come from different settings and cannot be compared.
    """
    if not len(sig_a) or not len(sig_b):
        return 0.0
    if len(sig_a) != len(sig_b):
        raise ValueError(f"cannot compare signatures of {len(sig_a)} and {len(sig_b)} values")
    a, b = np.asarray(sig_a, dtype=np.uint64), np.asarray(sig_b, dtype=np.uint64)
    return float(np.count_nonzero(a == b)) / len(a)


# --- deciding stories ----------------------------------------------------------------


@dataclass(frozen=True)
class StoryEntry:
    """What the grouping step needs of one article: small, unlike the article."""

    key: tuple[str, str]  # (id, content_hash): unique after exact deduplication
    id: str
    published: str
    outlet: str | None
    feed_url: str | None
    signature: tuple[int, ...]
    bands: tuple[str, ...]


@dataclass(frozen=True)
class StoryDecision:
    """The story of one document; `story_outlets` and `story_size` only on a new story's head."""

    key: tuple[str, str]
    story_id: str
    duplicate_of: str | None
    similarity: float | None = None  # to the best-matching earlier document, when joined
    story_outlets: tuple[str, ...] | None = None
    story_size: int | None = None


@dataclass(frozen=True)
class HeadUpdate:
    """A document of this run that joined an earlier run's story, whose head must learn of it."""

    head_id: str
    member_id: str
    outlet: str | None
    feed_url: str | None


@dataclass(frozen=True)
class StoryAssignment:
    """Every entry's decision, in decision order, and the earlier stories' heads to update."""

    decisions: tuple[StoryDecision, ...]
    head_updates: tuple[HeadUpdate, ...]


def story_entry(article: Article, settings: StorySettings | None = None) -> StoryEntry:
    """The grouping step's view of an article: its signature and band keys."""
    settings = settings or load_story_settings()
    sig = signature(article, settings)
    return StoryEntry(key=(article.id, article.content_hash), id=article.id,
                      published=article.published, outlet=article.outlet,
                      feed_url=article.feed_url, signature=sig,
                      bands=tuple(band_keys(sig, settings)))


def _order(entry: StoryEntry) -> tuple[str, str, str]:
    return entry.published, entry.id, entry.key[1]


def assign_stories(entries: Iterable[StoryEntry],
                   earlier: Mapping[str, Sequence[StoryCandidate]] | None = None,
                   settings: StorySettings | None = None) -> StoryAssignment:
    """Decides every entry's story, the same whatever order the entries come in.

    Entries are taken by (published, id); each joins the story of the most
    similar earlier entry of this run or candidate of an earlier run
    (`earlier`, by entry id) whose estimated Jaccard reaches the threshold,
    ties going to the smaller story id, or else starts its own story.
    """
    settings = settings or load_story_settings()
    earlier = earlier or {}
    ordered = sorted(entries, key=_order)
    for before, entry in zip(ordered, ordered[1:]):
        if before.key == entry.key:
            raise ValueError(
                f"stories: article {entry.id!r} (content hash {entry.key[1][:12]}) came twice; "
                "the input must be exactly deduplicated")
    run_ids = {entry.id for entry in ordered}
    lsh = MinHashLSH(threshold=settings.threshold, num_perm=settings.num_perm,
                     params=(settings.bands, settings.rows))
    signatures: dict[tuple[str, str], np.ndarray] = {}
    story_of: dict[tuple[str, str], str] = {}
    joined: dict[tuple[str, str], tuple[str, float]] = {}

    for entry in ordered:
        best: tuple[float, str] | None = None  # (similarity, story id)
        if entry.signature:
            values = np.asarray(entry.signature, dtype=np.uint64)
            minhash = _minhash(settings, values)
            others = lsh.query(minhash)
            if others:
                # One vectorised comparison against every candidate; only those at or
                # above the threshold can win, so only they are looked at one by one.
                agreements = _agreements(values, np.stack([signatures[o] for o in others]))
                for position in np.flatnonzero(agreements >= settings.threshold):
                    other = others[position]
                    best = _better(best, float(agreements[position]), story_of[other],
                                   settings.threshold)
            for candidate in earlier.get(entry.id, ()):
                # A story headed in this run is found through this run's own index.
                if (candidate.id in run_ids or candidate.story_id in run_ids
                        or not candidate.minhash):
                    continue
                best = _better(best, similarity(entry.signature, candidate.minhash),
                               candidate.story_id, settings.threshold)
            signatures[entry.key] = values
            lsh.insert(entry.key, minhash)
        if best is None:
            story_of[entry.key] = entry.id
        else:
            story_of[entry.key] = best[1]
            joined[entry.key] = (best[1], best[0])

    members: dict[str, list[StoryEntry]] = {}
    for entry in ordered:
        members.setdefault(story_of[entry.key], []).append(entry)
    decisions, updates = [], []
    for entry in ordered:
        story_id = story_of[entry.key]
        if entry.key not in joined:
            group = members[story_id]
            outlets = tuple(sorted({m.outlet for m in group if m.outlet}))
            decisions.append(StoryDecision(entry.key, story_id, None, None, outlets, len(group)))
            continue
        decisions.append(StoryDecision(entry.key, story_id, story_id, joined[entry.key][1]))
        if story_id not in run_ids:
            updates.append(HeadUpdate(story_id, entry.id, entry.outlet, entry.feed_url))
    return StoryAssignment(tuple(decisions), tuple(updates))


def _better(best: tuple[float, str] | None, sim: float, story_id: str,
            threshold: float) -> tuple[float, str] | None:
    """The better of the best match so far and this one: more similar, then smaller story id."""
    if sim < threshold:
        return best
    if best is None or (-sim, story_id) < (-best[0], best[1]):
        return sim, story_id
    return best


def _agreements(signature: np.ndarray, others: np.ndarray) -> np.ndarray:
    """The share of agreeing positions between one signature and each row of `others`."""
    return np.count_nonzero(others == signature, axis=1) / len(signature)


def story_fields(entry: StoryEntry, decision: StoryDecision) -> dict[str, Any]:
    """The document fields one decision gives an article."""
    fields: dict[str, Any] = {
        "story_id": decision.story_id,
        "duplicate_of": decision.duplicate_of,
        "minhash_bands": list(entry.bands),
        "minhash": list(entry.signature) if entry.signature else None,
    }
    if decision.story_size is not None:
        fields["story_outlets"] = list(decision.story_outlets or ())
        fields["story_size"] = decision.story_size
    return fields


# --- the transform -------------------------------------------------------------------


class _SignFn(beam.DoFn):
    def __init__(self, settings_path: str | None) -> None:
        self._settings_path = settings_path
        self._settings: StorySettings | None = None

    def setup(self) -> None:
        self._settings = load_story_settings(self._settings_path)

    def process(self, article: Article) -> Iterator[tuple[tuple[str, str], Any]]:
        with stage_timer(_STAGE):
            entry = story_entry(article, self._settings)
        yield entry.key, (article, entry)


class _DecideFn(ElasticsearchDoFn):
    """The single grouping step: looks earlier runs up in batches, then decides in order."""

    def __init__(self, client_factory: Callable[[], Any] | None, alias: str | None,
                 settings_path: str | None, lookup_batch: int) -> None:
        super().__init__(client_factory)  # type: ignore[arg-type]
        self._alias = alias
        self._settings_path = settings_path
        self._lookup_batch = lookup_batch
        self._settings: StorySettings | None = None
        self._near_duplicates = counter("near_duplicates")
        self._across_runs = counter("near_duplicates_of_earlier_runs")

    def setup(self) -> None:
        self._settings = load_story_settings(self._settings_path)
        if self._client_factory is not None:
            super().setup()

    def process(self, keyed: tuple[Any, Iterable[StoryEntry]]) -> Iterator[Any]:
        _, group = keyed
        with stage_timer(_STAGE):
            entries = sorted(group, key=_order)
            earlier: dict[str, list[StoryCandidate]] = {}
            if self._client is not None:
                signed = [e for e in entries if e.bands]
                for start in range(0, len(signed), self._lookup_batch):
                    batch = signed[start:start + self._lookup_batch]
                    earlier.update(find_story_candidates(
                        self._client, self._alias, {e.id: e.bands for e in batch}))
            assignment = assign_stories(entries, earlier, self._settings)
        self._near_duplicates.inc(sum(1 for d in assignment.decisions if d.duplicate_of))
        self._across_runs.inc(len(assignment.head_updates))
        for decision in assignment.decisions:
            yield decision.key, decision
        for update in assignment.head_updates:
            yield pvalue.TaggedOutput(_HEAD_UPDATES, update)


def _attach(keyed: tuple[tuple[str, str], Mapping[str, list[Any]]]) -> Iterator[Article]:
    key, joined = keyed
    signed, decisions = joined["signed"], joined["decisions"]
    if len(signed) != 1 or len(decisions) != 1:
        raise ValueError(
            f"stories: article {key[0]!r} (content hash {key[1][:12]}) came {len(signed)} times "
            f"with {len(decisions)} decisions; the input must be exactly deduplicated")
    with stage_timer(_STAGE):
        (article, entry), decision = signed[0], decisions[0]
        yield replace(article, extra={**article.extra, **story_fields(entry, decision)})


class _UpdateHeadsFn(ElasticsearchDoFn):
    """Adds each copy's outlet to its earlier story's first document."""

    def __init__(self, client_factory: Callable[[], Any], alias: str) -> None:
        super().__init__(client_factory)
        self._alias = alias
        self._updated = counter("story_heads_updated")

    def process(self, update: HeadUpdate) -> Iterator[DeadLetter]:
        try:
            with stage_timer(_STAGE):
                add_outlet_to_story(self._client, self._alias, update.head_id, update.outlet,
                                    update.member_id)
        except StoryUpdateError as exc:
            yield DeadLetter(stage=_STAGE, key=update.member_id, error=str(exc),
                             feed_url=update.feed_url)
            return
        self._updated.inc()


class StoryOutputs(NamedTuple):
    """What `AssignStories` gives: the articles, and the story updates that failed."""

    articles: beam.PCollection
    dead_letter: beam.PCollection


class AssignStories(beam.PTransform):
    """Article -> Article with `story_id`, `duplicate_of`, `minhash_bands`, `minhash` in `extra`.

    Expects exactly deduplicated articles. With `client_factory` and `alias`,
    copies also join stories of earlier runs found in Elasticsearch, whose
    first documents then get the copy's outlet (failures of that update go to
    `dead_letter`; the copy itself is kept). With `client_factory=None`
    (`enrich`) stories are found within the input only. Outputs: `articles`
    and `dead_letter`.
    """

    def __init__(self, client_factory: Callable[[], Any] | None = None, alias: str | None = None,
                 *, settings_path: str | None = None, lookup_batch: int = 200) -> None:
        super().__init__()
        if client_factory is not None and not alias:
            raise ValueError("AssignStories needs the alias to look earlier stories up in")
        if lookup_batch < 1:
            raise ValueError(f"lookup_batch must be positive, got {lookup_batch}")
        load_story_settings(settings_path)  # a broken file fails when the pipeline is built
        self._client_factory = client_factory
        self._alias = alias
        self._settings_path = settings_path
        self._lookup_batch = lookup_batch

    def expand(self, articles: beam.PCollection) -> StoryOutputs:
        signed = articles | "Sign" >> beam.ParDo(_SignFn(self._settings_path))
        decided = (signed
                   | "EntryOnly" >> beam.Map(lambda keyed: (_ONE_KEY, keyed[1][1]))
                   | "OneGroup" >> beam.GroupByKey()
                   | "Decide" >> beam.ParDo(_DecideFn(
                       self._client_factory, self._alias, self._settings_path,
                       self._lookup_batch)).with_outputs(_HEAD_UPDATES, main="decisions"))
        stories = ({"signed": signed, "decisions": decided.decisions}
                   | "JoinById" >> beam.CoGroupByKey()
                   | "Attach" >> beam.FlatMap(_attach))
        if self._client_factory is None:
            # Without Elasticsearch there are no earlier stories, hence no updates to fail.
            dead_letter = articles.pipeline | "NoDeadLetters" >> beam.Create([])
        else:
            dead_letter = decided[_HEAD_UPDATES] | "UpdateHeads" >> beam.ParDo(
                _UpdateHeadsFn(self._client_factory, self._alias))
        return StoryOutputs(articles=stories, dead_letter=dead_letter)

