"""Benchmark of the pipeline's spine: parsing, bulk indexing, and a full `libya-watch run`.

It generates news-wire RSS 2.0 feeds (a fixed seed, so every run sees the
same bytes), serves them from a threaded HTTP server on 127.0.0.1, and times:

  (a) parsing the feed bodies in-process with `connectors.parse.parse_feed`
      (feedparser plus the mapping to `RawEntry`), bodies already in memory;
  (b) bulk-creating the documents the pipeline would index (normalize,
      relevance, in-run dedup and `to_index_document`, all built beforehand)
      with `connectors.es_documents.bulk_create` in batches of 500 into a
      fresh alias made by `ensure_index`; no refresh inside the timing, as
      in the pipeline, whose sink does not refresh either;
  (c) the whole `libya-watch run` as a subprocess over the served feeds, into
      a fresh alias each time: the summary's `seconds` (the Beam pipeline
      alone) and the wall time of the process (start-up, imports, index
      set-up and the closing refresh included);
  (d) for context, not in the target: normalize + relevance +
      `to_index_document` as plain functions, the per-entry work the full run
      does on top of (a) and (b).

Each is repeated and the median reported. The target is that the full run
reaches at least half the throughput of (a) and (b) together:
time(c) <= 2 * (time(a) + time(b)).

Every index and template it creates is deleted by explicit name at the end
(the local server refuses wildcard deletes), and so are its temporary files.

    python benchmarks/bench_spine.py [--feeds 200] [--entries 50] [--repeat 3] [--es URL]
                                     [BEAM OPTIONS, passed on to `libya-watch run`]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from elasticsearch import ApiError, TransportError

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: the repository's packages, tests included
    sys.path.insert(0, str(REPO))

from connectors.es_client import EsSettings, make_client  # noqa: E402
from connectors.es_documents import bulk_create  # noqa: E402
from connectors.es_index import ensure_index, first_index_name  # noqa: E402
from connectors.parse import parse_feed  # noqa: E402
from connectors.runlock import lock_index_name  # noqa: E402
from connectors.runlog import runs_index_name  # noqa: E402
from connectors.state import state_index_name  # noqa: E402
from pipeline.demo import serve_directory  # noqa: E402
from tests.feedfactory import rss  # noqa: E402
from transforms.dedup import pick_representative  # noqa: E402
from transforms.index import to_index_document  # noqa: E402
from transforms.model import Article, FeedSpec, FetchOutcome, RawEntry  # noqa: E402
from transforms.normalize import normalize_entry  # noqa: E402
from transforms.relevance import default_topic_pack, score_relevance  # noqa: E402

__all__ = ["main"]

SEED = 20240917
BULK_SIZE = 500
CONTENT_TYPE = "application/rss+xml; charset=utf-8"
FETCHED_AT = "2025-03-02T12:00:00Z"
# Every feed is on 127.0.0.1; real feeds sit on as many hosts as feeds, so the
# per-host cap is lifted to the global one instead of serializing on one host.
FETCH_SETTINGS = {"concurrency": 16, "per_host": 16, "timeout": 30, "retries": 1}
STAGES = ("fetch", "parse", "normalize", "relevance", "dedup", "actors", "claims", "stories",
          "index", "state")

# --- the corpus ---------------------------------------------------------------------
# Word material for generated wire stories. Benchmark input only: the pipeline never
# reads it, and the relevance filter decides on its own which stories are kept.

LIBYAN_ACTORS = (
    "Khalifa Haftar", "the Libyan National Army", "Prime Minister Abdul Hamid Dbeibah",
    "the Government of National Unity", "Presidential Council head Mohamed Menfi",
    "parliament speaker Aguila Saleh", "the House of Representatives",
    "the National Oil Corporation", "UNSMIL", "Saddam Haftar", "the High Council of State",
    "Fathi Bashagha", "Saif al-Islam Gaddafi", "the Libyan coast guard",
)
PLACES = ("Tripoli", "Benghazi", "Misrata", "Sirte", "Tobruk", "Derna", "Sabha", "Kufra",
          "Zawiya", "Ghadames", "Gharyan", "Zintan", "Ajdabiya", "Brega", "Ras Lanuf")
FOREIGN_FORCES = (
    "Russian military personnel", "Africa Corps units formerly run by the Wagner Group",
    "Turkish military advisers", "Syrian fighters recruited by Turkey",
    "Sudanese armed groups", "Chadian rebels", "Emirati-supplied drones",
    "Egyptian special forces", "Italian naval units", "French intelligence officers",
)
FOREIGN_STATES = ("Russia", "Turkey", "the United Arab Emirates", "Egypt", "Italy", "France",
                  "Qatar", "the United States", "Greece", "Algeria")
BASES = ("al-Jufra air base", "Al-Watiya air base", "Mitiga airport", "Brak al-Shati air base",
         "al-Khadim air base", "the port of Tobruk", "Maaten al-Sarra air base",
         "Ghardabiya air base near Sirte")
EQUIPMENT = ("Pantsir air-defence systems", "Bayraktar TB2 drones", "MiG-29 fighter jets",
             "armoured vehicles", "Wing Loong drones", "Il-76 cargo flights",
             "artillery pieces", "patrol boats")
PEOPLE = ("Ahmed Elumami", "Ayman al-Warfalli", "Ulf Laessing", "Aidan Lewis",
          "Tuvan Gumrukcu", "Angus McDowall", "Nadine Awadalla", "Maria Kiselyova")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")

TITLES = (
    "{foreign_force} seen at {base}, Libyan officials say",
    "{state} steps up military flights to eastern Libya",
    "Libya's rival governments trade blame over {place} clashes",
    "{actor} rejects new UN roadmap for Libyan elections",
    "Satellite images show new fortifications at {base}",
    "Libyan oil output falls after blockade near {place}",
    "{state} and {state2} discuss Libya ceasefire monitoring",
    "UN envoy warns of foreign fighters' buildup in Libya",
    "Cargo flights to {base} raise alarm over Libya arms embargo",
    "Clashes erupt in {place} as armed groups vie for control",
    "{actor} meets {state} delegation on Libya security deal",
    "EU's Operation Irini inspects vessel bound for Libya",
)
LIBYA_SENTENCES = (
    "{foreign_force} have been deployed to {base}, according to two Libyan military sources "
    "who spoke on condition of anonymity.",
    "{actor} said in a televised statement that foreign forces would not be allowed to decide "
    "the future of Libya.",
    "At least {n} flights landed at {base} over the past {days} days, flight-tracking data "
    "reviewed by analysts showed.",
    "The United Nations Support Mission in Libya, UNSMIL, called on all parties to respect the "
    "October 2020 ceasefire and withdraw mercenaries.",
    "{state} has denied sending troops to Libya, but satellite imagery published this week "
    "showed {equipment} at {base}.",
    "Residents of {place} reported heavy gunfire overnight, and the local health ministry said "
    "{n} people were wounded.",
    "The National Oil Corporation said production had fallen to {barrels} barrels per day after "
    "protesters shut the {place} terminal.",
    "Libya has been split between rival administrations in Tripoli and the east since 2014, "
    "each backed by different foreign powers.",
    "Diplomats say {state} and {state2} have quietly increased their military footprint in "
    "Libya despite a UN arms embargo.",
    "{actor} accused {state} of violating Libyan sovereignty and demanded an explanation.",
    "A report by the UN panel of experts on Libya listed {n} violations of the arms embargo "
    "involving {equipment}.",
    "Forces loyal to Khalifa Haftar control much of eastern and southern Libya, including the "
    "oil crescent around {place}.",
    "Officials in {place} said the security situation remained tense but under control as "
    "talks continued.",
    "The Government of National Unity in Tripoli said it had signed a new training agreement "
    "with {state} covering {n} Libyan officers.",
    "Analysts say the presence of {foreign_force} in Libya gives {state} a foothold on the "
    "southern flank of NATO.",
    "A spokesman for {actor} declined to comment on reports that {equipment} had been moved to "
    "{base}.",
    "The EU naval mission Operation Irini said it had inspected {n} vessels off the Libyan "
    "coast this year.",
    "Migrant departures from western Libya rose by {pct} percent in {month}, the International "
    "Organization for Migration said.",
    "Libyan lawmakers meeting in {place} failed to agree on a date for long-delayed "
    "presidential elections.",
    "The Libyan central bank warned that the dispute over oil revenues threatened salaries "
    "for {n} thousand public employees.",
)
OFF_TOPIC_TITLES = (
    "Central banks hold rates as inflation cools in {month}",
    "Chip makers rally on strong quarterly earnings",
    "Heavy rain floods roads across northern Europe",
    "Tennis champion advances to the semi-finals",
    "Shipping rates climb as container demand recovers",
)
OFF_TOPIC_SENTENCES = (
    "Markets in Europe and Asia closed higher on {weekday} as investors priced in slower "
    "inflation.",
    "The company reported revenue of {n} million dollars for the quarter, above analyst "
    "forecasts.",
    "Forecasters expect more rain over the weekend, with up to {n} millimetres in some areas.",
    "The benchmark index rose {pct} percent, its best week since {month}.",
    "Officials said the new schedule would take effect from the first of {month}.",
    "The top seed won in straight sets and will face a qualifier in the next round.",
    "Freight rates on the main Asia to Europe route rose {pct} percent in a week.",
    "Economists said the figures pointed to steady growth for the rest of the year.",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
OFF_TOPIC_SHARE = 0.04


def _fill(template: str, rng: random.Random) -> str:
    states = rng.sample(FOREIGN_STATES, 2)
    return template.format(
        actor=rng.choice(LIBYAN_ACTORS), place=rng.choice(PLACES),
        foreign_force=rng.choice(FOREIGN_FORCES), state=states[0], state2=states[1],
        base=rng.choice(BASES), equipment=rng.choice(EQUIPMENT), n=rng.randint(2, 400),
        days=rng.randint(2, 30), barrels=f"{rng.randint(300, 1300) * 1000:,}",
        pct=rng.randint(2, 60), month=rng.choice(MONTHS), weekday=rng.choice(WEEKDAYS),
    )


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _story(rng: random.Random, on_topic: bool, published: datetime) -> tuple[str, str]:
    """A title and an HTML body of 150-300 words in wire style."""
    titles, sentences = ((TITLES, LIBYA_SENTENCES) if on_topic
                         else (OFF_TOPIC_TITLES, OFF_TOPIC_SENTENCES))
    title = _capitalized(_fill(rng.choice(titles), rng))
    target = rng.randint(150, 300)
    dateline = (f"{rng.choice(PLACES).upper() if on_topic else 'LONDON'}, "
                f"{MONTHS[published.month - 1]} {published.day} (Wire) - ")
    paragraphs: list[str] = []
    words = 0
    while words < target:
        paragraph = " ".join(_capitalized(_fill(rng.choice(sentences), rng))
                             for _ in range(rng.randint(1, 3)))
        paragraphs.append(paragraph)
        words += len(paragraph.split())
    paragraphs[0] = dateline + paragraphs[0]
    byline = f"Reporting by {rng.choice(PEOPLE)}; editing by {rng.choice(PEOPLE)}"
    body = "".join(f"<p>{p}</p>" for p in paragraphs) + f"<p><em>{byline}</em></p>"
    return title, body


def _slug(title: str) -> str:
    words = ("".join(ch for ch in word if ch.isalnum()) for word in title.lower().split())
    return "-".join(words)[:60]


def feed_items(feed_no: int, entries: int, rng: random.Random) -> list[dict[str, str]]:
    """One outlet's latest stories, newest first; links are unique across the corpus."""
    host = f"wire{feed_no:03d}.example"
    newest = datetime(2025, 3, 2, 11, 0, tzinfo=timezone.utc)
    items = []
    for i in range(entries):
        published = newest - timedelta(minutes=i * 37 + rng.randint(0, 30))
        title, body = _story(rng, rng.random() >= OFF_TOPIC_SHARE, published)
        link = f"https://{host}/{published:%Y/%m/%d}/{_slug(title)}-{feed_no:03d}{i:03d}/"
        if rng.random() < 0.3:
            link += "?utm_source=rss&utm_medium=feed"
        items.append({"title": title, "link": link, "body": body,
                      "published": published.isoformat()})
    return items


