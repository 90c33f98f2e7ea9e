"""Load benchmark: throughput, per-stage time and peak memory of `libya-watch run` at scale.

Two inputs, generated from the news-wire corpus of `bench_spine.py` (a fixed
seed, so every run sees the same bytes):

  feeds  `--feeds` RSS feeds of `--entries` items each, served from a threaded
         HTTP server on 127.0.0.1, read with `libya-watch run --feeds`;
  jsonl  a JSON-lines backfill of `--articles` articles (id, title, text, url,
         published, outlet), read with `libya-watch run --input FILE.jsonl`.

Each input runs on each runner: `local` (the default runner) and `flink`
(`--runner FlinkRunner --flink_master=[local] --environment_type=LOOPBACK
--parallelism=2`, on the installed job server), at every multiple of the base
size in `--scales` (feeds scale the number of feeds, entries per feed stay
fixed), so the report shows whether memory stays flat when the input grows.

Every run is one `libya-watch run --summary-json` subprocess into a fresh
alias. Reported per run: entries seen and indexed (from the summary),
entries/s over the process wall time and over the summary's `seconds` (the
pass itself), the per-stage seconds of the summary, and peak memory: the
resident set of the whole process tree (the CLI and every descendant, such as
Flink's job-server JVM), summed over the tree at each sample every 0.5 s from
/proc, maximum over the run; and, as a cross-check, the kernel's `ru_maxrss`
for the run (`os.wait4`, the figure `getrusage(RUSAGE_CHILDREN)` keeps, but
for this run alone): the largest single process among the CLI and the
descendants it waited for. The Elasticsearch server is not in the tree.

Runs go one after another, never two at once. Every index and template a run
creates is deleted by explicit name after it (the local server refuses
wildcard deletes), and so are the temporary files.

    python benchmarks/bench_load.py [--feeds 2000] [--entries 50] [--articles 100000]
                                    [--scales 1,2] [--runners local,flink]
                                    [--inputs feeds,jsonl] [--no-tag] [--es URL]
                                    [BEAM OPTIONS, passed on to every `libya-watch run`]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: the repository's packages, tests included
    sys.path.insert(0, str(REPO))

from elasticsearch import ApiError, TransportError  # noqa: E402

from bench_spine import (  # noqa: E402
    SEED, STAGES, _cli, feed_items, load_average, machine, shown_python, write_corpus,
    write_feeds_file,
)
from connectors.es_client import EsSettings, make_client  # noqa: E402
from pipeline.demo import serve_directory  # noqa: E402
from tests.conftest import delete_everything_named  # noqa: E402

__all__ = ["main"]

RUNNERS = {
    "local": (),
    "flink": ("--runner", "FlinkRunner", "--flink_master=[local]",
              "--environment_type=LOOPBACK", "--parallelism=2"),
}
INPUTS = ("feeds", "jsonl")
SAMPLE_SECONDS = 0.5
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_TAGS = re.compile(r"<[^>]+>")


# --- the inputs ---------------------------------------------------------------------

def scaled(base: int, scale: float) -> int:
    return max(1, round(base * scale))


def article_records(count: int, per_outlet: int, seed: int) -> Iterator[dict[str, str]]:
    """`count` backfill records from the wire generator, `per_outlet` stories per outlet.

    The first n records are the same for every `count` >= n, so the scales of
    one benchmark are prefixes of each other, as the feeds are.
    """
    rng = random.Random(seed)
    outlet = 0
    made = 0
    while made < count:
        for item in feed_items(outlet, per_outlet, rng):
            if made == count:
                return
            paragraphs = item["body"].replace("</p><p>", "\n\n")
            yield {"id": f"wire{outlet:04d}-{made:07d}", "title": item["title"],
                   "text": _TAGS.sub("", paragraphs), "url": item["link"],
                   "published": item["published"], "outlet": f"Wire {outlet:03d}"}
            made += 1
        outlet += 1


def write_jsonl_files(directory: Path, counts: Sequence[int], per_outlet: int,
                      seed: int) -> dict[int, Path]:
    """One JSON-lines file per count, written in one pass over the generator."""
    paths = {n: directory / f"articles-{n}.jsonl" for n in sorted(set(counts))}
    with ExitStack() as stack:
        files = {n: stack.enter_context(path.open("w", encoding="utf-8"))
                 for n, path in paths.items()}
        for i, record in enumerate(article_records(max(paths), per_outlet, seed)):
            line = json.dumps(record, ensure_ascii=False) + "\n"
            for n, handle in files.items():
                if i < n:
                    handle.write(line)
    return paths


# --- memory of a process tree -------------------------------------------------------

def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, resident pages, command name) for every process in /proc."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:  # gone since the listing
            continue
        name = raw[raw.find("(") + 1:raw.rfind(")")]
        fields = raw[raw.rfind(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[21]), name)
    return table


def tree_rss(root: int) -> dict[int, tuple[str, float]]:
    """pid -> (command, RSS in MB) for `root` and all its descendants now."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in table and pid not in found:
            found[pid] = (table[pid][2], table[pid][1] * PAGE_SIZE / 2**20)
            todo.extend(children.get(pid, ()))
    return found


