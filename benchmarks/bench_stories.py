"""Near-duplicate stories: cost per document of signing and grouping, and how well copies are found.

Cost, on one core, without Elasticsearch:

  (a) `signature` and `band_keys` for each article of the development set
      (eval/dev_articles.jsonl: English, French, Russian and Arabic reports),
      each call timed on its own, the set passed over `--repeat` times; the
      median per document;
  (b) the grouping step `assign_stories` on 70 dev articles plus `--copies`
      edited copies of each (signatures computed beforehand), timed whole,
      `--repeat` times; the median divided by the documents.

Each copy makes one surface edit (another dateline, headline, spelling of
names, or a credit line) and one structural edit (a paragraph cut, the last
paragraph cut, a sentence trimmed, or a paragraph added), from a fixed seed.

Quality:

  - tests/data/near_duplicates.yaml: the share of its copies that join
    their original's story (recall), and the share of its distinct
    same-event pairs that are merged (false merges), each pair decided by
    `assign_stories` as the pipeline does;
  - the copies of (b) that joined their original's story;
  - pairs of different reports merged among the development set's 70
    articles and the hold-out's 36 (eval/holdout/holdout_articles.jsonl):
    they are all different reports, so the count should be 0.

    python benchmarks/bench_stories.py [--copies 30] [--repeat 5] [--seed N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: the repository's packages
    sys.path.insert(0, str(REPO))

from benchmarks.bench_spine import shown_python  # noqa: E402
from transforms.model import Article  # noqa: E402
from transforms.normalize import content_hash  # noqa: E402
from transforms.stories import (StoryEntry, StorySettings, assign_stories, band_keys,  # noqa: E402
                                load_story_settings, signature, similarity, story_entry)

__all__ = ["main"]

SEED = 20250519
DEV_ARTICLES = REPO / "eval" / "dev_articles.jsonl"
HOLDOUT_ARTICLES = REPO / "eval" / "holdout" / "holdout_articles.jsonl"
CASES_FILE = REPO / "tests" / "data" / "near_duplicates.yaml"
PUBLISHED = datetime(2025, 5, 19, 8, 0, tzinfo=timezone.utc)

# --- articles --------------------------------------------------------------------------


def make_article(article_id: str, title: str, text: str, *, language: str | None = "en",
                 outlet: str = "wire.example", published: datetime = PUBLISHED) -> Article:
    """An article as normalization leaves it, with the fields the stories stage reads."""
    return Article(id=article_id, url=f"https://{outlet}/{article_id}", title=title, text=text,
                   published=published.strftime("%Y-%m-%dT%H:%M:%SZ"),
                   published_source="input", language=language, language_source="input",
                   outlet=outlet, content_hash=content_hash(text, title),
                   feed_url=f"https://{outlet}/rss")


def read_articles(path: Path) -> list[Article]:
    """The articles of a JSON-lines evaluation file, one minute apart in file order."""
    articles = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            articles.append(make_article(record["id"], record["title"], record["text"],
                                         language=record.get("language"),
                                         published=PUBLISHED + timedelta(minutes=number)))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SystemExit(f"bench_stories: {path.name}, line {number}: not an article: {exc}")
    return articles


# --- the cases of tests/data/near_duplicates.yaml ----------------------------------------


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in text.strip().split("\n\n")]


def case_original(cases: dict[str, Any], name: str, **kwargs: Any) -> Article:
    doc = cases["articles"][name]
    return make_article(name, doc["title"], "\n\n".join(_paragraphs(doc["text"])), **kwargs)


def case_copy(cases: dict[str, Any], case: dict[str, Any], **kwargs: Any) -> Article:
    """The copy a case describes, its edits applied in the order the file's header gives."""
    doc = cases["articles"][case["of"]]
    if "text" in case:
        text = "\n\n".join(_paragraphs(case["text"]))
    else:
        source = _paragraphs(doc["text"])
        picked = case.get("paragraphs", range(len(source)))
        text = "\n\n".join(source[p] if isinstance(p, int) else " ".join(p.split())
                           for p in picked)
    for old, new in case.get("replace", []):
        if old not in text:
            raise SystemExit(f"bench_stories: {CASES_FILE.name}: copy {case['name']!r}: "
                             f"{old!r} is not in the text")
        text = text.replace(old, new)
    return make_article(f"copy-of-{case['of']}", case.get("title", doc["title"]), text, **kwargs)