def write_corpus(directory: Path, feeds: int, entries: int, seed: int) -> list[Path]:
    """`feeds` RSS files of `entries` items each, the same bytes for the same seed."""
    rng = random.Random(seed)
    paths = []
    for feed_no in range(feeds):
        path = directory / f"feed{feed_no:03d}.xml"
        path.write_bytes(rss(feed_items(feed_no, entries, rng), title=f"Wire {feed_no:03d}"))
        paths.append(path)
    return paths


# --- serving ------------------------------------------------------------------------

def write_feeds_file(path: Path, base_url: str, corpus: Sequence[Path]) -> None:
    feeds = [{"url": f"{base_url}/{p.name}", "name": f"Wire {i:03d}"} for i, p in enumerate(corpus)]
    path.write_text(yaml.safe_dump({"settings": FETCH_SETTINGS, "feeds": feeds}, sort_keys=False),
                    encoding="utf-8")


# --- the measurements -----------------------------------------------------------------

def _outcome(url: str, body: bytes) -> FetchOutcome:
    return FetchOutcome(feed_url=url, status="ok", http_status=200, body=body,
                        content_type=CONTENT_TYPE, final_url=url, fetched_at=FETCHED_AT)


def time_parse(feeds: Sequence[tuple[str, bytes]]) -> tuple[float, int]:
    """(a) seconds to parse every body with `parse_feed`, and the entries it gave."""
    started = time.perf_counter()
    entries = 0
    for url, body in feeds:
        parsed = parse_feed(_outcome(url, body), FeedSpec(url=url))
        if parsed.error:
            raise SystemExit(f"bench_spine: {url}: generated feed does not parse: {parsed.error}")
        entries += len(parsed.entries)
    return time.perf_counter() - started, entries


