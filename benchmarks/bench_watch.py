"""Benchmark of `libya-watch watch`: alert latency, and what an idle watcher costs.

  (1) Latency: one watcher (`--interval 5` by default) polls a feed served on
      127.0.0.1; items are added one at a time, each at a random moment of the
      poll cycle, and the time from the item appearing in the feed to its
      alert line appearing in the `--alerts-out` file is measured. p50, p95
      and max over `--items` items.
  (2) Idle cost: a second watcher polls `--idle-feeds` feeds that never
      change (each answers 304) for `--idle-seconds`; its CPU time and
      resident memory are read from /proc every few seconds, and so is the
      local Elasticsearch's CPU time, since the watcher's queries cost the
      cluster something too.

Both watchers run as subprocesses exactly as a user starts them, with the
packaged alert rules. Everything created in Elasticsearch (`bench-watch-<id>-*`)
is deleted by name at the end.

    python benchmarks/bench_watch.py [--interval 5] [--items 20] [--idle-feeds 100]
                                     [--idle-seconds 300] [--es URL]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: the repository's packages, tests included
    sys.path.insert(0, str(REPO))

from bench_spine import load_average, shown_python  # noqa: E402
from connectors.es_client import EsSettings, make_client  # noqa: E402
from tests.conftest import delete_everything_named  # noqa: E402
from tests.feedserver import FeedServer  # noqa: E402
from tests.livefeed import LiveFeed, wagner_item  # noqa: E402

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE_SIZE / 2**20


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def write_feeds(path: Path, urls: list[str]) -> Path:
    path.write_text("settings:\n  timeout: 20\n  per_host: 4\nfeeds:\n"
                    + "".join(f"  - url: {url}\n" for url in urls), encoding="utf-8")
    return path


def start_watcher(feeds: Path, es: str, alias: str, interval: float, alerts_out: Path,
                  log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "pipeline.cli", "--log-format", "json", "watch",
               "--feeds", str(feeds), "--es", es, "--index", alias,
               "--interval", f"{interval:g}", "--alerts-out", str(alerts_out)]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=log.open("w"))


def stop_watcher(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()


def alerted(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {json.loads(line)["url"] for line in path.read_text().splitlines() if line.strip()}


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def measure_latency(args: argparse.Namespace, workdir: Path, alias: str) -> list[float]:
    rng = random.Random(args.seed)
    live = LiveFeed([wagner_item(0)])
    alerts_out = workdir / "latency-alerts.jsonl"
    with FeedServer() as server:
        feeds = write_feeds(workdir / "latency.yaml", [server.route("/live.xml", live)])
        watcher = start_watcher(feeds, args.es, alias, args.interval, alerts_out,
                                workdir / "latency.log")
        try:
            if not wait_until(lambda: wagner_item(0)["link"] in alerted(alerts_out), 180):
                raise SystemExit(f"the watcher never alerted; see {workdir / 'latency.log'}")
            latencies = []
            for number in range(1, args.items + 1):
                time.sleep(rng.uniform(0, args.interval))  # a random phase of the poll cycle
                item = wagner_item(number)
                live.add(item)
                if not wait_until(lambda: item["link"] in alerted(alerts_out), 120):
                    raise SystemExit(f"item {number} was never alerted")
                latencies.append(time.monotonic() - live.added_at[item["link"]])
                print(f"  item {number}: {latencies[-1]:.2f} s", file=sys.stderr)
        finally:
            stop_watcher(watcher)
    return latencies


def es_pid() -> int | None:
    from connectors import es_local
    status = es_local.status()
    return status.pid if status.running else None


def cluster_baseline(seconds: float) -> float:
    """Elasticsearch's own CPU with no watcher running (% of one core), to set its share apart."""
    cluster = es_pid()
    if not cluster or seconds <= 0:
        return float("nan")
    start = cpu_seconds(cluster)
    time.sleep(seconds)
    return 100 * (cpu_seconds(cluster) - start) / seconds


