"""The `libya-watch` command: parses arguments, calls a launcher, maps errors to exit codes.

Exit codes: 0 the pass completed (some feeds may have failed: see the
summary), 1 the pipeline failed, 2 bad configuration or input, 3 Elasticsearch
unreachable or refusing writes. Every error is one line on stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from connectors.errors import ConfigError, ElasticsearchError, LibyaWatchError

__all__ = ["main", "build_parser"]

DEFAULT_ALIAS = "libya-watch"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="libya-watch",
        description="Libya-related reports from RSS/Atom feeds, through Beam, into Elasticsearch.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="fetch every feed once, index what is new, exit",
        description="One pass. Options not listed here go to Beam (e.g. --runner).")
    run.add_argument("--feeds", type=Path, required=True, help="feeds YAML file")
    run.add_argument("--es", metavar="URL", help="Elasticsearch URL (default: $ES_URL, else the local server)")
    run.add_argument("--index", default=DEFAULT_ALIAS, help="write alias (default: %(default)s)")
    run.add_argument("--summary-json", type=Path, metavar="PATH", help="also write the summary as JSON")
    run.add_argument("--rules", type=Path, metavar="RULES.yaml",
                     help="alert rules (and notifiers) to run over what this pass indexed")
    run.add_argument("--alerts-out", type=Path, metavar="FILE.jsonl",
                     help="also append each new alert to this JSON-lines file")
    run.add_argument("--no-tag", dest="tag", action="store_false",
                     help="index without actor and claim tagging (a bare archive; faster)")

    enrich = commands.add_parser(
        "enrich", help="run the transforms on JSON lines, without feeds or Elasticsearch")
    enrich.add_argument("--input", required=True, help="JSONL file (or glob) of articles")
    enrich.add_argument("--output", type=Path, required=True, help="JSONL file of documents")

    alerts = commands.add_parser("alerts", help="alert rules")
    alerts_commands = alerts.add_subparsers(dest="alerts_command", required=True)
    alerts_test = alerts_commands.add_parser(
        "test", help="show which rules would fire on these articles, without side effects")
    alerts_test.add_argument("--rules", type=Path, help="rules YAML (default: the packaged rules)")
    alerts_test.add_argument("--input", required=True, help="JSONL file of articles")
    alerts_test.add_argument("--es", metavar="URL",
                             help="Elasticsearch for a throw-away index (default: the local server)")

    es = commands.add_parser("es", help="the local Elasticsearch server")
    es.add_argument("action", choices=["install", "start", "stop", "status"])

    demo = commands.add_parser("demo", help="serve the fixture feeds locally, run one pass, show the index")
    demo.add_argument("--alerts-out", type=Path, metavar="FILE.jsonl",
                      help="also append each new alert to this JSON-lines file")

    evaluation = commands.add_parser(
        "eval", help="enrich annotated articles and score them against the gold annotations")
    evaluation.add_argument("--gold", type=Path, required=True, help="gold JSONL file")
    evaluation.add_argument("--articles", type=Path, required=True, help="articles JSONL file")
    evaluation.add_argument("--json", type=Path, metavar="PATH", help="also write the scores as JSON")
    evaluation.add_argument("--errors", action="store_true",
                            help="list each article whose actors or claims differ from the gold")
    return parser


def _run(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.launch import run_pass

    summary = run_pass(args.feeds, args.es, args.index, beam_args, tag=args.tag,
                       rules=args.rules, alerts_out=args.alerts_out)
    print(summary.to_text())
    if args.summary_json:
        args.summary_json.write_text(summary.to_json() + "\n", encoding="utf-8")
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


COMMANDS = {"run": _run, "enrich": _enrich, "es": _es, "demo": _demo, "eval": _eval,
            "alerts": _alerts}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, beam_args = parser.parse_known_args(argv)
    # Libraries (Beam among them) log warnings meant for their developers;
    # our own outcome is in the summary and the one-line errors.
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args, beam_args)
    except ConfigError as exc:
        print(f"libya-watch: error: {exc}", file=sys.stderr)
        return 2
    except ElasticsearchError as exc:
        print(f"libya-watch: error: {exc}", file=sys.stderr)
        return 3
    except LibyaWatchError as exc:
        print(f"libya-watch: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("libya-watch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