@dataclass
class Documents:
    """What the pipeline would index from the corpus, and how it got there."""

    docs: list[tuple[str, dict[str, Any]]]
    raw: list[RawEntry]
    entries: int
    irrelevant: int
    duplicates: int


def build_documents(feeds: Sequence[tuple[str, bytes]], names: Sequence[str]) -> Documents:
    """parse -> normalize -> relevance -> in-run dedup -> `to_index_document`, untimed."""
    pack = default_topic_pack()
    kept: list[Article] = []
    raw = [entry for (url, body), name in zip(feeds, names)
           for entry in parse_feed(_outcome(url, body), FeedSpec(url=url, name=name)).entries]
    irrelevant = 0
    for entry in raw:
        article = normalize_entry(entry)
        relevance = score_relevance(article, pack)
        if relevance.kept:
            kept.append(replace(article, relevance=relevance))
        else:
            irrelevant += 1
    by_url: dict[str, list[Article]] = {}
    for article in kept:
        by_url.setdefault(article.url or article.id, []).append(article)
    by_text: dict[str, list[Article]] = {}
    for group in by_url.values():
        chosen = pick_representative(group)
        by_text.setdefault(chosen.content_hash, []).append(chosen)
    unique = [pick_representative(group) for group in by_text.values()]
    indexed_at = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    docs = [(a.id, to_index_document(a, "bench", indexed_at)) for a in unique]
    return Documents(docs=docs, raw=raw, entries=len(raw), irrelevant=irrelevant,
                     duplicates=len(kept) - len(unique))


