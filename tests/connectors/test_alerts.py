"""Alert rules: the rules file, matching by the real Elasticsearch, the alerts index, delivery.

The Elasticsearch tests index hand-made documents: story heads (no
`duplicate_of`) and copies (with it), in two runs, and check that each
(rule, story) fires once ever and reaches every notifier exactly once,
also across a run killed between recording and sending.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from connectors.alerting import matching
from connectors.alerting.delivery import alert_pass, deliver_pending
from connectors.alerting.dryrun import TEST_INDEX_PREFIX, test_rules
from connectors.alerting.matching import match_rules, rule_query
from connectors.alerting.model import Alert, alert_id
from connectors.alerting.rules import (DEFAULT_RULES_FILE, AlertConfig, Rule, alert_config_from,
                                       load_alert_config)
from connectors.alerting.store import (alerts_index_name, mark_sent, pending_alerts,
                                       record_alerts)
from connectors.errors import ConfigError, IndexingError
from connectors.es_documents import bulk_create
from connectors.es_index import ensure_index
from connectors.notifiers import Notifier
from connectors.notifiers.jsonl import JsonlNotifier, JsonlSettings
from connectors.notifiers.webhook import WebhookNotifier, WebhookSettings
from connectors.runlog import RunLog
from tests.connectors.webhook_receiver import WebhookReceiver

WAGNER_RULE = "wagner-africa-corps-libya"
CLAIM_RULE = "new-foreign-involvement-claim"


# --- the rules file -----------------------------------------------------------------------


def load(tmp_path: Path, text: str) -> AlertConfig:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return load_alert_config(path)


def test_the_default_rules_load() -> None:
    config = load_alert_config()
    assert [rule.id for rule in config.rules] == [WAGNER_RULE, CLAIM_RULE]
    wagner, claims = config.rules
    assert wagner.name == "Wagner or Africa Corps in Libya"
    assert wagner.actors == ("wagner_group", "africa_corps") and "Ливии" in wagner.query
    assert claims.query == "_exists_:claim_keys"
    assert [(n.kind, n.name) for n in config.notifiers] == [("console", "console")]
    assert config.source == DEFAULT_RULES_FILE.name


def test_a_full_rule_and_notifiers(tmp_path: Path) -> None:
    config = load(tmp_path, """
rules:
  - id: asserted-mercs
    name: Asserted mercenaries
    query: "text:Libya"
    actors: [wagner_group]
    claim_types: [mercenaries, troops]
    polarity: asserted
    min_relevance: 0.5
notifiers:
  - type: jsonl
    path: out/alerts.jsonl
  - type: webhook
    name: slack
    url_env: HOOK