def measure_idle(args: argparse.Namespace, workdir: Path, alias: str) -> dict[str, float]:
    feeds_live = [LiveFeed([wagner_item(1000 + i)]) for i in range(args.idle_feeds)]
    with FeedServer() as server:
        urls = [server.route(f"/idle-{i}.xml", feed) for i, feed in enumerate(feeds_live)]
        feeds = write_feeds(workdir / "idle.yaml", urls)
        watcher = start_watcher(feeds, args.es, alias, args.interval, workdir / "idle-alerts.jsonl",
                                workdir / "idle.log")
        try:
            # The first pass indexes every feed once; idle starts when every feed answers 304.
            if not wait_until(lambda: len(server.requests()) >= 2 * args.idle_feeds, 600):
                raise SystemExit(f"the watcher did not poll twice; see {workdir / 'idle.log'}")
            time.sleep(args.interval)
            requests_before = len(server.requests())
            cluster = es_pid()
            start_cpu, start_wall = cpu_seconds(watcher.pid), time.monotonic()
            start_es = cpu_seconds(cluster) if cluster else None
            rss = [rss_mb(watcher.pid)]
            while time.monotonic() - start_wall < args.idle_seconds:
                time.sleep(5)
                rss.append(rss_mb(watcher.pid))
            wall = time.monotonic() - start_wall
            cpu = cpu_seconds(watcher.pid) - start_cpu
            es_cpu = cpu_seconds(cluster) - start_es if cluster else float("nan")
            polls = len(server.requests()) - requests_before
        finally:
            stop_watcher(watcher)
    return {"wall": wall, "cpu": cpu, "cpu_pct": 100 * cpu / wall, "es_cpu_pct": 100 * es_cpu / wall,
            "rss_start": rss[0], "rss_max": max(rss), "rss_end": rss[-1], "polls": polls}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--idle-feeds", type=int, default=100)
    parser.add_argument("--idle-seconds", type=float, default=300.0)
    parser.add_argument("--baseline-seconds", type=float, default=60.0,
                        help="Elasticsearch's CPU measured this long with no watcher first")
    parser.add_argument("--es", default=os.environ.get("ES_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    prefix = f"bench-watch-{uuid.uuid4().hex[:8]}"
    client = make_client(EsSettings.from_flags(url=args.es))
    print(f"load average before: {load_average()}", file=sys.stderr)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
            latencies = measure_latency(args, Path(tmp), f"{prefix}-latency")
            baseline = cluster_baseline(args.baseline_seconds)
            idle = measure_idle(args, Path(tmp), f"{prefix}-idle")
    finally:
        delete_everything_named(client, prefix)
        client.close()
    print(f"load average after: {load_average()}", file=sys.stderr)
    print(f"\n| Alert latency, `--interval {args.interval:g}`, {len(latencies)} items | seconds |")
    print("|---|---:|")
    print(f"| p50 | {statistics.median(latencies):.2f} |")
    print(f"| p95 | {percentile(latencies, 0.95):.2f} |")
    print(f"| max | {max(latencies):.2f} |")
    print(f"\n| Idle watcher, {args.idle_feeds} unchanged feeds, `--interval {args.interval:g}`, "
          f"{idle['wall']:.0f} s | |")
    print("|---|---:|")
    print(f"| conditional GETs answered 304 | {idle['polls']} |")
    print(f"| watcher CPU | {idle['cpu']:.1f} s = {idle['cpu_pct']:.1f} % of one core |")
    print(f"| Elasticsearch CPU over the same time | {idle['es_cpu_pct']:.1f} % of one core |")
    print(f"| Elasticsearch CPU with no watcher ({args.baseline_seconds:g} s before) | "
          f"{baseline:.1f} % of one core |")
    print(f"| watcher RSS start / max / end | {idle['rss_start']:.0f} / {idle['rss_max']:.0f} / "
          f"{idle['rss_end']:.0f} MB |")
    print(f"\nReproduce: `{shown_python()} benchmarks/bench_watch.py --interval {args.interval:g} "
          f"--items {args.items} --idle-feeds {args.idle_feeds} --idle-seconds {args.idle_seconds:g}`")


if __name__ == "__main__":
    main()