def time_transforms(raw: Sequence[RawEntry]) -> float:
    """(d) seconds for normalize + relevance + `to_index_document` as plain functions.

    Not part of the target: it shows how much of the full run is the
    pipeline's own per-entry work rather than Beam or Elasticsearch.
    """
    pack = default_topic_pack()
    started = time.perf_counter()
    for entry in raw:
        article = normalize_entry(entry)
        relevance = score_relevance(article, pack)
        if relevance.kept:
            to_index_document(replace(article, relevance=relevance), "bench", FETCHED_AT)
    return time.perf_counter() - started


def time_bulk(client: Any, alias: str, docs: Sequence[tuple[str, dict[str, Any]]]) -> float:
    """(b) seconds to bulk-create `docs` in batches into a fresh alias (made before the clock)."""
    ensure_index(client, alias)
    started = time.perf_counter()
    created = 0
    for start in range(0, len(docs), BULK_SIZE):
        report = bulk_create(client, alias, docs[start:start + BULK_SIZE])
        if report.failed or report.existing:
            raise SystemExit(f"bench_spine: bulk into '{alias}': {len(report.failed)} failed, "
                             f"{len(report.existing)} already there (first: {report.failed[:1]})")
        created += len(report.created)
    elapsed = time.perf_counter() - started
    if created != len(docs):
        raise SystemExit(f"bench_spine: bulk into '{alias}' created {created} of {len(docs)}")
    return elapsed


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("libya-watch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipeline.cli"]


@dataclass
class RunResult:
    wall: float
    summary: dict[str, Any]