@dataclass
class MemoryPeak:
    """The largest sum of RSS over the tree seen in any sample, and what it was made of."""

    mb: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    seen: dict[int, str] = field(default_factory=dict)  # every pid of the tree, and its name

    def add(self, tree: dict[int, tuple[str, float]]) -> None:
        self.samples += 1
        self.seen.update((pid, name) for pid, (name, _) in tree.items())
        total = sum(mb for _, mb in tree.values())
        if total > self.mb:
            parts: dict[str, float] = {}
            for name, mb in tree.values():
                parts[name] = parts.get(name, 0.0) + mb
            self.mb, self.parts = total, parts

    def describe(self) -> str:
        top = sorted(self.parts.items(), key=lambda kv: -kv[1])
        return " + ".join(f"{name} {mb:.0f}" for name, mb in top if mb >= 1)


# --- one run ------------------------------------------------------------------------

@dataclass
class Config:
    runner: str
    input: str
    scale: float
    size: int  # entries (feeds x entries) or articles
    feeds: int = 0  # feeds input only

    @property
    def label(self) -> str:
        return f"{self.runner}, {self.input}, x{self.scale:g}"

    def size_text(self) -> str:
        if self.input == "feeds":
            return f"{self.feeds:,} feeds x {self.size // self.feeds} = {self.size:,}"
        return f"{self.size:,} articles"


@dataclass
class Outcome:
    config: Config
    wall: float
    exit_code: int
    summary: dict[str, Any] | None
    peak: MemoryPeak
    maxrss_mb: float
    load_before: str
    load_after: str
    error: str = ""
    left_running: list[str] = field(default_factory=list)
    exit_lag: float = 0.0  # seconds the last descendant lived on after the run

    @property
    def entries_seen(self) -> int:
        return self.summary["entries_seen"] if self.summary else 0

    @property
    def stages(self) -> dict[str, float]:
        return self.summary.get("stage_seconds", {}) if self.summary else {}