@dataclass(frozen=True)
class PairResult:
    name: str
    kind: str  # "copy" or "distinct"
    similarity: float
    joined: bool


def decide_pair(first: Article, second: Article, settings: StorySettings) -> tuple[float, bool]:
    """Estimated Jaccard, and whether `assign_stories` puts the two in one story."""
    a, b = story_entry(first, settings), story_entry(second, settings)
    decisions = assign_stories([a, b], settings=settings).decisions
    return similarity(a.signature, b.signature), decisions[0].story_id == decisions[1].story_id


def case_results(settings: StorySettings) -> list[PairResult]:
    cases = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))
    later = PUBLISHED + timedelta(hours=2)
    results = []
    for case in cases["copies"]:
        first = case_original(cases, case["of"])
        copy = case_copy(cases, case, outlet="republisher.example", published=later)
        results.append(PairResult(case["name"], "copy", *decide_pair(first, copy, settings)))
    for case in cases["distinct"]:
        a = case_original(cases, case["a"])
        b = case_original(cases, case["b"], outlet="other-agency.example", published=later)
        results.append(PairResult(case["name"], "distinct", *decide_pair(a, b, settings)))
    return results


# --- edited copies of the development set -------------------------------------------------

DATELINES = ("TRIPOLI (Libya Daily) - ", "BENGHAZI, May 19 (Maghreb Wire) - ",
             "Tripoli, 19 May 2025 (Desert Herald) – ", "CAIRO (Sahel Post) — ")
SPELLINGS = (("U.N.", "UN"), ("UN ", "United Nations "), ("Gaddafi", "Kadhafi"),
             ("Haftar", "Hifter"), ("recognised", "recognized"), ("defence", "defense"),
             ("Defence", "Defense"), ("Dbeibah", "Dbeiba"), ("Kadhafi", "Gaddafi"))
CREDITS = ("(Reporting by Libya Daily staff; Editing by the desk)",
           "Source: Maghreb Wire", "This article first appeared on Desert Herald.")
CLOSING = {
    "en": "This story has been updated with comment from officials in Tripoli.",
    "fr": "Cet article a été mis à jour avec les réactions des autorités de Tripoli.",
    "ru": "Материал дополнен комментариями официальных лиц в Триполи.",
    "ar": "تم تحديث هذا الخبر بتعليقات من مسؤولين في طرابلس.",
}

Edit = Callable[[str, list[str], str, random.Random], tuple[str, list[str]]]


def _split(text: str) -> list[str]:
    separator = "\n\n" if "\n\n" in text else "\n"
    return [p for p in (part.strip() for part in text.split(separator)) if p]


def _sentences(paragraph: str) -> list[str]:
    parts, start = [], 0
    for position, char in enumerate(paragraph):
        if char in ".!?。" and paragraph[position + 1:position + 2] in (" ", ""):
            parts.append(paragraph[start:position + 1].strip())
            start = position + 1
    tail = paragraph[start:].strip()
    return [p for p in parts + [tail] if p]


def new_dateline(title: str, paragraphs: list[str], language: str,
                 rng: random.Random) -> tuple[str, list[str]]:
    return title, [rng.choice(DATELINES) + paragraphs[0], *paragraphs[1:]]


def new_headline(title: str, paragraphs: list[str], language: str,
                 rng: random.Random) -> tuple[str, list[str]]:
    shortened = title.split(",")[0].split(":")[-1].strip()
    options = [f"UPDATE {rng.randint(1, 3)}-{title}", " ".join(_sentences(paragraphs[0])[0]
                                                              .split()[:12])]
    if shortened and shortened != title:
        options.append(shortened)
    return rng.choice(options), paragraphs


def respelled(title: str, paragraphs: list[str], language: str,
              rng: random.Random) -> tuple[str, list[str]]:
    text = "\n".join([title, *paragraphs])
    usable = [pair for pair in SPELLINGS if pair[0] in text]
    if not usable:  # nothing to respell: a republisher's credit line instead
        return credit_line(title, paragraphs, language, rng)
    for old, new in rng.sample(usable, min(len(usable), 2)):
        title = title.replace(old, new)
        paragraphs = [p.replace(old, new) for p in paragraphs]
    return title, paragraphs


