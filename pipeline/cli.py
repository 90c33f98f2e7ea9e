"""The `libya-watch` command: parses arguments, calls a launcher, maps errors to exit codes.

Exit codes: 0 the pass completed (some feeds may have failed: see the
summary), 1 the pipeline failed, 2 bad configuration or input, 3 Elasticsearch
unreachable or refusing writes, 4 another run holds the index's run lock (a
scheduler may treat it as "already being done"). Every error is one line on
stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from connectors.errors import ConfigError, ElasticsearchError, LibyaWatchError, RunLockHeld
from pipeline import progress
from pipeline.logs import configure_logging

__all__ = ["main", "build_parser"]

DEFAULT_ALIAS = "libya-watch"


def build_parser() -> argparse.ArgumentParser:
    # No abbreviations: unknown options go on to Beam, and `--feed` must not pass for `--feeds`.
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="libya-watch",
        description="Libya-related reports from RSS/Atom feeds, through Beam, into Elasticsearch.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--log-format", choices=["text", "json"], default="text",
                        help="log lines as text or as one JSON object each (default: %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", allow_abbrev=False, help="fetch every due feed once, index what is new, exit",
        description="One pass over the feeds (--feeds), or a backfill of archived feed files "
                    "or JSON lines (--input). Options not listed here go to Beam (e.g. --runner).")
    _add_pass_arguments(run, backfill=True)

    watch = commands.add_parser(
        "watch", allow_abbrev=False, help="poll the feeds continuously, indexing and alerting as items appear",
        description="Runs a pass every INTERVAL seconds over the feeds that are due, until "
                    "SIGTERM or SIGINT; the pass under way then finishes. Options not listed "
                    "here go to Beam.")
    _add_pass_arguments(watch)
    watch.add_argument("--interval", type=_positive_seconds, default=300.0, metavar="SECONDS",
                       help="seconds between the starts of two passes (default: %(default)s)")
    watch.add_argument("--max-cycles", type=int, metavar="N",
                       help="stop after N passes (default: run until stopped)")

    status = commands.add_parser(
        "status", allow_abbrev=False, help="feed health, documents and stories per day, alerts, the last runs")
    status.add_argument("--es", metavar="URL", help="Elasticsearch URL (default: $ES_URL, else the local server)")
    status.add_argument("--index", default=DEFAULT_ALIAS, help="write alias (default: %(default)s)")
    status.add_argument("--days", type=int, default=7, help="days of history (default: %(default)s)")
    status.add_argument("--json", action="store_true", help="print JSON instead of text")

    search = commands.add_parser(
        "search", allow_abbrev=False, help="search the indexed documents from the terminal (Lucene query syntax)")
    search.add_argument("query", nargs="?", default="*",
                        help="Lucene query string, as typed in Kibana (default: everything)")
    search.add_argument("--es", metavar="URL", help="Elasticsearch URL (default: $ES_URL, else the local server)")
    search.add_argument("--index", default=DEFAULT_ALIAS, help="write alias (default: %(default)s)")
    search.add_argument("--actor", action="append", metavar="ID",
                        help="only documents tagged with this actor id (repeatable: all must match)")
    search.add_argument("--claim-type", action="append", metavar="TYPE",
                        help="only documents with a claim of this type (repeatable: any may match)")
    search.add_argument("--since", metavar="AGE",
                        help="only documents published in the last AGE, e.g. 90m, 24h, 7d, 2w")
    search.add_argument("--size", type=int, default=20, help="hits to show (default: %(default)s)")
    search.add_argument("--all-copies", action="store_true",
                        help="show every copy of a story, not only its first document")
    search.add_argument("--json", action="store_true", help="one JSON document per line")

    enrich = commands.add_parser(
        "enrich", allow_abbrev=False, help="run the transforms on JSON lines, without feeds or Elasticsearch")
    enrich.add_argument("--input", required=True, help="JSONL file (or glob) of articles")
    enrich.add_argument("--output", type=Path, required=True, help="JSONL file of documents")

    alerts = commands.add_parser("alerts", allow_abbrev=False, help="alert rules")
    alerts_commands = alerts.add_subparsers(dest="alerts_command", required=True)
    alerts_test = alerts_commands.add_parser(
        "test", allow_abbrev=False, help="show which rules would fire on these articles, without side effects")
    alerts_test.add_argument("--rules", type=Path, help="rules YAML (default: the packaged rules)")
    alerts_test.add_argument("--input", required=True, help="JSONL file of articles")
    alerts_test.add_argument("--es", metavar="URL",
                             help="Elasticsearch for a throw-away index (default: the local server)")

    es = commands.add_parser("es", allow_abbrev=False, help="the local Elasticsearch server")
    es.add_argument("action", choices=["install", "start", "stop", "status"])

    flink = commands.add_parser("flink", allow_abbrev=False,
                                help="the Beam Flink job server that --runner FlinkRunner starts")
    flink.add_argument("action", choices=["install", "path"])

    demo = commands.add_parser("demo", allow_abbrev=False, help="serve the fixture feeds locally, run one pass, show the index")
    demo.add_argument("--alerts-out", type=Path, metavar="FILE.jsonl",
                      help="also append each new alert to this JSON-lines file")

    evaluation = commands.add_parser(
        "eval", allow_abbrev=False, help="enrich annotated articles and score them against the gold annotations")
    evaluation.add_argument("--gold", type=Path, required=True, help="gold JSONL file")
    evaluation.add_argument("--articles", type=Path, required=True, help="articles JSONL file")
    evaluation.add_argument("--json", type=Path, metavar="PATH", help="also write the scores as JSON")
    evaluation.add_argument("--errors", action="store_true",
                            help="list each article whose actors or claims differ from the gold")
    return parser


def _positive_seconds(value: str) -> float:
    seconds = float(value)
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {value}")
    return seconds


def _add_pass_arguments(command: argparse.ArgumentParser, backfill: bool = False) -> None:
    """The options `run` and `watch` share: one pass, or a pass every interval.

    With `backfill` (`run` only), `--input` may replace `--feeds`: exactly one is given.
    """
    if backfill:
        source = command.add_mutually_exclusive_group(required=True)
        source.add_argument("--feeds", type=Path, help="feeds YAML file")
        source.add_argument("--input", metavar="PATH_OR_GLOB",
                            help="backfill: a directory (read recursively) or glob of archived "
                                 "feed files (*.xml, *.rss, *.atom, *.rdf) or JSON lines "
                                 "(*.jsonl, *.jsonl.gz)")
        command.add_argument("--input-format", choices=("feeds", "jsonl", "auto"),
                             help="what --input holds (default: auto, by extension)")
        command.add_argument("--slice-mb", type=float, metavar="MB",
                             help="backfill: run one pipeline per MB of input files, one after "
                                  "another, so memory stays flat however large the input; 0: "
                                  "one pipeline (default: 32 on the local runner, else 48)")
    else:
        command.add_argument("--feeds", type=Path, required=True, help="feeds YAML file")
    command.add_argument("--es", metavar="URL", help="Elasticsearch URL (default: $ES_URL, else the local server)")
    command.add_argument("--index", default=DEFAULT_ALIAS, help="write alias (default: %(default)s)")
    command.add_argument("--summary-json", type=Path, metavar="PATH",
                         help="also write the summary of each pass as JSON")
    command.add_argument("--rules", type=Path, metavar="RULES.yaml",
                         help="alert rules (and notifiers) to run over what each pass indexed")
    command.add_argument("--alerts-out", type=Path, metavar="FILE.jsonl",
                         help="also append each new alert to this JSON-lines file")
    command.add_argument("--no-tag", dest="tag", action="store_false",
                         help="index without actor and claim tagging (a bare archive; faster)")
    command.add_argument("--ignore-schedule", action="store_true",
                         help="fetch every feed now, even those backed off or not due yet")
    command.add_argument("--slice-feeds", type=int, metavar="N",
                         help="run one pipeline per N due feeds, one after another, so memory "
                              "stays flat however many feeds; 0: one pipeline (default: 200 "
                              "on the local runner, else 500)")


def _run(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.launch import run_backfill, run_pass

    if args.input is not None:
        if args.ignore_schedule:
            raise ConfigError("--ignore-schedule applies to --feeds, not to --input")
        if args.slice_feeds is not None:
            raise ConfigError("--slice-feeds applies to --feeds; use --slice-mb with --input")
        summary = run_backfill(args.input, args.input_format or "auto", args.es, args.index,
                               beam_args, tag=args.tag, rules=args.rules,
                               alerts_out=args.alerts_out, slice_mb=args.slice_mb)
    else:
        for given, name in ((args.input_format, "--input-format"), (args.slice_mb, "--slice-mb")):
            if given is not None:
                raise ConfigError(f"{name} applies to --input, not to --feeds")
        summary = run_pass(args.feeds, args.es, args.index, beam_args, tag=args.tag,
                           rules=args.rules, alerts_out=args.alerts_out,
                           ignore_schedule=args.ignore_schedule, slice_feeds=args.slice_feeds)
    if args.log_format == "json":
        logging.getLogger("pipeline.run").info("pass %s", summary.one_line(),
                                               extra={"summary": summary.figures()})
    else:
        print(summary.to_text())
    if args.summary_json:
        args.summary_json.write_text(summary.to_json() + "\n", encoding="utf-8")
    return 0


def _watch(args: argparse.Namespace, beam_args: list[str]) -> int:
    import threading

    from pipeline.watch import WatchOptions, stop_on_signals, watch

    options = WatchOptions(feeds_path=args.feeds, es_url=args.es, alias=args.index,
                           beam_args=tuple(beam_args), interval=args.interval, tag=args.tag,
                           rules=args.rules, alerts_out=args.alerts_out,
                           ignore_schedule=args.ignore_schedule, max_cycles=args.max_cycles,
                           slice_feeds=args.slice_feeds)
    log = logging.getLogger("pipeline.watch")

    def report(summary) -> None:
        busy = summary.ran_pipeline or summary.count("feeds_failed") or (
            summary.alerts is not None and summary.alerts.new)
        if args.log_format == "json":  # one line per pass: a log object, or text on stdout
            log.log(logging.INFO if busy else logging.DEBUG, "pass %s", summary.one_line(),
                    extra={"summary": summary.figures()})
        elif busy:
            print(summary.one_line(), flush=True)
        if args.summary_json:
            args.summary_json.write_text(summary.to_json() + "\n", encoding="utf-8")

    stop = threading.Event()
    with stop_on_signals(stop):
        watch(options, report, stop)
    return 0


def _enrich(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.launch import run_enrich

    summary = run_enrich(args.input, args.output, beam_args)
    rejected = summary.count("input_rejected") + summary.count("normalize_failed")
    print(f"enrich: {summary.count('input_lines')} lines read, {rejected} rejected, "
          f"written to {args.output}")
    if rejected:
        print(f"libya-watch: error: {rejected} input lines rejected, see {args.output}.errors.jsonl",
              file=sys.stderr)
        return 2
    return 0


def _es(args: argparse.Namespace, beam_args: list[str]) -> int:
    from connectors import es_local

    if beam_args:
        raise ConfigError(f"es {args.action}: unexpected arguments {' '.join(beam_args)}")
    if args.action == "install":
        print(f"Elasticsearch installed in {es_local.install()}")
    elif args.action == "start":
        started = es_local.start()
        verb = "already running" if started.already_running else f"started in {started.elapsed_s:.1f} s"
        print(f"Elasticsearch {started.status.version} {verb} at {started.status.url}")
    elif args.action == "stop":
        print("Elasticsearch stopped" if es_local.stop() else "Elasticsearch was not running")
    else:
        status = es_local.status()
        state = f"running (pid {status.pid}, health {status.health})" if status.running else "stopped"
        print(f"Elasticsearch {status.version} at {status.url}: {state}\n"
              f"  home {status.home}\n  data {status.data_dir}\n  log  {status.log_file}")
    return 0


def _flink(args: argparse.Namespace, beam_args: list[str]) -> int:
    from connectors.flink_jobserver import INSTALL_HINT, install_job_server, job_server_jar

    if beam_args:
        raise ConfigError(f"flink {args.action}: unexpected arguments {' '.join(beam_args)}")
    if args.action == "install":
        print(f"Flink job server installed: {install_job_server()}")
        return 0
    jar = job_server_jar()
    if jar is None:
        raise ConfigError(f"the Flink job server is not installed; {INSTALL_HINT}")
    print(jar)
    return 0


def _demo(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.demo import run_demo

    print(run_demo(beam_args, args.alerts_out))
    return 0


def _eval(args: argparse.Namespace, beam_args: list[str]) -> int:
    import json
    import tempfile

    from pipeline.evaluate import evaluate, load_documents, load_gold
    from pipeline.launch import run_enrich

    gold = load_gold(args.gold)
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "documents.jsonl"
        summary = run_enrich(str(args.articles), output, beam_args)
        rejected = summary.count("input_rejected") + summary.count("normalize_failed")
        if rejected:
            raise ConfigError(f"{rejected} articles rejected by enrich", source=str(args.articles))
        result = evaluate(gold, load_documents(output))
    print(result.to_text())
    if args.errors:
        for error in result.errors:
            print(json.dumps(error, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
    return 0


def _alerts(args: argparse.Namespace, beam_args: list[str]) -> int:
    import tempfile

    from connectors.alerting.dryrun import test_rules
    from connectors.alerting.rules import load_alert_config
    from connectors.es_client import make_client
    from pipeline.evaluate import load_documents
    from pipeline.launch import resolve_es, run_enrich

    config = load_alert_config(args.rules)
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "documents.jsonl"
        run_enrich(args.input, output, beam_args)
        documents = list(load_documents(output).values())
    client = make_client(resolve_es(args.es))
    try:
        fired = test_rules(client, config.rules, documents)
    finally:
        client.close()
    for rule in config.rules:
        ids = fired.get(rule.id, [])
        print(f"{rule.id}: {len(ids)} of {len(documents)} documents"
              + (f": {', '.join(ids)}" if ids else ""))
    return 0


def _status(args: argparse.Namespace, beam_args: list[str]) -> int:
    from connectors.es_client import make_client
    from pipeline.launch import resolve_es
    from pipeline.status import collect_status

    if beam_args:
        raise ConfigError(f"status: unexpected arguments {' '.join(beam_args)}")
    client = make_client(resolve_es(args.es))
    try:
        report = collect_status(client, args.index, days=args.days)
    finally:
        client.close()
    print(report.to_json() if args.json else report.to_text())
    return 0


def _search(args: argparse.Namespace, beam_args: list[str]) -> int:
    from connectors.es_client import make_client
    from pipeline.launch import resolve_es
    from pipeline.search import SearchRequest, search_documents

    if beam_args:
        raise ConfigError(f"search: unexpected arguments {' '.join(beam_args)}")
    request = SearchRequest(query=args.query, actors=tuple(args.actor or ()),
                            claim_types=tuple(args.claim_type or ()), since=args.since,
                            size=args.size, all_copies=args.all_copies)
    client = make_client(resolve_es(args.es))
    try:
        result = search_documents(client, args.index, request)
    finally:
        client.close()
    output = result.to_json_lines() if args.json else result.to_text()
    if output:  # no hits in JSON lines is no line at all, not an empty one
        print(output)
    return 0


COMMANDS = {"run": _run, "watch": _watch, "enrich": _enrich, "es": _es, "demo": _demo, "eval": _eval,
            "alerts": _alerts, "status": _status, "search": _search, "flink": _flink}


# Commands whose leftover options go to Beam; checked before any work starts.
BEAM_COMMANDS = frozenset({"run", "watch", "enrich", "eval", "alerts", "demo"})


def _say(args: argparse.Namespace, message: str, level: str = "error") -> None:
    """One line on stderr: plain, or a JSON object like every other line with JSON logs."""
    if args.log_format == "json":
        print(json.dumps({"level": level, "logger": "libya-watch", "message": message},
                         ensure_ascii=False), file=sys.stderr)
    else:
        print(f"libya-watch: {'error: ' if level == 'error' else ''}{message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, beam_args = parser.parse_known_args(argv)
    # JSON logs are for collectors, which want the project's INFO lines too.
    chatty = args.command == "watch" or args.log_format == "json"
    configure_logging(args.log_format, args.verbose, logging.INFO if chatty else logging.WARNING)
    progress.enabled(args.log_format == "text")
    try:
        if args.command in BEAM_COMMANDS:
            from pipeline.launch import beam_options
            beam_options(beam_args)  # a misspelt option fails now, not at the first change
        return COMMANDS[args.command](args, beam_args)
    except ConfigError as exc:
        _say(args, str(exc))
        return 2
    except RunLockHeld as exc:
        _say(args, str(exc), level="warning")
        return 4
    except ElasticsearchError as exc:
        _say(args, str(exc))
        return 3
    except LibyaWatchError as exc:
        _say(args, str(exc))
        return 1
    except KeyboardInterrupt:
        _say(args, "interrupted", level="warning")
        return 130


if __name__ == "__main__":
    sys.exit(main())
