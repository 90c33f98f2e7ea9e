"""Wires the pipelines from labelled transforms; never runs them, so tests can hand in a TestPipeline."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import apache_beam as beam

from connectors.feeds import FetchSettings
from transforms.actors import TagActors
from transforms.archive import ArchiveSlice, CountRecords, ReadFeedFiles, ReadLineRanges
from transforms.claims import ExtractClaims
from transforms.deadletter import WriteDeadLetters
from transforms.dedup import DedupWithinRun, SkipAlreadyIndexed
from transforms.feedstate import RecordFeedState
from transforms.fetch import FetchAndParse, ParseFetched, batches
from transforms.index import WriteToElasticsearch
from transforms.jsonl import ParseJsonLines
from transforms.model import Article, FeedSpec, FetchOutcome
from transforms.normalize import Normalize, NormalizeInput
from transforms.relevance import ScoreRelevance
from transforms.stories import AssignStories

__all__ = ["RunPlan", "BackfillPlan", "build_run", "build_backfill", "build_enrich",
           "enrich_document"]


@dataclass(frozen=True)
class RunPlan:
    """Everything one pass needs; the feeds already carry their remembered validators."""

    feeds: tuple[FeedSpec, ...]
    settings: FetchSettings
    alias: str
    run_id: str
    client_factory: Callable[[], Any]
    fetch_batch: int = 100
    bulk_size: int = 500
    tag: bool = True  # actors and claims; off for a bare archive of what the feeds carry
    # Bodies the driver already fetched (the watcher's probe): parsed instead of fetching `feeds`.
    prefetched: tuple[tuple[FetchOutcome, FeedSpec], ...] | None = None

    @property
    def dead_letter_index(self) -> str:
        return f"{self.alias}-deadletter"


@dataclass(frozen=True)
class BackfillPlan:
    """A backfill (or one slice of it): archived files instead of feeds, into the passes' index."""

    input: ArchiveSlice
    alias: str
    run_id: str
    client_factory: Callable[[], Any]
    bulk_size: int = 500
    tag: bool = True

    @property
    def dead_letter_index(self) -> str:
        return f"{self.alias}-deadletter"


def build_run(p: beam.Pipeline, plan: RunPlan) -> dict[str, beam.PCollection]:
    """Feeds -> fetch -> parse -> normalize -> relevance -> dedup -> actors, claims -> stories
    -> index -> state.

    Tagging runs after both exact-dedup steps, so only new documents pay for it;
    near-duplicate copies are kept and join their story.
    """
    if plan.prefetched is not None:
        fetched = (p
                   | "Fetched" >> beam.Create(plan.prefetched)
                   | "ParseFetched" >> ParseFetched())
    else:
        fetched = (p
                   | "Feeds" >> beam.Create(batches(plan.feeds, plan.fetch_batch))
                   | "FetchAndParse" >> FetchAndParse(plan.settings))
    normalized = fetched.entries | "Normalize" >> Normalize()
    written, recorded = _index_articles(plan, normalized.articles,
                                        [fetched.dead_letter, normalized.dead_letter])
    feed_state = ((fetched.feed_reports, written.dead_letter)
                  | "FeedState" >> RecordFeedState(plan.client_factory, plan.alias, plan.run_id,
                                                   plan.settings.schedule))
    return {"indexed": written.indexed, "dead_letters": recorded, "feed_state": feed_state}


def build_backfill(p: beam.Pipeline, plan: BackfillPlan) -> dict[str, beam.PCollection]:
    """Archived feed files and JSON lines -> normalize -> the rest exactly as `build_run`.

    Feed files are parsed by the feeds' own parse step, JSON lines by
    `enrich`'s reader; both stream (file by file, line by line). Files have
    no validators or schedule, so there is no feed state to record.
    """
    articles, rejected = [], []
    if plan.input.feed_files:
        files = p | "FeedFiles" >> ReadFeedFiles(plan.input.feed_files)
        normalized = files.entries | "Normalize" >> Normalize()
        articles.append(normalized.articles)
        rejected += [files.dead_letter, normalized.dead_letter]
    if plan.input.jsonl_ranges:
        parsed = (p
                  | "ReadJsonl" >> ReadLineRanges(plan.input.jsonl_ranges)
                  | "ParseJson" >> ParseJsonLines())
        normalized = (parsed.records
                      | "CountRecords" >> CountRecords()
                      | "NormalizeInput" >> NormalizeInput())
        articles.append(normalized.articles)
        rejected += [parsed.dead_letter, normalized.dead_letter]
    if not articles:
        raise ValueError("a backfill needs at least one file pattern")
    merged = articles[0] if len(articles) == 1 else tuple(articles) | "AllArticles" >> beam.Flatten()
    written, recorded = _index_articles(plan, merged, rejected)
    return {"indexed": written.indexed, "dead_letters": recorded}