def credit_line(title: str, paragraphs: list[str], language: str,
                rng: random.Random) -> tuple[str, list[str]]:
    return title, [*paragraphs, rng.choice(CREDITS)]


def paragraph_cut(title: str, paragraphs: list[str], language: str,
                  rng: random.Random) -> tuple[str, list[str]]:
    if len(paragraphs) < 3:
        return sentence_trimmed(title, paragraphs, language, rng)
    cut = rng.randrange(1, len(paragraphs))
    return title, paragraphs[:cut] + paragraphs[cut + 1:]


def last_paragraph_cut(title: str, paragraphs: list[str], language: str,
                       rng: random.Random) -> tuple[str, list[str]]:
    if len(paragraphs) < 3:
        return sentence_trimmed(title, paragraphs, language, rng)
    return title, paragraphs[:-1]


def sentence_trimmed(title: str, paragraphs: list[str], language: str,
                     rng: random.Random) -> tuple[str, list[str]]:
    long = [i for i, p in enumerate(paragraphs) if len(_sentences(p)) > 1]
    if not long:
        return paragraph_added(title, paragraphs, language, rng)
    where = rng.choice(long)
    trimmed = " ".join(_sentences(paragraphs[where])[:-1])
    return title, paragraphs[:where] + [trimmed] + paragraphs[where + 1:]


def paragraph_added(title: str, paragraphs: list[str], language: str,
                    rng: random.Random) -> tuple[str, list[str]]:
    return title, [*paragraphs, CLOSING.get(language, CLOSING["en"])]


SURFACE_EDITS: tuple[Edit, ...] = (new_dateline, new_headline, respelled, credit_line)
STRUCTURAL_EDITS: tuple[Edit, ...] = (paragraph_cut, last_paragraph_cut, sentence_trimmed,
                                      paragraph_added)


def edited_copies(original: Article, count: int, rng: random.Random) -> list[Article]:
    """`count` copies with different words (exact duplicates are dropped before this stage)."""
    seen = {original.content_hash}
    copies: list[Article] = []
    for _ in range(count * 50):
        if len(copies) == count:
            break
        title, paragraphs = original.title, _split(original.text)
        language = original.language or "en"
        for edit in (rng.choice(SURFACE_EDITS), rng.choice(STRUCTURAL_EDITS)):
            title, paragraphs = edit(title, paragraphs, language, rng)
        copy = make_article(f"{original.id}-copy{len(copies) + 1:02d}", title,
                            "\n\n".join(paragraphs), language=original.language,
                            outlet=f"republisher{len(copies) + 1:02d}.example",
                            published=datetime.fromisoformat(original.published)
                            + timedelta(hours=1, minutes=len(copies)))
        if copy.content_hash not in seen:
            seen.add(copy.content_hash)
            copies.append(copy)
    if len(copies) < count:
        raise SystemExit(f"bench_stories: only {len(copies)} different copies of "
                         f"{original.id} could be made; ask for fewer with --copies")
    return copies


# --- the measurements -----------------------------------------------------------------------


@dataclass
class Timings:
    signature_us: list[float]
    bands_us: list[float]
    both_us: list[float]


def time_signing(articles: Sequence[Article], passes: int, settings: StorySettings) -> Timings:
    """(a) each `signature` and `band_keys` call timed on its own, over `passes` passes."""
    timings = Timings([], [], [])
    clock = time.perf_counter_ns
    for _ in range(passes):
        for article in articles:
            started = clock()
            sig = signature(article, settings)
            signed = clock()
            band_keys(sig, settings)
            done = clock()
            timings.signature_us.append((signed - started) / 1000)
            timings.bands_us.append((done - signed) / 1000)
            timings.both_us.append((done - started) / 1000)
    return timings


def time_grouping(entries: Sequence[StoryEntry], passes: int,
                  settings: StorySettings) -> tuple[list[float], Any]:
    """(b) seconds of `assign_stories` on every entry, per pass, and the last assignment."""
    seconds, assignment = [], None
    for _ in range(passes):
        started = time.perf_counter()
        assignment = assign_stories(entries, settings=settings)
        seconds.append(time.perf_counter() - started)
    return seconds, assignment


