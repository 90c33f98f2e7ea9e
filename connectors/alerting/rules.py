"""Alert rules as data: load the rules file, check it against a schema, and refuse anything odd.

The file is YAML::

    rules:
      - id: wagner-libya               # lower-case letters, digits, '_' and '-'; never reuse one
        name: Wagner or Africa Corps in Libya
        query: 'text:(Libya OR Ливия)'  # Lucene query-string syntax, as typed in Kibana
        actors: [wagner_group, africa_corps]   # optional filters, all must hold:
        claim_types: [mercenaries]             #   any of these actors / claim types,
        polarity: asserted                     #   this polarity,
        min_relevance: 0.5                     #   at least this relevance score
    notifiers:                         # optional; default: the console alone;
      - type: console                  # [] records alerts in the index only

A bare list of rules is read as ``rules:`` alone. Actor ids and claim types
are checked against the gazetteer and the claim types the tagger emits, so
a typo fails here instead of making a rule that never fires. Every problem
is a `ConfigError` naming the file and the place (``rules[2]``).

The rule id is part of each alert's id: renaming a rule makes its alerts
fire again; changing its name or query does not.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any


from connectors.alerting.schema import Schema, check
from connectors.errors import ConfigError
from connectors.yamlfile import read_yaml
from connectors.notifiers import NotifierSpec, notifier_spec
from connectors.notifiers.console import ConsoleSettings

__all__ = [
    "AlertConfig",
    "DEFAULT_RULES_FILE",
    "POLARITIES",
    "Rule",
    "Vocabulary",
    "alert_config_from",
    "default_vocabulary",
    "load_alert_config",
    "load_rules",
    "rule_schema",
]

DEFAULT_RULES_FILE = Path(__file__).resolve().parent.parent / "data" / "alert_rules.yaml"
POLARITIES = ("asserted", "denied")
RULE_ID_PATTERN = r"[a-z0-9][a-z0-9_-]{0,99}"


@dataclass(frozen=True)
class Rule:
    """One alert rule: a Lucene query string and optional filters on the tagged fields.

    `source` and `where` (the file and ``rules[i]``) let later errors,
    such as a query Elasticsearch rejects, point back at the rule.
    """

    id: str
    query: str
    name: str = ""
    actors: tuple[str, ...] = ()
    claim_types: tuple[str, ...] = ()
    polarity: str | None = None
    min_relevance: float | None = None
    description: str | None = None
    source: str | None = field(default=None, compare=False)
    where: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.id)

    @property
    def place(self) -> str:
        """`file: rules[i] (id)` for messages."""
        parts = [p for p in (self.source, self.where) if p]
        return ": ".join(parts + [f"rule {self.id!r}"])


@dataclass(frozen=True)
class Vocabulary:
    """The values the filters may take: what the taggers can put in the documents."""

    actors: frozenset[str]
    claim_types: tuple[str, ...]
    polarities: tuple[str, ...] = POLARITIES


@lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    """The packaged gazetteer's actor ids and the claim tagger's types."""
    from transforms.actors import load_gazetteer
    from transforms.claims import CLAIM_TYPES

    return Vocabulary(actors=frozenset(load_gazetteer().actors), claim_types=tuple(CLAIM_TYPES))


def rule_schema(vocabulary: Vocabulary) -> Schema:
    """The JSON-Schema-like description of one rule."""
    strings = {"type": "string", "minLength": 1}
    return {
        "type": "object",
        "required": ["id", "query"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": RULE_ID_PATTERN,
                   "patternDescription": "an id of lower-case letters, digits, '_' and '-'"},
            "name": strings,
            "description": {"type": "string"},
            "query": strings,
            "actors": {"type": "array", "minItems": 1, "uniqueItems": True, "items": strings},
            "claim_types": {"type": "array", "minItems": 1, "uniqueItems": True,
                            "items": {"type": "string", "enum": list(vocabulary.claim_types)}},
            "polarity": {"type": "string", "enum": list(vocabulary.polarities)},
            "min_relevance": {"type": "number", "minimum": 0, "maximum": 1},
        },
    }


_FILE_SCHEMA: Schema = {
    "type": "object",
    "required": ["rules"],
    "additionalProperties": False,
    "properties": {
        "rules": {"type": "array", "minItems": 1},
        "notifiers": {"type": "array"},
    },
}


@dataclass(frozen=True)
class AlertConfig:
    """The checked rules file: the rules, and where their alerts go."""

    rules: tuple[Rule, ...]
    notifiers: tuple[NotifierSpec, ...]
    source: str | None = None


def load_alert_config(path: str | os.PathLike[str] | None = None, *,
                      vocabulary: Vocabulary | None = None) -> AlertConfig:
    """The rules file at `path` (default: the packaged rules), checked."""
    file = Path(path) if path is not None else DEFAULT_RULES_FILE
    source = os.fspath(path) if path is not None else DEFAULT_RULES_FILE.name
    data = read_yaml(file, source)
    return alert_config_from(data, source=source, base_dir=file.resolve().parent,
                             vocabulary=vocabulary)


def load_rules(path: str | os.PathLike[str] | None = None, *,
               vocabulary: Vocabulary | None = None) -> tuple[Rule, ...]:
    """Only the rules of the rules file."""
    return load_alert_config(path, vocabulary=vocabulary).rules


def alert_config_from(data: Any, *, source: str | None, base_dir: Path,
                      vocabulary: Vocabulary | None = None) -> AlertConfig:
    """Checks parsed YAML; relative notifier paths resolve against `base_dir`."""
    if isinstance(data, list):
        data = {"rules": data}
    check(data, _FILE_SCHEMA, source=source)
    vocabulary = vocabulary or default_vocabulary()
    schema = rule_schema(vocabulary)
    rules: list[Rule] = []
    first: dict[str, int] = {}
    for index, raw in enumerate(data["rules"]):
        where = f"rules[{index}]"
        check(raw, schema, source=source, path=where)
        for position, actor in enumerate(raw.get("actors", ())):
            if actor not in vocabulary.actors:
                close = difflib.get_close_matches(actor, sorted(vocabulary.actors), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"unknown actor id {actor!r}{hint}", source=source,
                                  where=f"{where}.actors[{position}]")
        if raw["id"] in first:
            raise ConfigError(f"duplicate id {raw['id']!r} (first in rules[{first[raw['id']]}])",
                              source=source, where=where)
        first[raw["id"]] = index
        rules.append(Rule(
            id=raw["id"], query=raw["query"].strip(), name=raw.get("name", raw["id"]).strip(),
            actors=tuple(raw.get("actors", ())), claim_types=tuple(raw.get("claim_types", ())),
            polarity=raw.get("polarity"),
            min_relevance=float(raw["min_relevance"]) if "min_relevance" in raw else None,
            description=(raw.get("description") or "").strip() or None, source=source,
            where=where))

    if "notifiers" not in data:
        notifiers: tuple[NotifierSpec, ...] = (NotifierSpec("console", "console", ConsoleSettings()),)
    else:
        specs = []
        names: dict[str, int] = {}
        for index, entry in enumerate(data["notifiers"]):
            where = f"notifiers[{index}]"
            spec = notifier_spec(entry, source=source, where=where, base_dir=base_dir)
            if spec.name in names:
                raise ConfigError(
                    f"duplicate notifier name {spec.name!r} (first in notifiers[{names[spec.name]}]); "
                    f"give one of them a 'name'", source=source, where=where)
            names[spec.name] = index
            specs.append(spec)
        notifiers = tuple(specs)
    return AlertConfig(rules=tuple(rules), notifiers=notifiers, source=source)
