"""`libya-watch run --input`: archived feed files and JSON lines, through the pass, into the real
Elasticsearch."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from elasticsearch import Elasticsearch

from connectors.errors import ConfigError
from pipeline.cli import main
from pipeline.launch import LOCAL_RUNNER
from tests.feedfactory import atom, rss
from tests.pipeline.test_run import COPY, LIBYA_ITEMS, OFF_TOPIC
from transforms.archive import ArchiveInput, ReadFeedFiles, resolve_archive_input

# A feed file cut off before any entry: not well-formed, nothing usable in it.
MALFORMED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Old wire</title'

TURKEY = {"title": "Turkish frigates escort cargo ships to Misrata, Libya",
          "link": "http://wire.example/2020/07/01/turkey-misrata",
          "published": "2020-07-01T09:00:00Z",
          "body": "<p>Turkish navy frigates escorted cargo ships carrying armoured vehicles to "
                  "the port of Misrata in Libya, satellite images show.</p>"}


def _archive(root: Path) -> Path:
    """Years of saved feeds: nested directories, RSS and Atom, the same reports more than once."""
    (root / "2020" / "05").mkdir(parents=True)
    (root / "2020" / "06").mkdir(parents=True)
    (root / "2021").mkdir(parents=True)
    (root / "2020" / "05" / "wire.xml").write_bytes(rss(LIBYA_ITEMS[:2] + [OFF_TOPIC]))
    # Saved again a month later: two reports already in the May file, one new.
    (root / "2020" / "06" / "wire.rss").write_bytes(rss(LIBYA_ITEMS[1:]))
    # Another outlet's Atom feed with the first report's text under another URL.
    (root / "2021" / "other.atom").write_bytes(atom([COPY, TURKEY], title="Other Outlet"))
    (root / "README.txt").write_text("not an archive file\n", encoding="utf-8")
    return root


def _record(item: dict, number: int, outlet: str = "Archive Wire") -> dict:
    return {"id": f"arch-{number}", "title": item["title"], "text": item["body"],
            "url": item["link"], "published": item["published"], "outlet": outlet}


def _backfill(alias: str, url: str, tmp_path: Path, *args: str,
              name: str = "summary") -> tuple[int, dict]:
    summary_path = tmp_path / f"{name}.json"
    code = main(["run", *args, "--es", url, "--index", alias, "--summary-json", str(summary_path)])
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return code, summary


def _documents(client: Elasticsearch, alias: str) -> dict[str, dict]:
    client.indices.refresh(index=alias)
    hits = client.search(index=alias, size=100)["hits"]["hits"]
    return {hit["_source"]["url"]: hit["_source"] for hit in hits}


# --- choosing the files (no Elasticsearch) ----------------------------------------------


def test_a_directory_stands_for_the_files_of_each_kind_under_it(tmp_path: Path) -> None:
    _archive(tmp_path / "arch")
    (tmp_path / "arch" / "2021" / "export.jsonl.gz").write_bytes(gzip.compress(b"{}\n"))
    root = str((tmp_path / "arch").resolve())

    found = resolve_archive_input(str(tmp_path / "arch"))

    assert found == ArchiveInput(
        feed_patterns=(f"{root}/**.xml", f"{root}/**.rss", f"{root}/**.atom"),
        jsonl_patterns=(f"{root}/**.jsonl.gz",))
    assert resolve_archive_input(str(tmp_path / "arch"), "jsonl").feed_patterns == ()


def test_a_glob_is_read_as_given_and_its_extension_says_what_it_holds(tmp_path: Path) -> None:
    _archive(tmp_path)
    pattern = str(tmp_path / "2020" / "*" / "wire.*")

    assert resolve_archive_input(str(tmp_path / "*" / "*.atom")).feed_patterns == (
        str(tmp_path / "*" / "*.atom"),)
    with pytest.raises(ConfigError, match="give --input-format"):
        resolve_archive_input(pattern)
    assert resolve_archive_input(pattern, "feeds").feed_patterns == (pattern,)


@pytest.mark.parametrize("given", ["missing-dir/*.xml", "empty", "nothing.jsonl"])
def test_no_matching_file_is_a_config_error(tmp_path: Path, given: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x", encoding="utf-8")

    with pytest.raises(ConfigError, match="--input"):
        resolve_archive_input(str(tmp_path / given))


def test_read_feed_files_parses_each_file_and_names_a_bad_one(tmp_path: Path) -> None:
    _archive(tmp_path)
    (tmp_path / "2021" / "cut.xml").write_bytes(MALFORMED)
    bad_url = f"file://{tmp_path / '2021' / 'cut.xml'}"
    patterns = tuple(str(tmp_path / f"**{suffix}") for suffix in (".xml", ".rss", ".atom"))

    with BeamTestPipeline(runner=LOCAL_RUNNER) as p:
        files = p | ReadFeedFiles(patterns)
        entries = files.entries | "Key" >> beam.Map(
            lambda e: (e.feed_url.rsplit("/", 1)[-1], e.feed_title, e.link))
        letters = files.dead_letter | "Letter" >> beam.Map(
            lambda d: (d.stage, d.key, d.feed_url, d.error.startswith(f"{bad_url}: malformed")))
        assert_that(entries, equal_to(
            [("wire.xml", "Test Wire", i["link"]) for i in LIBYA_ITEMS[:2] + [OFF_TOPIC]]
            + [("wire.rss", "Test Wire", i["link"]) for i in LIBYA_ITEMS[1:]]
            + [("other.atom", "Other Outlet", i["link"]) for i in (COPY, TURKEY)]),
            label="entries")
        assert_that(letters, equal_to([("parse", bad_url, bad_url, True)]), label="letters")


# --- end to end, on the real Elasticsearch ------------------------------------------------


@pytest.mark.es
def test_backfill_of_a_directory_indexes_each_report_once_and_a_rerun_nothing(
        es_client: Elasticsearch, es_server, es_alias: str, tmp_path: Path) -> None:
    archive = _archive(tmp_path / "arch")

    code, first = _backfill(es_alias, es_server.url, tmp_path, "--input", str(archive))

    assert code == 0
    docs = _documents(es_client, es_alias)
    # Mali is off topic; the June copies of May's reports and the Atom copy are duplicates.
    assert sorted(docs) == sorted(i["link"].split("?")[0] for i in LIBYA_ITEMS + [TURKEY])
    assert docs[TURKEY["link"]]["outlet"] == "Other Outlet"
    assert docs[TURKEY["link"]]["feed_url"] == f"file://{archive.resolve() / '2021' / 'other.atom'}"
    assert first["indexed"] == 4
    assert first["duplicates"]["in_run"] == 2  # June's copy of Turkey-GNA, the Atom copy
    assert first["feeds"]["ok"] == 3  # one per file read
    run = es_client.get(index=f"{es_alias}-runs", id=first["run_id"])["_source"]
    assert run["status"] == "done" and run["summary"]["indexed"] == 4

    code, second = _backfill(es_alias, es_server.url, tmp_path, "--input", str(archive),
                             name="again")

    assert code == 0
    assert second["indexed"] == 0
    assert second["duplicates"]["already_indexed"] == 4
    assert len(_documents(es_client, es_alias)) == 4


@pytest.mark.es
def test_backfill_of_a_glob_reads_only_the_files_it_matches(
        es_client: Elasticsearch, es_server, es_alias: str, tmp_path: Path) -> None:
    archive = _archive(tmp_path / "arch")

    code, summary = _backfill(es_alias, es_server.url, tmp_path,
                              "--input", str(archive / "*" / "*.atom"))

    assert code == 0
    assert sorted(_documents(es_client, es_alias)) == sorted([COPY["link"], TURKEY["link"]])
    assert summary["feeds"]["ok"] == 1


@pytest.mark.es
def test_backfill_of_json_lines_plain_and_gzipped(
        es_client: Elasticsearch, es_server, es_alias: str, tmp_path: Path) -> None:
    (tmp_path / "export" / "old").mkdir(parents=True)
    plain = [_record(item, n) for n, item in enumerate(LIBYA_ITEMS[:2])]
    (tmp_path / "export" / "a.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in plain), encoding="utf-8")
    # Gzipped, one level down: the third report, and the first one again under another id.
    zipped = [_record(LIBYA_ITEMS[2], 2, outlet="Gazette"), {**plain[0], "id": "arch-again"}]
    (tmp_path / "export" / "old" / "b.jsonl.gz").write_bytes(
        gzip.compress("".join(json.dumps(r) + "\n" for r in zipped).encode("utf-8")))

    code, summary = _backfill(es_alias, es_server.url, tmp_path, "--input",
                              str(tmp_path / "export"), "--input-format", "jsonl")

    assert code == 0
    docs = _documents(es_client, es_alias)
    assert sorted(docs) == sorted(i["link"].split("?")[0] for i in LIBYA_ITEMS)
    assert docs[LIBYA_ITEMS[2]["link"]]["outlet"] == "Gazette"
    assert docs[LIBYA_ITEMS[2]["link"]]["published"] == LIBYA_ITEMS[2]["published"]
    assert summary["entries_seen"] == 4
    assert summary["indexed"] == 3 and summary["duplicates"]["in_run"] == 1

    code, again = _backfill(es_alias, es_server.url, tmp_path, "--input",
                            str(tmp_path / "export" / "old" / "*.jsonl.gz"), name="again")

    assert code == 0
    assert again["indexed"] == 0 and again["duplicates"]["already_indexed"] == 2


@pytest.mark.es
def test_a_malformed_file_goes_to_the_dead_letters_and_the_rest_is_indexed(
        es_client: Elasticsearch, es_server, es_alias: str, tmp_path: Path) -> None:
    archive = _archive(tmp_path / "arch")
    (archive / "2021" / "cut.xml").write_bytes(MALFORMED)
    bad_url = f"file://{archive.resolve() / '2021' / 'cut.xml'}"

    code, summary = _backfill(es_alias, es_server.url, tmp_path, "--input", str(archive))

    assert code == 0
    assert summary["indexed"] == 4
    assert summary["feeds"]["failed"] == 1
    es_client.indices.refresh(index=f"{es_alias}-deadletter")
    letters = es_client.search(index=f"{es_alias}-deadletter", size=10)["hits"]["hits"]
    assert [(h["_source"]["stage"], h["_source"]["key"]) for h in letters] == [("parse", bad_url)]
    assert "not well-formed" in letters[0]["_source"]["error"]


@pytest.mark.es
def test_no_matching_file_exits_2_with_one_line(
        es_server, es_alias: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()

    code, _ = _backfill(es_alias, es_server.url, tmp_path, "--input", str(tmp_path / "empty"))

    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"libya-watch: error: --input {tmp_path / 'empty'}: no feed files")


def test_feeds_and_input_together_are_refused_by_the_parser(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--feeds", str(tmp_path / "feeds.yaml"), "--input", str(tmp_path)])

    assert exited.value.code == 2
    assert "not allowed with argument --feeds" in capsys.readouterr().err


def test_watch_still_requires_feeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["watch", "--input", str(tmp_path)])

    assert exited.value.code == 2
    assert "--feeds" in capsys.readouterr().err


@pytest.mark.parametrize("wrong", [["--input", "{dir}", "--ignore-schedule"],
                                   ["--feeds", "{dir}/feeds.yaml", "--input-format", "jsonl"]])
def test_options_of_the_other_source_are_refused_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], wrong: list[str]) -> None:
    code = main(["run", *(arg.format(dir=tmp_path) for arg in wrong)])

    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "applies to --" in err