@dataclass(frozen=True)
class Grouped:
    """What (b) decided: copies that joined their original, stories of several originals."""

    documents: int
    copies: int
    joined: int
    mixed: int
    lowest: float  # estimated Jaccard of the copy least like its original


def _origins_by_story(story: dict[str, str], origin: dict[str, str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for doc_id, story_id in story.items():
        found.setdefault(story_id, set()).add(origin[doc_id])
    return found


@dataclass(frozen=True)
class SetResult:
    """Different reports decided together: pairs merged, and the closest pair."""

    articles: int
    pairs: int
    merged: list[tuple[str, str]]
    closest: tuple[float, str, str]


def distinct_set(articles: Sequence[Article], settings: StorySettings) -> SetResult:
    entries = [story_entry(article, settings) for article in articles]
    story = {d.key[0]: d.story_id for d in assign_stories(entries, settings=settings).decisions}
    merged = [(a.id, b.id) for a, b in itertools.combinations(articles, 2)
              if story[a.id] == story[b.id]]
    signed = [e for e in entries if e.signature]
    matrix = np.array([e.signature for e in signed], dtype=np.uint64)
    closest = (0.0, "", "")
    for i, entry in enumerate(signed[:-1]):
        shares = np.count_nonzero(matrix[i + 1:] == matrix[i], axis=1) / matrix.shape[1]
        j = int(np.argmax(shares))
        if shares[j] > closest[0]:
            closest = (float(shares[j]), entry.id, signed[i + 1 + j].id)
    return SetResult(len(articles), len(articles) * (len(articles) - 1) // 2, merged, closest)


# --- reporting ------------------------------------------------------------------------------


def _us(values: Sequence[float]) -> str:
    return f"{statistics.median(values):,.0f}"


def _p90(values: Sequence[float]) -> str:
    return f"{statistics.quantiles(values, n=10)[-1]:,.0f}" if len(values) > 1 else _us(values)


def reproduce(args: argparse.Namespace) -> str:
    return (f"{shown_python()} benchmarks/bench_stories.py --copies {args.copies} --repeat {args.repeat} "
            f"--seed {args.seed}")


def report(args: argparse.Namespace, settings: StorySettings, dev: Sequence[Article],
           timings: Timings, grouping: Sequence[float], grouped: Grouped,
           cases: Sequence[PairResult], dev_set: SetResult,
           holdout_set: SetResult) -> str:
    words = statistics.mean(len(a.title.split()) + len(a.text.split()) for a in dev)
    languages = ", ".join(sorted({a.language or "unknown" for a in dev}))
    group_median = statistics.median(grouping)
    groups = grouped.documents
    recall = f" ({grouped.joined / grouped.copies:.1%})" if grouped.copies else ""
    samples = len(timings.both_us)
    copy_cases = [c for c in cases if c.kind == "copy"]
    distinct_cases = [c for c in cases if c.kind == "distinct"]
    joined = sum(c.joined for c in copy_cases)
    merged = sum(c.joined for c in distinct_cases)

    def closest(result: SetResult) -> str:
        return f"{result.closest[0]:.2f} ({result.closest[1]} / {result.closest[2]})"

    lines = [
        f"Settings: num_perm {settings.num_perm}, {settings.bands} bands x {settings.rows} rows, "
        f"{settings.shingle_words}-word shingles, threshold {settings.threshold}. One core; "
        f"Python {sys.version.split()[0]}.",
        f"Development set: {len(dev)} articles ({languages}), {words:.0f} words on average "
        f"(title and text).",
        "",
        "| Measurement | Work | Median µs per document | p90 µs | Documents/s |",
        "|---|---|---:|---:|---:|",
        f"| (a) `signature` | {len(dev)} dev articles x {args.repeat} passes, each call timed "
        f"| {_us(timings.signature_us)} | {_p90(timings.signature_us)} | "
        f"{1e6 / statistics.median(timings.signature_us):,.0f} |",
        f"| (a) `band_keys` | same | {_us(timings.bands_us)} | {_p90(timings.bands_us)} | "
        f"{1e6 / statistics.median(timings.bands_us):,.0f} |",
        f"| (a) `signature` + `band_keys` | same ({samples} calls) | {_us(timings.both_us)} "
        f"| {_p90(timings.both_us)} | {1e6 / statistics.median(timings.both_us):,.0f} |",
        f"| (b) `assign_stories`, no Elasticsearch | {groups} documents ({len(dev)} dev articles "
        f"+ {args.copies} edited copies of each), whole call, median of {args.repeat} "
        f"({min(grouping):.3f}-{max(grouping):.3f} s) | {group_median / groups * 1e6:,.0f} | "
        f"| {groups / group_median:,.0f} |",
        "",
        "| Quality | Result | Closest call |",
        "|---|---:|---|",
        f"| Copies in {CASES_FILE.name} that join their original (recall) "
        f"| {joined}/{len(copy_cases)} ({joined / len(copy_cases):.0%}) "
        f"| lowest estimated Jaccard {min(c.similarity for c in copy_cases):.2f} |",
        f"| Distinct same-event pairs in {CASES_FILE.name} merged (false-merge rate) "
        f"| {merged}/{len(distinct_cases)} ({merged / len(distinct_cases):.0%}) "
        f"| highest estimated Jaccard {max(c.similarity for c in distinct_cases):.2f} |",
        f"| Edited copies of the dev articles (b) that join their original's story "
        f"| {grouped.joined}/{grouped.copies}{recall} "
        f"| lowest estimated Jaccard {grouped.lowest:.2f} |",
        f"| Stories of (b) holding copies of more than one dev article "
        f"| {grouped.mixed} | |",
        f"| Pairs of the dev set's {dev_set.articles} distinct articles merged "
        f"| {len(dev_set.merged)} of {dev_set.pairs} | highest estimated Jaccard "
        f"{closest(dev_set)} |",
        f"| Pairs of the hold-out's {holdout_set.articles} distinct articles merged "
        f"| {len(holdout_set.merged)} of {holdout_set.pairs} | highest estimated Jaccard "
        f"{closest(holdout_set)} |",
        "",
        f"Threshold {settings.threshold}: a pair joins when its estimated Jaccard reaches it "
        f"and the two share a band key. Per case:",
        "",
        "| Case | Kind | Estimated Jaccard | One story |",
        "|---|---|---:|---|",
    ]
    lines += [f"| {c.name} | {c.kind} | {c.similarity:.2f} | {'yes' if c.joined else 'no'} |"
              for c in cases]
    for label, result in (("dev", dev_set), ("hold-out", holdout_set)):
        if result.merged:
            lines += ["", f"Merged {label} pairs: "
                          + ", ".join(f"{a} + {b}" for a, b in result.merged)]
    lines += ["", f"Reproduce: `{reproduce(args)}`"]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=30,
                        help="edited copies of each dev article for (b) (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="passes of (a) and of (b) (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=SEED, help="edits seed (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.copies < 0:
        parser.error("--copies must be at least 0")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    settings = load_story_settings()
    dev = read_articles(DEV_ARTICLES)
    holdout = read_articles(HOLDOUT_ARTICLES)

    signature(dev[0], settings)  # the permutations are drawn once per process
    timings = time_signing(dev, args.repeat, settings)

    rng = random.Random(args.seed)
    origin: dict[str, str] = {}  # document id -> the dev article it is (a copy of)
    documents: list[Article] = []
    for original in dev:
        for doc in (original, *edited_copies(original, args.copies, rng)):
            origin[doc.id] = original.id
            documents.append(doc)
    entries = [story_entry(doc, settings) for doc in documents]
    grouping, assignment = time_grouping(entries, args.repeat, settings)
    story = {d.key[0]: d.story_id for d in assignment.decisions}
    copies = [doc.id for doc in documents if doc.id != origin[doc.id]]
    signatures = {entry.id: entry.signature for entry in entries}
    grouped = Grouped(
        documents=len(documents), copies=len(copies),
        joined=sum(1 for doc_id in copies if story[doc_id] == story[origin[doc_id]]),
        mixed=sum(1 for members in _origins_by_story(story, origin).values()
                  if len(members) > 1),
        lowest=min((similarity(signatures[doc_id], signatures[origin[doc_id]])
                    for doc_id in copies), default=1.0))

    print(report(args, settings, dev, timings, grouping, grouped, case_results(settings),
                 distinct_set(dev, settings), distinct_set(holdout, settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