def time_run(feeds_file: Path, es_url: str, alias: str, summary_path: Path,
             beam_args: Sequence[str] = ()) -> RunResult:
    """(c) one `libya-watch run` as a subprocess: wall time, and its summary."""
    command = [*_cli(), "run", "--feeds", str(feeds_file), "--es", es_url, "--index", alias,
               "--summary-json", str(summary_path), *beam_args]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        ours = [line for line in lines if line.startswith("libya-watch:")]
        error = (ours or lines)[-1]
        raise SystemExit(f"bench_spine: libya-watch run exited {done.returncode}: {error}")
    return RunResult(wall=wall, summary=json.loads(summary_path.read_text(encoding="utf-8")))


def profile_run(feeds_file: Path, es_url: str, alias: str, top: int,
                beam_args: Sequence[str] = ()) -> str:
    """One pass in-process under cProfile; the functions with most own and cumulative time."""
    from pipeline.launch import run_pass

    # `--no-tag` is an option of `libya-watch run`, not of Beam: run_pass takes it as `tag`.
    tag = "--no-tag" not in beam_args
    profiler = cProfile.Profile()
    profiler.enable()
    run_pass(feeds_file, es_url, alias, [arg for arg in beam_args if arg != "--no-tag"], tag=tag)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# --- Elasticsearch housekeeping --------------------------------------------------------

def names_for(alias: str) -> tuple[list[str], list[str]]:
    """The indices and templates a run into `alias` creates (see es_index, state, dead
    letters, the run log and the run lock)."""
    aux = [state_index_name(alias), f"{alias}-deadletter", runs_index_name(alias),
           lock_index_name(alias)]
    return [first_index_name(alias), *aux], [alias, *aux]


def delete_alias(client: Any, alias: str) -> None:
    """Deletes what a run into `alias` made, by explicit names (wildcard deletes are refused)."""
    indices, templates = names_for(alias)
    client.indices.delete(index=",".join(indices), ignore_unavailable=True)
    quiet = client.options(ignore_status=404)
    for template in templates:
        quiet.indices.delete_index_template(name=template)


# --- reporting ------------------------------------------------------------------------

@dataclass
class Series:
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def spread(self) -> str:
        return f"{min(self.seconds):.2f}-{max(self.seconds):.2f}"


def machine(client: Any) -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import apache_beam
    import feedparser

    nodes = client.nodes.info(node_id="_local", metric="jvm")["nodes"]
    node = next(iter(nodes.values()))
    heap_mb = node["jvm"]["mem"]["heap_max_in_bytes"] // 2**20
    return {"cores": str(os.cpu_count()), "cpu": cpu,
            "python": platform.python_version(), "beam": apache_beam.__version__,
            "feedparser": feedparser.__version__, "elasticsearch": node["version"],
            "es_heap": f"{heap_mb} MB"}