def _index_articles(plan: RunPlan | BackfillPlan, articles: beam.PCollection,
                    rejected: list[beam.PCollection]) -> tuple[Any, beam.PCollection]:
    """Normalized articles -> relevance -> dedup -> actors, claims -> stories -> index.

    The one tail every indexing pipeline shares, so `run` and a backfill
    cannot drift apart. Returns the sink's result and the recorded dead
    letters (those of `rejected` and of every stage here).
    """
    relevant = articles | "Relevance" >> ScoreRelevance()
    fresh = (relevant.kept
             | "DedupWithinRun" >> DedupWithinRun()
             | "SkipAlreadyIndexed" >> SkipAlreadyIndexed(
                 plan.client_factory, plan.alias, plan.bulk_size))
    rejected = list(rejected)
    if plan.tag:
        claimed = fresh | "TagActors" >> TagActors() | "ExtractClaims" >> ExtractClaims()
        fresh = claimed.articles
        rejected.append(claimed.dead_letter)
    stories = fresh | "Stories" >> AssignStories(plan.client_factory, plan.alias)
    fresh = stories.articles
    rejected.append(stories.dead_letter)
    written = fresh | "Index" >> WriteToElasticsearch(
        plan.client_factory, plan.alias, plan.run_id, plan.bulk_size)
    dead_letters = ((*rejected, written.dead_letter) | "AllDeadLetters" >> beam.Flatten())
    recorded = dead_letters | "DeadLetters" >> WriteDeadLetters(
        plan.client_factory, plan.dead_letter_index, plan.run_id)
    return written, recorded


def enrich_document(article: Article) -> dict[str, Any]:
    """The document `enrich` writes: exactly what the sink would index, minus run bookkeeping."""
    return article.to_document()


def build_enrich(p: beam.Pipeline, input_pattern: str, output_path: str) -> dict[str, beam.PCollection]:
    """JSON lines -> the documents as they would be indexed, one per non-duplicate line.

    Rejected lines go to `<output>.errors.jsonl`, so nothing is lost silently.
    """
    parsed = (p
              | "Read" >> beam.io.ReadFromText(input_pattern)
              | "ParseJson" >> ParseJsonLines())
    normalized = parsed.records | "Normalize" >> NormalizeInput()
    claimed = (normalized.articles
               | "Relevance" >> ScoreRelevance(keep_all=True)
               | "DedupWithinRun" >> DedupWithinRun()
               | "TagActors" >> TagActors()
               | "ExtractClaims" >> ExtractClaims())
    stories = claimed.articles | "Stories" >> AssignStories()  # within the input only
    documents = stories.articles | "ToDocument" >> beam.Map(enrich_document)
    (documents
     | "DocumentJson" >> beam.Map(lambda d: json.dumps(d, ensure_ascii=False, sort_keys=True))
     | "Write" >> beam.io.WriteToText(output_path, shard_name_template="", num_shards=1))
    errors = ((parsed.dead_letter, normalized.dead_letter, claimed.dead_letter, stories.dead_letter)
              | "AllDeadLetters" >> beam.Flatten())
    (errors
     | "ErrorJson" >> beam.Map(lambda d: json.dumps(asdict(d), ensure_ascii=False))
     | "WriteErrors" >> beam.io.WriteToText(f"{output_path}.errors.jsonl",
                                            shard_name_template="", num_shards=1))
    return {"documents": documents, "errors": errors}
