"""`libya-watch enrich`: JSON lines in, the documents as they would be indexed out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main

ARTICLES = [
    {"id": "a1", "title": "Wagner mercenaries in Libya", "url": "https://News.example/a1?utm_source=x#top",
     "published": "2020-06-07T09:30:00+02:00", "language": "en",
     "text": "<p>Wagner Group has up to 1,200 people in Libya, a UN report said.</p>"},
    {"id": "a2", "title": "Turkey backs the GNA in Tripoli",
     "text": "Turkey is supplying the GNA in Tripoli, Libya, with drones and advisers."},
    {"id": "a3", "title": "Opera season opens with Richard Wagner",
     "text": "The Bayreuth festival opened with Richard Wagner's Parsifal."},
    # a1 again under a tracking URL: a duplicate by canonical URL
    {"id": "a4", "title": "Wagner mercenaries in Libya (copy)", "url": "https://news.example/a1",
     "text": "Another outlet's copy with other words about Wagner in Libya."},
    # a2's text under another id: a duplicate by content
    {"id": "a5", "title": "Turkey backs the GNA",
     "text": "Turkey is supplying the GNA in Tripoli, Libya, with drones and advisers."},
]
REQUIRED = {"id", "url", "title", "text", "published", "language", "outlet", "relevance"}


def _enrich(tmp_path: Path, lines: list[str]) -> tuple[int, list[dict], Path]:
    source = tmp_path / "articles.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    code = main(["enrich", "--input", str(source), "--output", str(output)])
    documents = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    return code, documents, output


def test_enrich_writes_one_document_per_non_duplicate_line(tmp_path: Path) -> None:
    code, documents, _ = _enrich(tmp_path, [json.dumps(a) for a in ARTICLES])
    assert code == 0
    by_id = {d["id"]: d for d in documents}
    assert sorted(by_id) == ["a1", "a2", "a3"]
    for document in documents:
        assert REQUIRED <= set(document)
        assert isinstance(document["relevance"]["score"], float)
        assert isinstance(document["relevance"]["kept"], bool)
    assert by_id["a1"]["url"] == "https://news.example/a1"
    assert by_id["a1"]["published"] == "2020-06-07T07:30:00Z"
    assert by_id["a1"]["text"] == "Wagner Group has up to 1,200 people in Libya, a UN report said."
    assert by_id["a1"]["relevance"]["kept"] is True
    assert by_id["a3"]["relevance"]["kept"] is False
    assert by_id["a2"]["relevance"]["score"] > by_id["a3"]["relevance"]["score"]


def test_enrich_rejects_bad_lines_into_an_errors_file_and_exits_non_zero(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lines = [json.dumps(ARTICLES[0]), "{not json", json.dumps({"id": "x9", "title": "no text"})]
    code, documents, output = _enrich(tmp_path, lines)
    assert code == 2
    assert [d["id"] for d in documents] == ["a1"]
    errors = [json.loads(line) for line in
              Path(f"{output}.errors.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(e["stage"] for e in errors) == ["input", "normalize"]
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "2 input lines rejected" in err
