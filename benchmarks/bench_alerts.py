"""Benchmark of alert matching: `match_rules` over one run's documents in Elasticsearch.

It generates the documents of one run as the pipeline indexes them (a fixed
seed, so every run sees the same documents): news-wire stories from the
corpus of bench_spine.py, parsed, normalized and scored, then tagged with
the real actor and claim taggers (`actors`, `actor_ids`, `claims`,
`claim_keys`, `claim_types`, `claim_polarities`, `claim_countries`), and
grouped into stories: about one document in seven is a syndicated copy of an
earlier one (another outlet, another dateline, the same words otherwise),
with `story_id` and `duplicate_of` set, while the story heads carry
`story_outlets` and `story_size`. Every document has the same `run_id`.

They are bulk-created in batches of 500 into a fresh alias made by
`ensure_index` and the alias is refreshed; none of that is timed. It then
generates alert rules (Lucene query strings over title, text and
claim_keys: phrases, boolean operators, wildcards, proximity and fuzzy
terms; with `actors`, `claim_types`, `polarity` and `min_relevance`
filters, alone and together), checks them as a rules file is checked, and
times `match_rules(client, alias, rules, [run_id])`: one `_msearch` with
every rule, paged on for the rules with more than a page of hits, and the
alerts built from the hits. The first pass is reported on its own (cold
caches); the median of `--repeat` further passes is the result.

Every index and template it creates is deleted by explicit name at the end
(the local server refuses wildcard deletes).

    python benchmarks/bench_alerts.py [--docs 10000] [--rules 100] [--repeat 3] [--es URL]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, TransportError

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: the repository's packages, tests included
    sys.path.insert(0, str(REPO))

from benchmarks.bench_spine import (BASES, EQUIPMENT, PLACES, Series, build_documents,  # noqa: E402
                                    delete_alias, feed_items, load_average, machine,
                                    shown_python)
from connectors.alerting.matching import MAX_MATCHES_PER_RULE, PAGE_SIZE, match_rules  # noqa: E402
from connectors.alerting.model import Alert  # noqa: E402
from connectors.alerting.rules import Rule, alert_config_from  # noqa: E402
from connectors.errors import LibyaWatchError  # noqa: E402
from connectors.es_client import EsSettings, make_client  # noqa: E402
from connectors.es_documents import bulk_create  # noqa: E402
from connectors.es_index import ensure_index  # noqa: E402
from tests.feedfactory import rss  # noqa: E402
from transforms.actors import find_actor_mentions, load_gazetteer, tag_actors  # noqa: E402
from transforms.claims import claim_fields, extract_claims  # noqa: E402
from transforms.normalize import content_hash  # noqa: E402

__all__ = ["main"]

SEED = 20250302
BULK_SIZE = 500
ENTRIES_PER_FEED = 50
RUN_ID = "20250302T120000Z-bench0"
COPY_SHARE = 0.15  # documents that are syndicated copies of an earlier story
REPUBLISHERS = ("Libya Daily", "Maghreb Wire", "Desert Herald", "Mediterranean Monitor",
                "Sahel Post", "North Africa Today")

# --- the documents ---------------------------------------------------------------------


@dataclass
class Corpus:
    """The documents of one run, and what they hold."""

    docs: list[tuple[str, dict[str, Any]]]
    heads: int
    with_claims: int
    actor_ids: float  # mean per document


def _tagged(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with the fields the actor and claim taggers add, as the pipeline does."""
    title, text = doc["title"], doc["text"]
    actors, actor_ids = tag_actors(title, text)
    mentions = find_actor_mentions(f"{title}\n{text}")
    claims = extract_claims(title, text, doc["language"], mentions)
    return {**doc, "actors": actors, "actor_ids": actor_ids, **claim_fields(claims)}


