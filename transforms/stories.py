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
of earlier runs, through Elasticsearch: the 50 indexed documents sharing most
of its band keys) when the estimated Jaccard similarity
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
from hashlib import sha1 as _sha1
from pathlib import Path
from typing import Any, NamedTuple

import ahocorasick
import apache_beam as beam
import numpy as np
import yaml
from apache_beam import pvalue
from datasketch import MinHash

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
_WORD_BYTES = re.compile(rb"\w+")
_WORD_CHAR = re.compile(r"\w")
# datasketch's MinHash arithmetic (see `_minhash_values`).
_SHA1_WORDS = 5  # a SHA-1 digest is five 32-bit words; its hash is the first
_MERSENNE_BITS = np.uint64(61)
_MERSENNE_PRIME = np.uint64((1 << 61) - 1)
_MAX_HASH = (1 << 32) - 1  # values keep 32 bits
_HASH_MASK = np.uint64(_MAX_HASH)
_PAIR_CHUNK = 8192  # candidate pairs compared at once (two 8 MB gathers at 128 values)
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

    # Built from the fields above: one automaton finds every variant in one pass.
    variants: ahocorasick.Automaton | None = field(init=False, repr=False, compare=False)
    canonical: Mapping[str, str] = field(init=False, repr=False, compare=False)
    stop_words_utf8: frozenset[bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        automaton = None
        if self.equivalences:
            automaton = ahocorasick.Automaton()
            for variant, _ in self.equivalences:
                automaton.add_word(variant, len(variant))
            automaton.make_automaton()
        object.__setattr__(self, "variants", automaton)
        object.__setattr__(self, "canonical", dict(self.equivalences))
        object.__setattr__(self, "stop_words_utf8",
                           frozenset(word.encode("utf-8") for word in self.stop_words))


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
    stop_words = settings.stop_words
    return [word for word in _WORD.findall(_story_text(title, text, settings))
            if word not in stop_words]


def _story_text(title: str, text: str, settings: StorySettings) -> str:
    """Title and body as one folded text, datelines and credit lines gone, variants made one."""
    for pattern in settings.remove:
        text = pattern.sub(" ", text)
    folded = fold(f"{title}\n{text}")
    if settings.variants is not None:
        folded = _canonical_variants(folded, settings.variants, settings.canonical)
    for rewrite, replacement in settings.rewrites:
        folded = rewrite.sub(replacement, folded)
    return folded


def _canonical_variants(folded: str, variants: ahocorasick.Automaton,
                        canonical: Mapping[str, str]) -> str:
    """`folded` with every variant that stands as whole words replaced by its canonical form.

    Scanning left to right, the first place where a variant stands between
    non-word characters (regular-expression `\\w`) takes the longest such
    variant there, and the scan goes on after it: what one regular expression
    of every variant, longest first, between `(?<!\\w)` and `(?!\\w)` replaces,
    found with one automaton pass instead of trying every variant at every
    position.
    """
    size = len(folded)
    longest: dict[int, int] = {}  # start -> end of the longest variant standing there
    for last, length in variants.iter(folded):
        end = last + 1
        start = end - length
        if (start and _WORD_CHAR.match(folded, start - 1)) or \
                (end < size and _WORD_CHAR.match(folded, end)):
            continue
        if longest.get(start, -1) < end:
            longest[start] = end
    if not longest:
        return folded
    pieces, position = [], 0
    for start in sorted(longest):
        if start < position:
            continue
        end = longest[start]
        pieces += (folded[position:start], canonical[folded[start:end]])
        position = end
    pieces.append(folded[position:])
    return "".join(pieces)


def _shingles(title: str, text: str, settings: StorySettings) -> set[bytes]:
    """The distinct shingles of `story_words`, UTF-8 encoded; empty when there are too few words.

    ASCII text (most of it) is split as bytes, which saves encoding every
    shingle; a bytes `\\w` on ASCII is the same class as a str `\\w` there.
    """
    folded = _story_text(title, text, settings)
    if folded.isascii():
        stop_words = settings.stop_words_utf8
        words = [word for word in _WORD_BYTES.findall(folded.encode("ascii"))
                 if word not in stop_words]
    else:
        stop_words = settings.stop_words
        words = [word.encode("utf-8") for word in _WORD.findall(folded) if word not in stop_words]
    if len(words) < settings.min_words:
        return set()
    k = settings.shingle_words
    if len(words) <= k:
        return {b" ".join(words)}
    return set(map(b" ".join, zip(*(words[i:] for i in range(k)))))


@lru_cache(maxsize=4)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's permutations (a, b) for these settings, as columns; drawn once per process."""
    a, b = MinHash(num_perm=num_perm, seed=seed).permutations
    return (np.ascontiguousarray(a, dtype=np.uint64).reshape(-1, 1),
            np.ascontiguousarray(b, dtype=np.uint64).reshape(-1, 1))


def _minhash_values(shingles: Iterable[bytes], settings: StorySettings) -> np.ndarray:
    """What datasketch's `MinHash.update_batch` gives for `shingles` with its default hash.

    The same arithmetic in fewer passes: the hash is the first four bytes
    of each shingle's SHA-1, read little-endian (datasketch's `sha1_hash32`),
    taken from one joined buffer instead of one `struct.unpack` each; each
    permutation is (a * h + b) mod 2**64 mod (2**61 - 1), keeping 32 bits, where
    the Mersenne modulus is two shifts and an add instead of a division.
    """
    digests = b"".join([_sha1(shingle).digest() for shingle in shingles])
    hashes = np.frombuffer(digests, dtype="<u4")[::_SHA1_WORDS].astype(np.uint64)
    a, b = _permutations(settings.num_perm, settings.seed)
    permuted = a * hashes  # one row per permutation, one column per shingle; wraps at 2**64
    permuted += b
    folded = permuted & _MERSENNE_PRIME
    permuted >>= _MERSENNE_BITS
    folded += permuted  # congruent to the value mod the prime, and at most prime + 7
    over = folded >= _MERSENNE_PRIME
    if over.any():
        folded[over] -= _MERSENNE_PRIME
    folded &= _HASH_MASK
    return folded.min(axis=1)


def signature(article: Article, settings: StorySettings | None = None) -> tuple[int, ...]:
    """The MinHash signature of the article's shingles; () when it has too few words.

    Hashing is SHA-1 based and the permutations come from a fixed seed, so the
    values are the same in every process (no dependence on Python's hash).
    """
    settings = settings or load_story_settings()
    shingles = _shingles(article.title, article.text, settings)
    if not shingles:
        return ()
    return tuple(_minhash_values(shingles, settings).tolist())


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
    if max(sig) <= _MAX_HASH and min(sig) >= 0:
        # Every value of a signature fits 32 bits: 8 hex digits each, big-endian.
        digits = np.asarray(sig, dtype=">u4").tobytes().hex()
        width = 8 * rows
        return [f"{band}:{digits[band * width:(band + 1) * width]}"
                for band in range(settings.bands)]
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
    signed = [entry for entry in ordered if entry.signature]
    for entry in signed:
        if len(entry.signature) != settings.num_perm:
            raise ValueError(f"stories: article {entry.id!r} has a signature of "
                             f"{len(entry.signature)} values, the settings expect "
                             f"{settings.num_perm}")
    matrix = np.array([entry.signature for entry in signed], dtype=np.uint64).reshape(
        len(signed), settings.num_perm)
    # Which pairs of this run share a band and are similar enough does not depend
    # on any decision, so it is found for the whole run at once; the decisions
    # then only walk those pairs, in order.
    matches = _similar_earlier(matrix, settings)
    row_of = {entry.key: row for row, entry in enumerate(signed)}
    arrays: dict[tuple[int, ...], np.ndarray] = {}  # earlier signatures, converted once
    story_of_row: list[str] = []
    story_of: dict[tuple[str, str], str] = {}
    joined: dict[tuple[str, str], tuple[str, float]] = {}

    for entry in ordered:
        best: tuple[float, str] | None = None  # (similarity, story id)
        if entry.signature:
            for other, sim in matches.get(row_of[entry.key], ()):
                best = _better(best, sim, story_of_row[other], settings.threshold)
            # A story headed in this run is found through this run's own index.
            candidates = [candidate for candidate in earlier.get(entry.id, ())
                          if candidate.minhash and candidate.id not in run_ids
                          and candidate.story_id not in run_ids]
            for sim, candidate in zip(_similarities(matrix[row_of[entry.key]], candidates,
                                                    arrays), candidates):
                best = _better(best, sim, candidate.story_id, settings.threshold)
        if best is None:
            story_of[entry.key] = entry.id
        else:
            story_of[entry.key] = best[1]
            joined[entry.key] = (best[1], best[0])
        if entry.signature:
            story_of_row.append(story_of[entry.key])

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


def _similarities(values: np.ndarray, candidates: Sequence[StoryCandidate],
                  arrays: dict[tuple[int, ...], np.ndarray]) -> list[float]:
    """`similarity` of one signature to each candidate's, in one vectorised step.

    `arrays` keeps each candidate signature as an array: a document of an
    earlier run is often a candidate of many documents of this one.
    """
    if not candidates:
        return []
    others = []
    for candidate in candidates:
        if len(candidate.minhash) != len(values):
            similarity(values, candidate.minhash)  # raises: signatures of other settings
        array = arrays.get(candidate.minhash)
        if array is None:
            array = arrays[candidate.minhash] = np.asarray(candidate.minhash, dtype=np.uint64)
        others.append(array)
    agreeing = np.count_nonzero(np.stack(others) == values, axis=1)
    return [count / len(values) for count in agreeing.tolist()]


def _similar_earlier(matrix: np.ndarray,
                     settings: StorySettings) -> dict[int, list[tuple[int, float]]]:
    """For each row of `matrix` (signatures in decision order), the earlier rows that
    share an LSH band with it and whose estimated Jaccard reaches the threshold,
    with that estimate.

    The candidates are those of datasketch's MinHashLSH with `params` (bands,
    rows): per band, rows whose values in the band are all equal. They are
    paired in numpy, a bounded number of pairs at a time, and compared in
    one step per chunk, so a run of many similar texts costs no Python per pair.
    """
    count, num_perm = matrix.shape
    found: list[np.ndarray] = []
    for band in range(settings.bands):
        values = matrix[:, band * settings.rows:(band + 1) * settings.rows]
        for later, earlier in _band_pairs(values):
            agreeing = np.count_nonzero(matrix[later] == matrix[earlier], axis=1)
            close = agreeing / num_perm >= settings.threshold
            if close.any():
                found.append(np.stack([later[close], earlier[close], agreeing[close]]))
    matches: dict[int, list[tuple[int, float]]] = {}
    if not found:
        return matches
    pairs = np.concatenate(found, axis=1)
    _, first = np.unique(pairs[0] * count + pairs[1], return_index=True)  # once per pair
    for later, earlier, agreeing in pairs[:, first].T.tolist():
        matches.setdefault(later, []).append((earlier, agreeing / num_perm))
    return matches


def _band_pairs(values: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(later rows, earlier rows) of every pair of rows of `values` that are equal, in
    chunks of at most `_PAIR_CHUNK` pairs."""
    count = len(values)
    if count < 2:
        return
    # Sorted by the band's values; equal values keep their rows in ascending order.
    order = np.lexsort(values.T[::-1])
    ordered = values[order]
    positions = np.arange(count)
    starts_group = np.empty(count, dtype=bool)
    starts_group[0] = True
    np.any(ordered[1:] != ordered[:-1], axis=1, out=starts_group[1:])
    group_start = np.maximum.accumulate(np.where(starts_group, positions, 0))
    before = positions - group_start  # earlier rows with the same values
    total = np.cumsum(before)
    low, done = 0, 0
    while low < count:
        high = max(int(np.searchsorted(total, done + _PAIR_CHUNK, side="right")), low + 1)
        counts = before[low:high]
        size = int(counts.sum())
        if size:
            later = np.repeat(order[low:high], counts)
            offsets = np.arange(size) - np.repeat(np.cumsum(counts) - counts, counts)
            earlier = order[np.repeat(group_start[low:high], counts) + offsets]
            yield later, earlier
        done = int(total[high - 1])
        low = high


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
                known: dict[str, StoryCandidate] = {}  # each indexed document read once
                for start in range(0, len(signed), self._lookup_batch):
                    batch = signed[start:start + self._lookup_batch]
                    earlier.update(find_story_candidates(
                        self._client, self._alias, {e.id: e.bands for e in batch}, known=known))
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
        attached = replace(article, extra={**article.extra, **story_fields(entry, decision)})
    yield attached  # outside the timer: what follows in the same step is not this stage's time


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