def report(args: argparse.Namespace, info: dict[str, str], documents: Documents,
           parse: Series, bulk: Series, work: Series, run: Series, wall: Series,
           summaries: list[dict[str, Any]]) -> str:
    entries = documents.entries
    docs = len(documents.docs)
    budget = 2 * (parse.median + bulk.median)
    lines = [
        f"Machine: {info['cores']} cores, {info['cpu']}; Python {info['python']}, "
        f"Beam {info['beam']}, feedparser {info['feedparser']}, "
        f"Elasticsearch {info['elasticsearch']} (same machine, heap {info['es_heap']})",
        f"Corpus: {args.feeds} feeds x {args.entries} entries = {entries} entries "
        f"(seed {args.seed}); {entries - documents.irrelevant} relevant, "
        f"{documents.irrelevant} off-topic, {documents.duplicates} duplicates; "
        f"{docs} documents to index. Median of {args.repeat} runs. Beam options: "
        f"{' '.join(args.beam_args) or 'none (DirectRunner defaults)'}.",
        "",
        "| Measurement | Work | Median s | Range s | Throughput |",
        "|---|---|---:|---:|---:|",
        f"| (a) parse: `parse_feed` (feedparser), in-process "
        f"| {args.feeds} bodies, {entries} entries "
        f"| {parse.median:.2f} | {parse.spread()} | {entries / parse.median:,.0f} entries/s |",
        f"| (b) bulk create, batches of {BULK_SIZE}, no refresh | {docs} documents "
        f"| {bulk.median:.2f} | {bulk.spread()} | {docs / bulk.median:,.0f} docs/s |",
        f"| (a)+(b) | | {parse.median + bulk.median:.2f} | | "
        f"{entries / (parse.median + bulk.median):,.0f} entries/s |",
        f"| (d) normalize + relevance + `to_index_document`, in-process (not in the target) "
        f"| {entries} entries | {work.median:.2f} | {work.spread()} "
        f"| {entries / work.median:,.0f} entries/s |",
        f"| (c) `libya-watch run`, summary `seconds` (pipeline) | {args.feeds} feeds over HTTP "
        f"| {run.median:.2f} | {run.spread()} | {entries / run.median:,.0f} entries/s |",
        f"| (c) `libya-watch run`, process wall time | same, with start-up "
        f"| {wall.median:.2f} | {wall.spread()} | {entries / wall.median:,.0f} entries/s |",
        "",
    ]
    for label, value in (("pipeline seconds", run.median), ("wall time", wall.median)):
        verdict = "MET" if value <= budget else "MISSED"
        lines.append(f"Target time(c) <= 2 x (time(a) + time(b)) = {budget:.2f} s, "
                     f"with (c) as {label} {value:.2f} s: **{verdict}** "
                     f"(ratio {value / (parse.median + bulk.median):.1f}x, allowed 2.0x)")
    rest = run.median - parse.median - bulk.median - work.median
    lines += ["", f"Pipeline seconds not covered by (a)+(b)+(d): {rest:.2f} s "
              f"({rest / run.median:.0%}): fetching over HTTP, dedup look-ups, feed state, "
              f"and the runner itself (encoding between stages, grouping, start of the pipeline)."]
    stages = [s for s in STAGES if any(s in x["stage_seconds"] for x in summaries)]
    lines += ["", "Per-stage seconds from the run summary (time inside each stage's DoFns, "
              "summed; median per stage):", "",
              "| Stage | " + " | ".join(stages) + " | sum | pipeline |",
              "|---|" + "---:|" * (len(stages) + 2)]
    medians = {s: statistics.median(x["stage_seconds"].get(s, 0.0) for x in summaries)
               for s in stages}
    lines.append("| seconds | " + " | ".join(f"{medians[s]:.2f}" for s in stages)
                 + f" | {sum(medians.values()):.2f} | {run.median:.2f} |")
    counts = summaries[0]
    lines += ["", f"Run counters (first run): feeds ok {counts['feeds']['ok']}, failed "
              f"{counts['feeds']['failed']}; entries seen {counts['entries_seen']}, relevant "
              f"{counts['relevant']}, irrelevant {counts['irrelevant']}, duplicates in run "
              f"{counts['duplicates']['in_run']}, indexed {counts['indexed']}, index errors "
              f"{counts['errors']['index']}, dead letters {counts['errors']['dead_letters']}."]
    return "\n".join(lines)