""")
    assert config.rules == (Rule(id="asserted-mercs", name="Asserted mercenaries",
                                 query="text:Libya", actors=("wagner_group",),
                                 claim_types=("mercenaries", "troops"), polarity="asserted",
                                 min_relevance=0.5),)
    assert config.rules[0].where == "rules[0]"
    assert [(n.kind, n.name) for n in config.notifiers] == [("jsonl", "jsonl"), ("webhook", "slack")]
    assert config.notifiers[0].settings.path == tmp_path / "out" / "alerts.jsonl"


def test_a_bare_list_is_the_rules_and_no_notifiers_means_the_console(tmp_path: Path) -> None:
    config = load(tmp_path, "- {id: a, query: Libya}\n")
    assert config.rules == (Rule(id="a", query="Libya"),) and config.rules[0].name == "a"
    assert [n.kind for n in config.notifiers] == ["console"]
    assert load(tmp_path, "rules: [{id: a, query: Libya}]\nnotifiers: []\n").notifiers == ()


@pytest.mark.parametrize(("text", "message"), [
    ("rules: [{id: a, query: x, qurey: y}]",
     "rules.yaml: rules[0]: unknown key 'qurey' (known keys: id, name, description, query, "
     "actors, claim_types, polarity, min_relevance)"),
    ("rules: [{id: a, query: x}, {query: y}]", "rules.yaml: rules[1]: missing 'id'"),
    ("rules: [{id: a}]", "rules.yaml: rules[0]: missing 'query'"),
    ("rules: [{id: a, query: x}, {id: b, query: y}, {id: a, query: z}]",
     "rules.yaml: rules[2]: duplicate id 'a' (first in rules[0])"),
    ("rules: [{id: a, query: '  '}]", "rules.yaml: rules[0].query: must not be empty"),
    ("rules: [{id: a, query: 3}]", "rules.yaml: rules[0].query: must be a string, got 3"),
    ("rules: [{id: Wagner Rule, query: x}]",
     "rules.yaml: rules[0].id: 'Wagner Rule' does not match an id of lower-case letters, "
     "digits, '_' and '-'"),
    ("rules: [{id: a, query: x, actors: wagner_group}]",
     "rules.yaml: rules[0].actors: must be a list, got 'wagner_group'"),
    ("rules: [{id: a, query: x, actors: []}]", "rules.yaml: rules[0].actors: must not be empty"),
    ("rules: [{id: a, query: x, actors: [wagner]}]",
     "rules.yaml: rules[0].actors[0]: unknown actor id 'wagner' (did you mean 'wagner_group'?)"),
    ("rules: [{id: a, query: x, actors: [turkey, turkey]}]",
     "rules.yaml: rules[0].actors[1]: 'turkey' appears twice"),
    ("rules: [{id: a, query: x, claim_types: [mercenary]}]",
     "rules.yaml: rules[0].claim_types[0]: must be one of 'troops', 'mercenaries', 'weapons', "
     "'strikes', 'funding', 'political', got 'mercenary'"),
    ("rules: [{id: a, query: x, polarity: [asserted]}]",
     "rules.yaml: rules[0].polarity: must be a string, got ['asserted']"),
    ("rules: [{id: a, query: x, polarity: maybe}]",
     "rules.yaml: rules[0].polarity: must be one of 'asserted', 'denied', got 'maybe'"),
    ("rules: [{id: a, query: x, min_relevance: high}]",
     "rules.yaml: rules[0].min_relevance: must be a number, got 'high'"),
    ("rules: [{id: a, query: x, min_relevance: 1.5}]",
     "rules.yaml: rules[0].min_relevance: must be at most 1, got 1.5"),
    ("rules: [{id: a, query: x, min_relevance: true}]",
     "rules.yaml: rules[0].min_relevance: must be a number, got True"),
    ("rules: []", "rules.yaml: rules: must not be empty"),
    ("rules: [a]", "rules.yaml: rules[0]: must be a mapping, got 'a'"),
    ("rule: [{id: a, query: x}]", "rules.yaml: top level: unknown key 'rule' (known keys: rules, "
                                  "notifiers)"),
    ("notifiers: []", "rules.yaml: top level: missing 'rules'"),
    ("just text", "rules.yaml: top level: must be a mapping, got 'just text'"),
    ("rules: [{id: a, query: x, id: b}]", "rules.yaml: line 1, column 27: YAML syntax error: "
                                          "duplicate key 'id'"),
    ("rules: [{id: a, query: x}]\nnotifiers: [{type: console}, {type: console}]",
     "rules.yaml: notifiers[1]: duplicate notifier name 'console' (first in notifiers[0]); "
     "give one of them a 'name'"),
    ("rules: [{id: a, query: x}]\nnotifiers: [{type: jsonl}]",
     "rules.yaml: notifiers[0]: missing 'path'"),
    ("rules: [{id: a, query: x}]\nnotifiers: [{type: webhook, url: 'https://h.example/x', "
     "url_env: H}]", "rules.yaml: notifiers[0]: give either 'url' or 'url_env' (the variable "
                     "holding the URL)"),
])
def test_bad_rules_files_say_what_and_where(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert str(caught.value) == f"{tmp_path}/{message}"


def test_a_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_alert_config(tmp_path / "nope.yaml")


def test_the_alert_id_is_sha1_of_rule_and_story() -> None:
    assert alert_id("r", "s") == hashlib.sha1(b"r\x1fs").hexdigest()
    assert alert_id("a", "b:c") != alert_id("a:b", "c")


def test_claim_type_and_polarity_together_must_hold_in_one_claim() -> None:
    both = rule_query(Rule(id="a", query="x", claim_types=("mercenaries",),
                           polarity="asserted"), ["run-1"])
    nested = [f for f in both["bool"]["filter"] if "nested" in f]
    assert nested and nested[0]["nested"]["path"] == "claims"
    alone = rule_query(Rule(id="a", query="x", polarity="denied"), None)
    assert {"term": {"claim_polarities": "denied"}} in alone["bool"]["filter"]
    assert not any("run_id" in json.dumps(f) for f in alone["bool"]["filter"])
    assert both["bool"]["must_not"] == [{"exists": {"field": "duplicate_of"}}]


# --- documents in the real Elasticsearch ---------------------------------------------------


def doc(doc_id: str, *, run: str = "run-1", copy_of: str | None = None, title: str = "",
        text: str = "", actors: Sequence[str] = (), claims: Sequence[tuple[str, str, str]] = (),
        matched: Sequence[str] = ("libya",), score: float = 0.8, published: str = "10:00",
        story_fields: bool = True) -> tuple[str, dict[str, Any]]:
    body: dict[str, Any] = {
        "id": doc_id, "url": f"https://news.example.org/{doc_id}", "title": title or doc_id,
        "text": text, "published": f"2025-03-01T{published}:00Z", "outlet": "Example News",
        "run_id": run, "content_hash": doc_id,
        "relevance": {"score": score, "kept": True, "matched": list(matched)},
        "actor_ids": list(actors),
        "claims": [{"actor": country, "country": country, "type": kind, "polarity": polarity}
                   for country, kind, polarity in claims],
        "claim_keys": [":".join(claim) for claim in claims],
        "claim_countries": sorted({c[0] for c in claims}),
        "claim_types": sorted({c[1] for c in claims}),
        "claim_polarities": sorted({c[2] for c in claims}),
    }
    if story_fields:
        body["story_id"] = copy_of or doc_id
        body["duplicate_of"] = copy_of
    return doc_id, body


DOCS = [
    doc("wagner-head", title="Wagner fighters flown to Libya", actors=["wagner_group"],
        text="Wagner fighters were flown to Libya.", claims=[("russia", "mercenaries", "asserted")]),
    doc("wagner-copy", copy_of="wagner-head", title="Wagner fighters flown to Libya (wire)",
        actors=["wagner_group"], text="Wagner fighters were flown to Libya.",
        claims=[("russia", "mercenaries", "asserted")], published="11:00"),
    doc("corps-ru", title="Африканский корпус в Ливии", text="Российские военные прибыли.",
        actors=["africa_corps"], matched=[], published="12:00"),
    doc("wagner-mali", title="Wagner in Mali", text="Wagner fighters in Mali.",
        actors=["wagner_group"], matched=[], published="09:00"),
    doc("turkey-denial", title="Ankara denies troops", text="Ankara denied sending troops to Libya.",
        actors=["turkey"], claims=[("turkey", "troops", "denied")], published="13:00"),
    doc("mixed", title="Drones and denials", text="UAE drones; Moscow denies Wagner in Libya.",
        claims=[("uae", "weapons", "asserted"), ("russia", "mercenaries", "denied")],
        published="14:00"),
    doc("legacy", title="Libya oil output", text="Egypt backs the talks in Libya.", score=0.3,
        claims=[("egypt", "political", "asserted")], story_fields=False, published="15:00"),
    doc("old-run", run="run-0", title="Wagner in Libya last week", actors=["wagner_group"],
        text="Wagner in Libya.", claims=[("russia", "mercenaries", "asserted")]),
]


def index_docs(client: Elasticsearch, alias: str, docs: Sequence[tuple[str, dict]]) -> None:
    report = bulk_create(client, alias, list(docs))
    assert not report.failed, report.failed
    client.indices.refresh(index=alias)


@pytest.fixture
def articles(es_client: Elasticsearch, es_alias: str) -> str:
    """The article alias, with story fields mapped and `DOCS` indexed."""
    ensure_index(es_client, es_alias)
    es_client.indices.put_mapping(index=es_alias, properties={
        "story_id": {"type": "keyword"}, "duplicate_of": {"type": "keyword"}})
    index_docs(es_client, es_alias, DOCS)
    return es_alias


def fired(alerts: Sequence[Alert]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for alert in alerts:
        result.setdefault(alert.rule_id, []).append(alert.doc_id)
    return result


@pytest.mark.es
def test_the_default_rules_fire_on_heads_of_the_given_runs(es_client: Elasticsearch,
                                                           articles: str) -> None:
    alerts = match_rules(es_client, articles, load_alert_config().rules, ["run-1"])
    assert fired(alerts) == {
        WAGNER_RULE: ["wagner-head", "corps-ru"],  # not the copy, not Mali, not the old run
        CLAIM_RULE: ["wagner-head", "turkey-denial", "mixed", "legacy"],
    }
    head = alerts[0]
    assert (head.story_id, head.title, head.url, head.published, head.outlet, head.run_id) == (
        "wagner-head", "Wagner fighters flown to Libya", "https://news.example.org/wagner-head",
        "2025-03-01T10:00:00Z", "Example News", "run-1")
    assert head.rule_name == "Wagner or Africa Corps in Libya" and head.matched_at
    assert alerts[-1].story_id == "legacy"  # no story_id: the document's own id
    both = match_rules(es_client, articles, load_alert_config().rules, ["run-0", "run-1"])
    assert "old-run" in fired(both)[WAGNER_RULE]


@pytest.mark.es
@pytest.mark.parametrize(("rule", "expected"), [
    (Rule(id="r", query="*", claim_types=("mercenaries",), polarity="asserted"), ["wagner-head"]),
    (Rule(id="r", query="*", claim_types=("mercenaries",)), ["wagner-head", "mixed"]),
    (Rule(id="r", query="*", polarity="denied"), ["turkey-denial", "mixed"]),
    (Rule(id="r", query="*", min_relevance=0.5),
     ["wagner-mali", "wagner-head", "corps-ru", "turkey-denial", "mixed"]),
    (Rule(id="r", query="Ankara", actors=("turkey", "egypt")), ["turkey-denial"]),
    (Rule(id="r", query='claim_keys:"russia\\:mercenaries\\:denied"'), ["mixed"]),
    (Rule(id="r", query="title:wagner AND NOT text:mali"), ["wagner-head"]),
])
def test_filters_and_queries(es_client: Elasticsearch, articles: str, rule: Rule,
                             expected: list[str]) -> None:
    assert fired(match_rules(es_client, articles, [rule], ["run-1"])).get("r", []) == expected


@pytest.mark.es
def test_results_do_not_depend_on_the_page_size(es_client: Elasticsearch, articles: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    rules = load_alert_config().rules
    whole = match_rules(es_client, articles, rules, ["run-1"])
    monkeypatch.setattr(matching, "PAGE_SIZE", 1)
    paged = match_rules(es_client, articles, rules, ["run-1"])
    assert [a.id for a in paged] == [a.id for a in whole]


@pytest.mark.es
def test_a_rule_matching_too_much_is_refused(es_client: Elasticsearch, articles: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matching, "MAX_MATCHES_PER_RULE", 3)
    rule = Rule(id="everything", query="*", source="rules.yaml", where="rules[4]")
    with pytest.raises(ConfigError, match=r"^rules.yaml: rules\[4\] \(everything\): matches "
                                          r"more than 3 stories"):
        match_rules(es_client, articles, [rule], ["run-1"])


@pytest.mark.es
def test_a_query_elasticsearch_rejects_names_the_rule(es_client: Elasticsearch,
                                                      articles: str) -> None:
    rules = [Rule(id="fine", query="Libya"),
             Rule(id="broken", query="title:(unclosed", source="rules.yaml", where="rules[1]")]
    with pytest.raises(ConfigError) as caught:
        match_rules(es_client, articles, rules, ["run-1"])
    assert str(caught.value).startswith(
        "rules.yaml: rules[1] (broken): Elasticsearch rejected the rule: 400")


@pytest.mark.es
def test_no_runs_or_no_documents_match_nothing(es_client: Elasticsearch, es_alias: str) -> None:
    rules = load_alert_config().rules
    assert match_rules(es_client, es_alias, rules, []) == []
    assert match_rules(es_client, es_alias, rules, ["run-1"]) == []  # no index at all yet


@pytest.mark.es
def test_an_index_without_story_fields_is_refused(es_client: Elasticsearch,
                                                  es_alias: str) -> None:
    es_client.indices.create(index=es_alias, mappings={"dynamic": False, "properties": {
        "run_id": {"type": "keyword"}, "title": {"type": "text"}}})
    index_docs(es_client, es_alias, [doc("a", story_fields=False)])
    with pytest.raises(IndexingError, match="has no mapping for story_id, duplicate_of"):
        match_rules(es_client, es_alias, load_alert_config().rules, ["run-1"])


# --- the alerts index -----------------------------------------------------------------------


@pytest.mark.es
def test_each_rule_and_story_fires_once_across_calls(es_client: Elasticsearch,
                                                     articles: str) -> None:
    rules = load_alert_config().rules
    first = record_alerts(es_client, articles, match_rules(es_client, articles, rules, ["run-1"]))
    assert len(first) == 6
    again = match_rules(es_client, articles, rules, ["run-1"])
    assert len(again) == 6 and record_alerts(es_client, articles, again) == []
    index = alerts_index_name(articles)
    assert es_client.count(index=index)["count"] == 6
    stored = es_client.get(index=index, id=alert_id(WAGNER_RULE, "wagner-head"))["_source"]
    assert stored["status"] == "pending" and stored["doc_id"] == "wagner-head"
    assert {a.id for a in pending_alerts(es_client, articles)} == {a.id for a in first}


@pytest.mark.es
def test_no_alerts_index_means_nothing_pending(es_client: Elasticsearch, es_alias: str) -> None:
    assert pending_alerts(es_client, es_alias) == []
    assert record_alerts(es_client, es_alias, []) == []


class Recording(Notifier):
    """A notifier wrapper that remembers which alerts it was asked to send."""

    kind = "recording"
    schema = {"type": "object"}

    def __init__(self, inner: Notifier) -> None:
        super().__init__(None, name=inner.name)
        self.inner = inner
        self.asked: list[list[str]] = []

    @classmethod
    def settings_from(cls, options, *, base_dir):  # pragma: no cover - not configured from files
        raise NotImplementedError

    def send(self, alerts):
        self.asked.append([a.story_id for a in alerts])
        return self.inner.send(alerts)


def hook(url: str, retries: int = 3) -> WebhookNotifier:
    return WebhookNotifier(WebhookSettings(url=url, retries=retries, backoff=0.0),
                           sleep=lambda _: None)


def file_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.es
def test_a_failed_webhook_is_retried_next_pass_but_the_file_is_not_written_again(
        es_client: Elasticsearch, articles: str, tmp_path: Path) -> None:
    rule = Rule(id="claims", query="_exists_:claim_keys")
    new = record_alerts(es_client, articles, match_rules(es_client, articles, [rule], ["run-1"]))
    assert len(new) == 4
    out = tmp_path / "alerts.jsonl"
    file = Recording(JsonlNotifier(JsonlSettings(out), name="file"))
    with WebhookReceiver(503) as down:
        first = deliver_pending(es_client, articles, {"file": file, "hook": hook(down.url, 1)})
    assert first.sent == {"file": 4, "hook": 0} and len(first.failed["hook"]) == 4
    assert "HTTP 503" in first.failed["hook"][0][1] and first.still_pending == 4
    pending = pending_alerts(es_client, articles)
    assert len(pending) == 4 and all(a.delivered_to == ("file",) for a in pending)

    with WebhookReceiver(200) as up:
        second = deliver_pending(es_client, articles, {"file": file, "hook": hook(up.url)})
    assert second.sent == {"hook": 4} and second.closed == 4 and second.still_pending == 0
    assert file.asked == [["wagner-head", "turkey-denial", "mixed", "legacy"]]  # once only
    assert up.accepted_keys() == {a.id: 1 for a in new}
    assert len(file_lines(out)) == 4
    assert pending_alerts(es_client, articles) == []
    closed = es_client.get(index=alerts_index_name(articles), id=new[0].id)["_source"]
    assert closed["status"] == "sent" and set(closed["delivery"]) == {"file", "hook"}


@pytest.mark.es
def test_a_webhook_failing_twice_delivers_each_story_once(es_client: Elasticsearch,
                                                          articles: str) -> None:
    rule = Rule(id="wagner", query="*", actors=("wagner_group",))
    new = record_alerts(es_client, articles, match_rules(es_client, articles, [rule], ["run-1"]))
    assert [a.story_id for a in new] == ["wagner-mali", "wagner-head"]
    with WebhookReceiver(500, 502, 200) as receiver:
        report = deliver_pending(es_client, articles, {"hook": hook(receiver.url)})
        again = deliver_pending(es_client, articles, {"hook": hook(receiver.url)})
    assert report.sent == {"hook": 2} and report.closed == 2 and again.pending == 0
    assert receiver.accepted_keys() == {a.id: 1 for a in new}
    assert len(receiver.posts) == 4  # two failures, then one post per alert


@pytest.mark.es
def test_a_killed_run_sends_its_alerts_on_the_next_pass_exactly_once(
        es_client: Elasticsearch, articles: str, tmp_path: Path) -> None:
    runs = RunLog(es_client, articles)
    runs.ensure()
    runs.started("run-1")
    runs.indexed("run-1", {})
    with WebhookReceiver(200) as receiver:
        config = alert_config_from({
            "rules": [{"id": "claims", "query": "_exists_:claim_keys"}],
            "notifiers": [{"type": "jsonl", "path": "alerts.jsonl"},
                          {"type": "webhook", "url": receiver.url, "backoff": 0}],
        }, source="rules.yaml", base_dir=tmp_path)
        # The killed pass: alerts recorded, then the process died before sending
        # (and before the run was marked done).
        recorded = record_alerts(es_client, articles,
                                 match_rules(es_client, articles, config.rules, ["run-1"]))
        assert len(recorded) == 4

        second = alert_pass(es_client, articles, config, runs)
        assert second.run_ids == ["run-1"] and second.matched == 4 and second.new == []
        assert second.delivery.sent == {"jsonl": 4, "webhook": 4}
        assert runs.runs_owing_alerts() == []

        # A later run: a copy of a known story and one new story.
        runs.started("run-2")
        index_docs(es_client, articles, [
            doc("mixed-copy", run="run-2", copy_of="mixed",
                claims=[("uae", "weapons", "asserted")]),
            doc("sudan", run="run-2", claims=[("sudan", "mercenaries", "asserted")])])
        runs.indexed("run-2", {})
        third = alert_pass(es_client, articles, config, runs)
        fourth = alert_pass(es_client, articles, config, runs)
    assert [a.story_id for a in third.new] == ["sudan"]
    assert third.delivery.sent == {"jsonl": 1, "webhook": 1}
    assert fourth.run_ids == [] and fourth.delivery.pending == 0
    assert sorted(receiver.accepted_keys().values()) == [1] * 5
    lines = file_lines(tmp_path / "alerts.jsonl")
    assert len(lines) == 5 and len({line["alert_id"] for line in lines}) == 5
    assert "alerts: 1 new (1 matches in 1 run)" in third.to_text()


@pytest.mark.es
def test_mark_sent_keeps_other_notifiers_state(es_client: Elasticsearch, articles: str) -> None:
    rule = Rule(id="claims", query="_exists_:claim_keys")
    new = record_alerts(es_client, articles, match_rules(es_client, articles, [rule], ["run-1"]))
    mark_sent(es_client, articles, [new[0].id], "a")
    mark_sent(es_client, articles, [new[0].id, new[1].id], "b")
    by_id = {a.id: a for a in pending_alerts(es_client, articles)}
    assert by_id[new[0].id].delivered_to == ("a", "b")
    assert by_id[new[1].id].delivered_to == ("b",)


# --- the dry run -----------------------------------------------------------------------------


def leftover_test_indices(client: Elasticsearch) -> list[str]:
    found = client.options(ignore_status=404).indices.get(index=f"{TEST_INDEX_PREFIX}*")
    return list(found.body)


@pytest.mark.es
def test_the_dry_run_shows_what_would_fire_and_leaves_nothing(es_client: Elasticsearch) -> None:
    documents = [body for _, body in DOCS]
    result = test_rules(es_client, load_alert_config().rules, documents)
    assert result == {
        WAGNER_RULE: ["old-run", "wagner-head", "corps-ru"],  # by date, then id
        CLAIM_RULE: ["old-run", "wagner-head", "turkey-denial", "mixed", "legacy"],
    }
    assert leftover_test_indices(es_client) == []


@pytest.mark.es
def test_the_dry_run_without_a_client_uses_the_local_server(es_client: Elasticsearch) -> None:
    rules = [Rule(id="any", query="Ankara")]
    assert test_rules(None, rules, [DOCS[4][1]]) == {"any": ["turkey-denial"]}
    assert test_rules(None, rules, []) == {"any": []}


@pytest.mark.es
def test_the_dry_run_refuses_bad_documents_and_still_cleans_up(es_client: Elasticsearch) -> None:
    rules = [Rule(id="any", query="*")]
    with pytest.raises(ConfigError, match="document 2: document has no 'id'"):
        test_rules(es_client, rules, [DOCS[0][1], {"title": "no id"}])
    with pytest.raises(IndexingError, match="1 documents refused by the test index, first bad"):
        test_rules(es_client, rules, [{"id": "bad", "published": "yesterday"}])
    assert leftover_test_indices(es_client) == []
