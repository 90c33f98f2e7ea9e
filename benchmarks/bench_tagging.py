"""Throughput of actor tagging + claim extraction alone, on one core, for ~400-word articles.

The articles are built from the development set (eval/dev_articles.jsonl):
consecutive articles of one language are joined until each text reaches
about 400 words, so the cues, actors and scripts are those the tagger meets
in real reports. Each article is tagged as the pipeline does it: actors on
title + text, then claims. The target is at least 200 articles/s.

    python benchmarks/bench_tagging.py [--words 400] [--articles 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transforms.actors import find_actor_mentions, load_gazetteer, tag_actors  # noqa: E402
from transforms.claims import extract_claims  # noqa: E402

DEV_ARTICLES = ROOT / "eval" / "dev_articles.jsonl"


def build_articles(words: int, count: int) -> list[dict[str, str]]:
    """`count` articles of about `words` words, cycling through the dev set by language."""
    by_language: dict[str, list[dict[str, str]]] = defaultdict(list)
    for line in DEV_ARTICLES.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        by_language[record["language"]].append(record)
    pools = [pool for _, pool in sorted(by_language.items())]
    articles: list[dict[str, str]] = []
    cursor = defaultdict(int)
    while len(articles) < count:
        for pool in pools:
            parts, title, language = [], None, pool[0]["language"]
            while sum(len(p.split()) for p in parts) < words:
                record = pool[cursor[language] % len(pool)]
                cursor[language] += 1
                title = title or record["title"]
                parts.append(record["text"])
            articles.append({"title": title, "text": "\n".join(parts), "language": language})
    return articles[:count]


def tag(article: dict[str, str]) -> int:
    title, text = article["title"], article["text"]
    tag_actors(title, text)
    mentions = find_actor_mentions(f"{title}\n{text}")
    return len(extract_claims(title, text, article["language"], mentions))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=400)
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    articles = build_articles(args.words, args.articles)
    mean_words = statistics.mean(len(a["text"].split()) for a in articles)
    load_gazetteer()
    tag(articles[0])  # warm the caches: automata are built once per process
    rates, claims = [], 0
    for _ in range(args.repeat):
        started = time.perf_counter()
        claims = sum(tag(article) for article in articles)
        rates.append(len(articles) / (time.perf_counter() - started))
    languages = sorted({a["language"] for a in articles})
    print(f"{len(articles)} articles ({', '.join(languages)}), {mean_words:.0f} words on average, "
          f"{claims} claims found per pass, one core, {args.repeat} passes")
    print(f"| actors + claims | median {statistics.median(rates):,.0f} articles/s "
          f"| range {min(rates):,.0f}-{max(rates):,.0f} | "
          f"{1000 / statistics.median(rates):.2f} ms per article |")
    target = 200
    verdict = "MET" if statistics.median(rates) >= target else "MISSED"
    print(f"target >= {target} articles/s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