def run_once(command: Sequence[str], workdir: Path) -> tuple[int, float, MemoryPeak, float, str]:
    """Runs `command`, sampling its process tree every 0.5 s until it exits.

    Returns exit code, wall seconds, the memory peak, ru_maxrss of the run in
    MB, and the last line of its error output.
    """
    err_path = workdir / "stderr.txt"
    peak = MemoryPeak()
    with err_path.open("w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak.add(tree_rss(proc.pid))
            time.sleep(SAMPLE_SECONDS)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait
    lines = err_path.read_text(errors="replace").strip().splitlines() or ["no output"]
    ours = [line for line in lines if line.startswith("libya-watch:")]
    # Linux reports ru_maxrss in KiB.
    return proc.returncode, wall, peak, usage.ru_maxrss / 1024, (ours or lines)[-1]


# Beam stops the Flink job server it started by signal at interpreter exit and
# does not wait for it: the JVM ends a moment after the CLI. Only what outlives
# this grace period counts as left behind.
EXIT_GRACE_SECONDS = 10.0


def _alive(seen: dict[int, str]) -> list[str]:
    alive = []
    for pid, name in sorted(seen.items()):
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if raw[raw.find("(") + 1:raw.rfind(")")] == name:  # not a new process on a reused pid
            alive.append(f"{name} (pid {pid})")
    return alive


def still_running(seen: dict[int, str]) -> tuple[list[str], float]:
    """Descendants seen during the run that outlived it by the grace period (a job server
    left behind, say), and how long after the run the last of the others ended."""
    started = time.perf_counter()
    while True:
        alive = _alive(seen)
        waited = time.perf_counter() - started
        if not alive or waited >= EXIT_GRACE_SECONDS:
            return alive, waited
        time.sleep(0.1)


def measure_config(config: Config, source: list[str], args: argparse.Namespace, alias: str,
                   workdir: Path) -> Outcome:
    summary_path = workdir / "summary.json"
    summary_path.unlink(missing_ok=True)
    beam = [*RUNNERS[config.runner], *(["--no-tag"] if args.no_tag else []), *args.beam_args]
    command = [*_cli(), "run", *source, "--es", args.es, "--index", alias,
               "--summary-json", str(summary_path), *beam]
    before = load_average()
    code, wall, peak, maxrss, last = run_once(command, workdir)
    summary = (json.loads(summary_path.read_text(encoding="utf-8"))
               if code == 0 and summary_path.exists() else None)
    outcome = Outcome(config=config, wall=wall, exit_code=code, summary=summary, peak=peak,
                      maxrss_mb=maxrss, load_before=before, load_after=load_average())
    outcome.left_running, outcome.exit_lag = still_running(peak.seen)
    outcome.error = check(outcome, last)
    return outcome


def check(outcome: Outcome, last_line: str) -> str:
    """Why the run did not do the whole job ('' if it did): it then measured something else."""
    config, summary = outcome.config, outcome.summary
    if outcome.exit_code != 0:
        return f"exited {outcome.exit_code}: {last_line}"
    if summary is None:
        return "no summary written"
    problems = []
    if config.input == "feeds" and summary["feeds"]["ok"] != config.feeds:
        problems.append(f"{summary['feeds']['ok']} of {config.feeds} feeds fetched")
    if summary["entries_seen"] != config.size:
        problems.append(f"{summary['entries_seen']} of {config.size} entries seen")
    if summary["errors"]["index"] or summary["errors"]["dead_letters"]:
        problems.append(f"{summary['errors']['index']} index errors, "
                        f"{summary['errors']['dead_letters']} dead letters")
    if outcome.left_running:
        problems.append(f"still running {EXIT_GRACE_SECONDS:g} s after the run: "
                        f"{', '.join(outcome.left_running)}")
    return "; ".join(problems)


# --- reporting ----------------------------------------------------------------------

def _rate(entries: int, seconds: float) -> str:
    return f"{entries / seconds:,.0f}" if entries and seconds > 0 else "-"


def slowest(stages: dict[str, float]) -> str:
    if not stages:
        return "-"
    name = max(stages, key=stages.get)
    return f"{name} {stages[name]:.1f}"


def results_table(outcomes: Sequence[Outcome]) -> list[str]:
    lines = [
        "| Configuration | Input | Entries seen | Indexed | Wall s | Pass s | Entries/s (wall) "
        "| Entries/s (pass) | Peak RSS MB (tree) | ru_maxrss MB | Slowest stage, s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for o in outcomes:
        s = o.summary or {}
        seconds = s.get("seconds", 0.0)
        mark = " (!)" if o.error else ""
        lines.append(
            f"| {o.config.label}{mark} | {o.config.size_text()} | {o.entries_seen:,} "
            f"| {s.get('indexed', 0):,} | {o.wall:.1f} | {seconds:.1f} "
            f"| {_rate(o.entries_seen, o.wall)} | {_rate(o.entries_seen, seconds)} "
            f"| {o.peak.mb:,.0f} | {o.maxrss_mb:,.0f} | {slowest(o.stages)} |")
    return lines


def stage_table(outcomes: Sequence[Outcome]) -> list[str]:
    stages = [s for s in STAGES if any(s in o.stages for o in outcomes)]
    lines = ["| Configuration | " + " | ".join(stages) + " | sum | pass s |",
             "|---|" + "---:|" * (len(stages) + 2)]
    for o in outcomes:
        cells = [f"{o.stages[s]:.1f}" if s in o.stages else "-" for s in stages]
        seconds = (o.summary or {}).get("seconds", 0.0)
        lines.append(f"| {o.config.label} | " + " | ".join(cells)
                     + f" | {sum(o.stages.values()):.1f} | {seconds:.1f} |")
    return lines


def scaling_lines(outcomes: Sequence[Outcome]) -> list[str]:
    """Per runner and input: how peak memory and throughput moved from the smallest scale."""
    lines = []
    groups: dict[tuple[str, str], list[Outcome]] = {}
    for o in outcomes:
        if not o.error:
            groups.setdefault((o.config.runner, o.config.input), []).append(o)
    for (runner, kind), group in groups.items():
        group.sort(key=lambda o: o.config.scale)
        first = group[0]
        base_rate = first.entries_seen / first.wall
        for o in group[1:]:
            memory = f"x{o.peak.mb / first.peak.mb:.2f}" if first.peak.mb else "-"
            lines.append(
                f"- {runner}, {kind}: input x{o.config.size / first.config.size:.2f} "
                f"({first.config.size:,} -> {o.config.size:,}): peak tree RSS {memory} "
                f"({first.peak.mb:,.0f} -> {o.peak.mb:,.0f} MB), entries/s over wall time "
                f"x{(o.entries_seen / o.wall) / base_rate:.2f}")
    return lines


def reproduce(args: argparse.Namespace) -> str:
    parts = [shown_python(), "benchmarks/bench_load.py", f"--feeds {args.feeds}",
             f"--entries {args.entries}", f"--articles {args.articles}",
             f"--scales {','.join(f'{s:g}' for s in args.scales)}",
             f"--runners {','.join(args.runners)}", f"--inputs {','.join(args.inputs)}"]
    if args.seed != SEED:
        parts.append(f"--seed {args.seed}")
    if args.no_tag:
        parts.append("--no-tag")
    return " ".join(parts + list(args.beam_args))


def report(args: argparse.Namespace, info: dict[str, str], outcomes: Sequence[Outcome],
           load_before: str, load_after: str, corpus_note: str) -> str:
    lines = [
        f"Machine: {info['cores']} cores, {info['cpu']}; Python {info['python']}, "
        f"Beam {info['beam']}, Elasticsearch {info['elasticsearch']} "
        f"(same machine, heap {info['es_heap']}, not in the memory figures)",
        f"Corpus: {corpus_note}; seed {args.seed}. Tagging: "
        f"{'off (--no-tag)' if args.no_tag else 'on'}. Extra Beam options: "
        f"{' '.join(args.beam_args) or 'none'}. flink = "
        f"`{' '.join(RUNNERS['flink'])}`.",
        "",
        *results_table(outcomes),
        "",
        "Wall s: the `libya-watch run` process, start-up and index set-up included; pass s: "
        "the summary's `seconds`. Peak RSS (tree): the largest sum of resident memory over the "
        "CLI process and all its descendants, sampled every 0.5 s; ru_maxrss: the largest "
        "single process of the run, by the kernel.",
        "",
        "Peak memory made of (MB, at the peak sample):",
        "",
        *[f"- {o.config.label}: {o.peak.describe() or 'no sample'} "
          f"({o.peak.samples} samples)"
          + (f"; its last child ended {o.exit_lag:.1f} s after it" if o.exit_lag >= 0.1 else "")
          for o in outcomes],
    ]
    scaling = scaling_lines(outcomes)
    if scaling:
        lines += ["", "Scaling (peak memory should stay flat, throughput should hold):", "",
                  *scaling]
    lines += ["", "Per-stage seconds from the run summary (time inside each stage's DoFns, "
              "summed over workers):", "", *stage_table(outcomes)]
    failed = [o for o in outcomes if o.error]
    if failed:
        lines += ["", "(!) Runs that did not do the whole job (their figures measure "
                  "something else):", ""]
        lines += [f"- {o.config.label}: {o.error}" for o in failed]
    lines += ["", f"Load average (1 min) before: {load_before}, after: {load_after}; per run: "
              + ", ".join(f"{o.config.label} {o.load_before}->{o.load_after}" for o in outcomes),
              "", f"Reproduce: `{reproduce(args)}`"]
    return "\n".join(lines)


# --- the benchmark ------------------------------------------------------------------

def _csv(kind: Callable[[str], Any], allowed: Sequence[str] | None = None):
    def parse(value: str) -> list[Any]:
        items = [v.strip() for v in value.split(",") if v.strip()]
        if not items:
            raise argparse.ArgumentTypeError("expected a comma-separated list")
        if allowed is not None:
            wrong = [v for v in items if v not in allowed]
            if wrong:
                raise argparse.ArgumentTypeError(
                    f"unknown {', '.join(wrong)} (choose from {', '.join(allowed)})")
        try:
            result = [kind(v) for v in items]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc
        return list(dict.fromkeys(result))
    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Other options go to every `libya-watch run` and so to Beam. The default "
               "sizes (100,000 entries per input, at x1 and x2, on both runners) take "
               "hours on 2 cores; shrink --feeds/--articles to try it out.")
    parser.add_argument("--feeds", type=int, default=2000,
                        help="feeds of the feeds input at scale 1 (default: %(default)s)")
    parser.add_argument("--entries", type=int, default=50,
                        help="entries per feed, also stories per outlet of the JSON-lines "
                             "input (default: %(default)s)")
    parser.add_argument("--articles", type=int, default=100_000,
                        help="articles of the JSON-lines input at scale 1 (default: %(default)s)")
    parser.add_argument("--scales", type=_csv(float), default=[1.0, 2.0], metavar="X,Y",
                        help="multiples of the base sizes to run (default: 1,2)")
    parser.add_argument("--runners", type=_csv(str, tuple(RUNNERS)), default=list(RUNNERS),
                        metavar="R,S", help="local and/or flink (default: local,flink)")
    parser.add_argument("--inputs", type=_csv(str, INPUTS), default=list(INPUTS),
                        metavar="I,J", help="feeds and/or jsonl (default: feeds,jsonl)")
    parser.add_argument("--no-tag", action="store_true",
                        help="pass --no-tag to `libya-watch run` (no actor or claim tagging)")
    parser.add_argument("--es", default=os.environ.get("ES_URL", "http://127.0.0.1:9200"),
                        metavar="URL", help="Elasticsearch (default: $ES_URL, else %(default)s)")
    parser.add_argument("--seed", type=int, default=SEED, help="corpus seed (default: %(default)s)")
    args, beam_args = parser.parse_known_args(argv)
    args.beam_args = beam_args
    for name in ("feeds", "entries", "articles"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if any(s <= 0 for s in args.scales):
        parser.error("--scales must be positive")
    if args.entries > 999:
        parser.error("--entries must be at most 999 (the generator's links number entries "
                     "with three digits)")
    return args


@contextmanager
def feeds_input(args: argparse.Namespace, workdir: Path) -> Iterator[dict[float, list[str]]]:
    """The served corpus, and per scale the `run` arguments reading the first n feeds."""
    corpus_dir = workdir / "feeds"
    corpus_dir.mkdir()
    counts = {s: scaled(args.feeds, s) for s in args.scales}
    print(f"generating {max(counts.values())} feeds x {args.entries} entries ...", file=sys.stderr)
    corpus = write_corpus(corpus_dir, max(counts.values()), args.entries, args.seed)
    print(f"  {sum(p.stat().st_size for p in corpus) / 1e6:.1f} MB of RSS", file=sys.stderr)
    with serve_directory(corpus_dir) as base_url:
        sources = {}
        for scale, n in counts.items():
            path = workdir / f"feeds-{n}.yaml"
            write_feeds_file(path, base_url, corpus[:n])
            sources[scale] = ["--feeds", str(path)]
        yield sources


def jsonl_input(args: argparse.Namespace, workdir: Path) -> dict[float, list[str]]:
    counts = {s: scaled(args.articles, s) for s in args.scales}
    print(f"generating {max(counts.values())} articles as JSON lines ...", file=sys.stderr)
    paths = write_jsonl_files(workdir, list(counts.values()), args.entries, args.seed)
    print(f"  {paths[max(paths)].stat().st_size / 1e6:.1f} MB for the largest", file=sys.stderr)
    return {s: ["--input", str(paths[n])] for s, n in counts.items()}


def measure(args: argparse.Namespace, client: Any, fresh_alias: Callable[[], str]) -> int:
    info = machine(client)
    load_before = load_average()
    print(f"load average before: {load_before}", file=sys.stderr)
    outcomes: list[Outcome] = []
    notes = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        plans: list[tuple[Config, list[str]]] = []
        for kind in args.inputs:
            if kind == "feeds":
                sources = stack.enter_context(feeds_input(args, workdir))
                notes.append(f"feeds: {args.feeds} feeds x {args.entries} entries at x1")
            else:
                sources = jsonl_input(args, workdir)
                notes.append(f"jsonl: {args.articles} articles at x1")
            for runner in args.runners:
                for scale in args.scales:
                    if kind == "feeds":
                        n = scaled(args.feeds, scale)
                        config = Config(runner, kind, scale, n * args.entries, feeds=n)
                    else:
                        config = Config(runner, kind, scale, scaled(args.articles, scale))
                    plans.append((config, sources[scale]))
        for k, (config, source) in enumerate(plans, 1):
            alias = fresh_alias()
            print(f"[{k}/{len(plans)}] {config.label}: {config.size_text()} ...", file=sys.stderr)
            outcome = measure_config(config, source, args, alias, workdir)
            delete_everything_named(client, alias)
            outcomes.append(outcome)
            s = outcome.summary or {}
            print(f"  wall {outcome.wall:.1f} s, pass {s.get('seconds', 0):.1f} s, "
                  f"seen {outcome.entries_seen}, indexed {s.get('indexed', 0)}, peak tree "
                  f"{outcome.peak.mb:.0f} MB, ru_maxrss {outcome.maxrss_mb:.0f} MB, load "
                  f"{outcome.load_before}->{outcome.load_after}"
                  + (f"; PROBLEM: {outcome.error}" if outcome.error else ""), file=sys.stderr)
    print(report(args, info, outcomes, load_before, load_average(), "; ".join(notes)))
    return 1 if any(o.error for o in outcomes) else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # One line when Elasticsearch goes away, not a traceback per retry.
    logging.getLogger("elastic_transport").setLevel(logging.ERROR)
    client = make_client(EsSettings(url=args.es))
    prefix = f"bench-load-{uuid.uuid4().hex[:6]}"
    made: list[str] = []

    def fresh_alias() -> str:
        made.append(f"{prefix}-{len(made) + 1:03d}")
        return made[-1]

    try:
        return measure(args, client, fresh_alias)
    except (ApiError, TransportError) as exc:
        print(f"bench_load: error: Elasticsearch at {args.es}: {' '.join(str(exc).split())}",
              file=sys.stderr)
        return 1
    finally:
        try:
            delete_everything_named(client, prefix)  # whatever an interrupted run left
        except (ApiError, TransportError) as exc:
            print(f"bench_load: could not delete the indices and templates named {prefix}*: "
                  f"{exc}", file=sys.stderr)
        client.close()


if __name__ == "__main__":
    sys.exit(main())