def _copy_of(head: dict[str, Any], number: int, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """A republisher's copy of `head`: its own outlet, URL, dateline and time, the same words."""
    outlet = rng.choice(REPUBLISHERS)
    slug = outlet.lower().replace(" ", "")
    url = f"https://{slug}.example/libya/{head['id']}-{number}"
    _, _, body = head["text"].partition(" - ")  # the wire dateline goes
    text = f"{rng.choice(PLACES)} ({outlet}) - {body or head['text']}"
    published = datetime.fromisoformat(head["published"]) + timedelta(minutes=rng.randint(5, 600))
    doc_id = hashlib.sha1(url.encode()).hexdigest()[:24]
    return doc_id, {
        **head, "id": doc_id, "url": url, "text": text, "outlet": outlet,
        "feed_url": f"https://{slug}.example/rss",
        "published": published.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "content_hash": content_hash(text, head["title"]),
    }


def build_corpus(count: int, seed: int, progress: Callable[[str], None]) -> Corpus:
    """`count` documents of run `RUN_ID`: distinct stories first, then copies of some of them."""
    rng = random.Random(seed)
    wanted = count - int(count * COPY_SHARE)
    distinct: list[tuple[str, dict[str, Any]]] = []
    feed_no = 0
    while len(distinct) < wanted:
        feeds = max(1, math.ceil((wanted - len(distinct)) * 1.1 / ENTRIES_PER_FEED))
        bodies = [(f"https://wire{n:03d}.example/rss",
                   rss(feed_items(n, ENTRIES_PER_FEED, rng), title=f"Wire {n:03d}"))
                  for n in range(feed_no, feed_no + feeds)]
        distinct += build_documents(bodies, [f"Wire {n:03d}" for n in
                                             range(feed_no, feed_no + feeds)]).docs
        feed_no += feeds
    distinct = distinct[:wanted]
    progress(f"  {len(distinct)} distinct stories generated; tagging actors and claims ...")
    docs: list[tuple[str, dict[str, Any]]] = []
    for doc_id, doc in distinct:
        doc = _tagged(doc)
        doc.update(run_id=RUN_ID, story_id=doc_id, duplicate_of=None,
                   story_outlets=[doc["outlet"]], story_size=1)
        docs.append((doc_id, doc))
    heads = len(docs)
    for number in range(count - heads):
        head = docs[rng.randrange(heads)][1]
        doc_id, copy = _copy_of(head, number, rng)
        copy.update(story_id=head["id"], duplicate_of=head["id"])
        del copy["story_outlets"], copy["story_size"]  # only the head counts the story
        head["story_outlets"] = sorted({*head["story_outlets"], copy["outlet"]})
        head["story_size"] += 1
        docs.append((doc_id, copy))
    return Corpus(docs=docs, heads=heads,
                  with_claims=sum(1 for _, d in docs if d["claim_keys"]),
                  actor_ids=statistics.mean(len(d["actor_ids"]) for _, d in docs))


def index_corpus(client: Any, alias: str, docs: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Bulk-creates the documents into a fresh alias and refreshes it (untimed set-up)."""
    ensure_index(client, alias)
    created = 0
    for start in range(0, len(docs), BULK_SIZE):
        report = bulk_create(client, alias, docs[start:start + BULK_SIZE])
        if report.failed or report.existing:
            raise SystemExit(f"bench_alerts: bulk into '{alias}': {len(report.failed)} failed, "
                             f"{len(report.existing)} already there (first: {report.failed[:1]})")
        created += len(report.created)
    if created != len(docs):
        raise SystemExit(f"bench_alerts: bulk into '{alias}' created {created} of {len(docs)}")
    client.indices.refresh(index=alias)


# --- the rules -------------------------------------------------------------------------
# Terms the corpus uses, so that rules select some stories; filters on actor ids and
# claim countries the taggers find in it.

STATES = ("Russia", "Turkey", "United Arab Emirates", "Egypt", "Italy", "France", "Qatar")
STATE_IDS = {"Russia": "russia", "Turkey": "turkey", "United Arab Emirates": "uae",
             "Egypt": "egypt", "Italy": "italy", "France": "france", "Qatar": "qatar"}
FILTER_ACTORS = ("russia", "turkey", "uae", "egypt", "italy", "france", "qatar", "usa", "sudan",
                 "chad", "wagner_group", "africa_corps", "lna", "gnu", "khalifa_haftar",
                 "aguila_saleh", "fathi_bashagha", "saddam_haftar")
CLAIM_KEYS = ("russia:troops", "russia:weapons", "turkey:mercenaries", "turkey:troops",
              "egypt:troops", "uae:weapons", "italy:troops", "france:troops",
              "sudan:mercenaries", "qatar:weapons", "chad:mercenaries")
TITLE_STEMS = ("fortif", "clash", "cargo", "blockad", "ceasefire", "satellit", "delegat", "roadmap")
FUZZY = ("Pantsyr~1", "Bayraktr~1", "Hafter~1", "Misrat~1", "Benghazy~1", "Tobrok~1")


def _q(term: str) -> str:
    return f'"{term}"'


def _rule_templates() -> list[Callable[[random.Random], dict[str, Any]]]:
    """Kinds of rule an analyst writes: each draws its terms and filters from `rng`."""
    def phrase_and_place(rng: random.Random) -> dict[str, Any]:
        return {"query": f"text:{_q(rng.choice(EQUIPMENT))} AND text:{_q(rng.choice(PLACES))}"}

    def title_places_actors(rng: random.Random) -> dict[str, Any]:
        a, b = rng.sample(PLACES, 2)
        return {"query": f"title:({_q(a)} OR {_q(b)})", "actors": rng.sample(FILTER_ACTORS, 2)}

    def base_troops_asserted(rng: random.Random) -> dict[str, Any]:
        return {"query": f"text:{_q(rng.choice(BASES))} AND text:{_q(rng.choice(PLACES))}",
                "claim_types": ["troops"], "polarity": "asserted"}

    def wildcard_title(rng: random.Random) -> dict[str, Any]:
        return {"query": f"title:{rng.choice(TITLE_STEMS)}* AND text:{_q(rng.choice(PLACES))}"}

    def proximity(rng: random.Random) -> dict[str, Any]:
        state = rng.choice(STATES)
        return {"query": f'text:"{state} troops"~6 AND text:{_q(rng.choice(PLACES))}',
                "min_relevance": 0.9}

    def title_not_text(rng: random.Random) -> dict[str, Any]:
        a, b = rng.sample(PLACES, 2)
        return {"query": f"title:{_q(a)} AND NOT text:{_q(b)}"}

    def denial(rng: random.Random) -> dict[str, Any]:
        state = rng.choice(STATES)
        return {"query": f"text:{_q(state)} AND text:(denied OR denies) AND "
                         f"text:{_q(rng.choice(PLACES))}",
                "polarity": "denied"}

    def claim_key(rng: random.Random) -> dict[str, Any]:
        polarity = rng.choice(("asserted", "asserted", "denied"))
        key = f"{rng.choice(CLAIM_KEYS)}:{polarity}"
        return {"query": f"claim_keys:{_q(key)} AND text:{_q(rng.choice(PLACES))}"}

    def equipment_actor_weapons(rng: random.Random) -> dict[str, Any]:
        state = rng.choice(STATES)
        return {"query": f"text:{_q(rng.choice(EQUIPMENT))} AND text:{_q(rng.choice(BASES))}",
                "actors": [STATE_IDS[state]], "claim_types": ["weapons"]}

    def two_places_min_relevance(rng: random.Random) -> dict[str, Any]:
        a, b = rng.sample(PLACES, 2)
        return {"query": f"text:{_q(a)} AND text:{_q(b)}",
                "actors": [rng.choice(FILTER_ACTORS)], "min_relevance": 0.5}

    def multilingual_title(rng: random.Random) -> dict[str, Any]:
        return {"query": f"title:(Libya* OR Libye OR Libia OR ليبيا OR Ливия) AND "
                         f"title:{_q(rng.choice(PLACES))}"}

    def fuzzy(rng: random.Random) -> dict[str, Any]:
        return {"query": f"text:{rng.choice(FUZZY)} AND title:{_q(rng.choice(PLACES))}"}

    def mercenaries_asserted(rng: random.Random) -> dict[str, Any]:
        return {"query": f"(text:Wagner OR text:\"Africa Corps\" OR text:Syrian) AND "
                         f"text:{_q(rng.choice(BASES))}",
                "claim_types": ["mercenaries", "troops"], "polarity": "asserted",
                "min_relevance": 0.7}

    return [phrase_and_place, title_places_actors, base_troops_asserted, wildcard_title,
            proximity, title_not_text, denial, claim_key, equipment_actor_weapons,
            two_places_min_relevance, multilingual_title, fuzzy, mercenaries_asserted]


def build_rules(count: int, seed: int) -> tuple[Rule, ...]:
    """`count` different rules, every kind in turn, checked as a rules file is checked."""
    rng = random.Random(seed)
    templates = _rule_templates()
    raw: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number in range(count):
        template = templates[number % len(templates)]
        kind = template.__name__.replace("_", "-")
        for _ in range(100):  # draw again when the same rule came up before
            drawn = template(rng)
            if repr(sorted(drawn.items())) not in seen:
                break
        seen.add(repr(sorted(drawn.items())))
        raw.append({"id": f"r{number:03d}-{kind}", "name": f"Rule {number} ({kind})", **drawn})
    config = alert_config_from({"rules": raw, "notifiers": []}, source="generated rules",
                               base_dir=REPO)
    return config.rules


# --- the measurement -----------------------------------------------------------------------


def time_matching(client: Any, alias: str, rules: Sequence[Rule]) -> tuple[float, list[Alert]]:
    """Seconds for one `match_rules` over the run, and the alerts it made."""
    started = time.perf_counter()
    alerts = match_rules(client, alias, rules, [RUN_ID])
    return time.perf_counter() - started, alerts


def msearch_rounds(per_rule: Counter[str], rules: Sequence[Rule]) -> int:
    """`_msearch` calls the matching made: a rule is paged on while its page is full."""
    return max((per_rule[rule.id] // PAGE_SIZE + 1 for rule in rules), default=0)


def check_alerts(first: list[Alert], later: list[Alert]) -> None:
    """Every pass must find the same alerts, or the passes measured different work."""
    if sorted(a.id for a in first) != sorted(a.id for a in later):
        raise SystemExit("bench_alerts: two passes of match_rules gave different alerts")


def reproduce(args: argparse.Namespace) -> str:
    return (f"{shown_python()} benchmarks/bench_alerts.py --docs {args.docs} --rules {args.rules} "
            f"--repeat {args.repeat} --seed {args.seed} --es {args.es}")


def report(args: argparse.Namespace, info: dict[str, str], corpus: Corpus,
           rules: Sequence[Rule], cold: float, passes: Series, alerts: list[Alert]) -> str:
    docs = len(corpus.docs)
    per_rule = Counter(alert.rule_id for alert in alerts)
    counts = sorted(per_rule[rule.id] for rule in rules)
    filtered = sum(1 for r in rules
                   if r.actors or r.claim_types or r.polarity or r.min_relevance is not None)
    median = passes.median
    lines = [
        f"Machine: {info['cores']} cores, {info['cpu']}; Python {info['python']}, "
        f"Elasticsearch {info['elasticsearch']} (same machine, heap {info['es_heap']})",
        f"Documents: {docs} of one run (seed {args.seed}): {corpus.heads} story heads, "
        f"{docs - corpus.heads} syndicated copies (`duplicate_of` set); {corpus.with_claims} "
        f"with claims, {corpus.actor_ids:.1f} actor ids per document on average.",
        f"Rules: {len(rules)} ({filtered} with filters on actors, claim types, polarity or "
        f"relevance); a rule may match at most {MAX_MATCHES_PER_RULE} stories.",
        "",
        "| Measurement | Work | Median s | Range s | Documents/s | Rules/s | Matches |",
        "|---|---|---:|---:|---:|---:|---:|",
        f"| `match_rules`, first pass (cold) | {docs} documents x {len(rules)} rules "
        f"| {cold:.3f} | | {docs / cold:,.0f} | {len(rules) / cold:,.0f} | {len(alerts)} |",
        f"| `match_rules`, median of {args.repeat} further passes "
        f"| {docs} documents x {len(rules)} rules | {median:.3f} | "
        f"{min(passes.seconds):.3f}-{max(passes.seconds):.3f} | {docs / median:,.0f} "
        f"| {len(rules) / median:,.0f} | {len(alerts)} |",
        "",
        f"Matches per rule (story heads of the run): min {counts[0]}, median "
        f"{statistics.median(counts):g}, max {counts[-1]}; {counts.count(0)} rules match "
        f"nothing. `_msearch` calls per pass: {msearch_rounds(per_rule, rules)} "
        f"({PAGE_SIZE} hits per rule and page), plus one `_field_caps`.",
        "",
        f"Reproduce: `{reproduce(args)}`",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000,
                        help="documents of the run (default: %(default)s)")
    parser.add_argument("--rules", type=int, default=100, help="alert rules (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed passes after the first (default: %(default)s)")
    parser.add_argument("--es", default=os.environ.get("ES_URL", "http://127.0.0.1:9200"),
                        metavar="URL", help="Elasticsearch (default: $ES_URL, else %(default)s)")
    parser.add_argument("--seed", type=int, default=SEED,
                        help="documents and rules seed (default: %(default)s)")
    args = parser.parse_args(argv)
    for name in ("docs", "rules", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def measure(args: argparse.Namespace, client: Any, alias: str) -> None:
    def progress(message: str) -> None:
        print(message, file=sys.stderr)

    info = machine(client)
    progress(f"load average before the run: {load_average()}")
    progress(f"generating {args.docs} documents ...")
    load_gazetteer()
    started = time.perf_counter()
    corpus = build_corpus(args.docs, args.seed, progress)
    progress(f"  done in {time.perf_counter() - started:.1f} s; indexing into '{alias}' ...")
    started = time.perf_counter()
    index_corpus(client, alias, corpus.docs)
    progress(f"  indexed in {time.perf_counter() - started:.1f} s")
    rules = build_rules(args.rules, args.seed)

    cold, alerts = time_matching(client, alias, rules)
    progress(f"[0] match_rules {cold:.3f} s (first pass), {len(alerts)} alerts")
    passes = Series()
    for k in range(1, args.repeat + 1):
        seconds, again = time_matching(client, alias, rules)
        check_alerts(alerts, again)
        passes.seconds.append(seconds)
        progress(f"[{k}] match_rules {seconds:.3f} s")

    print(report(args, info, corpus, rules, cold, passes, alerts))
    print(f"\nLoad average after the run: {load_average()}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    client = make_client(EsSettings(url=args.es))
    alias = f"bench-alerts-{uuid.uuid4().hex[:6]}"
    try:
        measure(args, client, alias)
    except (ApiError, TransportError, LibyaWatchError) as exc:
        print(f"bench_alerts: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    finally:
        try:
            delete_alias(client, alias)
        except (ApiError, TransportError):
            print(f"bench_alerts: could not delete the index and template of '{alias}'",
                  file=sys.stderr)
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