def check_run(summary: dict[str, Any], args: argparse.Namespace, documents: Documents) -> None:
    """A run that did not see every entry or index every document measured something else."""
    problems = []
    if summary["feeds"]["ok"] != args.feeds:
        problems.append(f"{summary['feeds']['ok']} of {args.feeds} feeds fetched "
                        f"({summary['failed_feeds'][:1]})")
    if summary["entries_seen"] != documents.entries:
        problems.append(f"{summary['entries_seen']} of {documents.entries} entries seen")
    if summary["indexed"] != len(documents.docs):
        problems.append(f"{summary['indexed']} of {len(documents.docs)} documents indexed")
    if problems:
        raise SystemExit("bench_spine: the run did not do the whole job: " + "; ".join(problems))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Other options go to `libya-watch run` and so to Beam, "
               "e.g. --direct_num_workers=2 --direct_running_mode=multi_processing.")
    parser.add_argument("--feeds", type=int, default=200, help="feeds (default: %(default)s)")
    parser.add_argument("--entries", type=int, default=50,
                        help="entries per feed (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each measurement (default: %(default)s)")
    parser.add_argument("--es", default=os.environ.get("ES_URL", "http://127.0.0.1:9200"),
                        metavar="URL", help="Elasticsearch (default: $ES_URL, else %(default)s)")
    parser.add_argument("--seed", type=int, default=SEED, help="corpus seed (default: %(default)s)")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="also profile one in-process run with cProfile, print the top N")
    args, beam_args = parser.parse_known_args(argv)
    args.beam_args = beam_args
    for name in ("feeds", "entries", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def shown_python() -> str:
    """The interpreter as a reproduce command should show it: relative to the checkout."""
    python = Path(sys.executable)
    try:
        return str(python.relative_to(REPO))
    except ValueError:
        return "python"


def load_average() -> str:
    """The 1-minute load average: other work on a small machine skews every figure."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


def measure(args: argparse.Namespace, client: Any, fresh_alias: Callable[[str], str]) -> None:
    info = machine(client)
    print(f"load average before the run: {load_average()}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-spine-") as tmp:
        workdir = Path(tmp)
        corpus_dir = workdir / "feeds"
        corpus_dir.mkdir()
        print(f"generating {args.feeds} x {args.entries} entries ...", file=sys.stderr)
        corpus = write_corpus(corpus_dir, args.feeds, args.entries, args.seed)
        print(f"  {sum(p.stat().st_size for p in corpus) / 1e6:.1f} MB of RSS", file=sys.stderr)
        with serve_directory(corpus_dir) as base_url:
            bodies = [(f"{base_url}/{p.name}", p.read_bytes()) for p in corpus]
            feeds_file = workdir / "feeds.yaml"
            write_feeds_file(feeds_file, base_url, corpus)
            documents = build_documents(bodies, [f"Wire {i:03d}" for i in range(len(corpus))])

            # One untimed bulk first: a freshly started Elasticsearch is several times
            # slower until its JIT has warmed up, which would skew the first repeat.
            alias = fresh_alias("warmup")
            time_bulk(client, alias, documents.docs)
            delete_alias(client, alias)

            parse, bulk, work, run, wall = Series(), Series(), Series(), Series(), Series()
            summaries: list[dict[str, Any]] = []
            for k in range(1, args.repeat + 1):
                seconds, entries = time_parse(bodies)
                parse.seconds.append(seconds)
                print(f"[{k}] (a) parse {seconds:.2f} s ({entries} entries)", file=sys.stderr)

                work.seconds.append(time_transforms(documents.raw))
                print(f"[{k}] (d) normalize + relevance {work.seconds[-1]:.2f} s", file=sys.stderr)

                alias = fresh_alias(f"bulk{k}")
                bulk.seconds.append(time_bulk(client, alias, documents.docs))
                delete_alias(client, alias)
                print(f"[{k}] (b) bulk {bulk.seconds[-1]:.2f} s", file=sys.stderr)

                alias = fresh_alias(f"run{k}")
                result = time_run(feeds_file, args.es, alias, workdir / f"summary{k}.json",
                                  args.beam_args)
                delete_alias(client, alias)
                check_run(result.summary, args, documents)
                run.seconds.append(result.summary["seconds"])
                wall.seconds.append(result.wall)
                summaries.append(result.summary)
                print(f"[{k}] (c) run {result.summary['seconds']:.2f} s, wall {result.wall:.2f} s, "
                      f"stages {result.summary['stage_seconds']}", file=sys.stderr)

            print(report(args, info, documents, parse, bulk, work, run, wall, summaries))
            print(f"\nLoad average after the run: {load_average()}")
            if args.profile:
                alias = fresh_alias("profile")
                print("\ncProfile of one in-process run (pipeline.launch.run_pass):\n")
                print(profile_run(feeds_file, args.es, alias, args.profile, args.beam_args))
                delete_alias(client, alias)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    client = make_client(EsSettings(url=args.es))
    prefix = f"bench-spine-{uuid.uuid4().hex[:6]}"
    made: list[str] = []

    def fresh_alias(label: str) -> str:
        made.append(f"{prefix}-{label}")
        return made[-1]

    try:
        measure(args, client, fresh_alias)
    except (ApiError, TransportError) as exc:
        print(f"bench_spine: error: Elasticsearch at {args.es}: {' '.join(str(exc).split())}",
              file=sys.stderr)
        return 1
    finally:
        left = []
        for alias in made:
            try:
                delete_alias(client, alias)
            except (ApiError, TransportError):
                left.append(alias)
        if left:
            print(f"bench_spine: could not delete the indices and templates of "
                  f"{', '.join(left)} (see names_for)", file=sys.stderr)
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
