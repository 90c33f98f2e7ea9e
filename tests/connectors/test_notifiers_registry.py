"""The notifier registry: `notifiers:` entries checked against each type's schema, then opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.errors import ConfigError
from connectors.notifiers import NOTIFIERS, NotifierSpec, notifier_spec, open_notifiers
from connectors.notifiers.console import ConsoleNotifier
from connectors.notifiers.email import EmailNotifier, EmailSettings
from connectors.notifiers.jsonl import JsonlNotifier
from connectors.notifiers.webhook import WebhookNotifier, WebhookSettings


def spec(entry: dict, base_dir: Path = Path("/srv/alerts")) -> NotifierSpec:
    return notifier_spec(entry, source="rules.yaml", where="notifiers[0]", base_dir=base_dir)


def test_the_registry_names_every_notifier() -> None:
    assert dict(NOTIFIERS) == {"console": ConsoleNotifier, "jsonl": JsonlNotifier,
                               "webhook": WebhookNotifier, "email": EmailNotifier}


def test_entries_become_frozen_settings() -> None:
    hook = spec({"type": "webhook", "name": "slack", "url_env": "HOOK", "retries": 5,
                 "timeout": 3})
    assert (hook.kind, hook.name) == ("webhook", "slack")
    assert hook.settings == WebhookSettings(url_env="HOOK", retries=5, timeout=3.0)
    mail = spec({"type": "email", "host": "smtp.example.org", "port": 587, "starttls": True,
                 "from": "a@example.org", "to": "b@example.org", "username": "a",
                 "password_env": "PW", "ca_certs": "ca.pem"})
    assert mail.name == "email"
    assert mail.settings == EmailSettings(host="smtp.example.org", port=587, starttls=True,
                                          sender="a@example.org", to=("b@example.org",),
                                          username="a", password_env="PW",
                                          ca_certs=Path("/srv/alerts/ca.pem"))
    assert spec({"type": "jsonl", "path": "a.jsonl"}).settings.path == Path("/srv/alerts/a.jsonl")


@pytest.mark.parametrize(("entry", "message"), [
    ({"type": "pager"}, "rules.yaml: notifiers[0].type: must be one of 'console', 'email', "
                        "'jsonl', 'webhook', got 'pager'"),
    ({"path": "a.jsonl"}, "rules.yaml: notifiers[0]: missing 'type'"),
    ("console", "rules.yaml: notifiers[0]: must be a mapping, got 'console'"),
    ({"type": "jsonl"}, "rules.yaml: notifiers[0]: missing 'path'"),
    ({"type": "console", "colour": True}, "rules.yaml: notifiers[0]: unknown key 'colour'"),
    ({"type": "webhook"}, "rules.yaml: notifiers[0]: give either 'url' or 'url_env'"),
    ({"type": "webhook", "url": "ftp://x"}, "notifiers[0].url: 'ftp://x' does not match an "
                                            "http(s) URL"),
    ({"type": "webhook", "url_env": "H", "headers": {"X-Token": 3}},
     "notifiers[0]: headers must map header names to strings"),
    ({"type": "webhook", "url_env": "H", "retries": -1}, "notifiers[0].retries: must be at least 0"),
    ({"type": "webhook", "url_env": "H", "name": "Slack Hook"}, "notifiers[0].name: 'Slack Hook' "
                                                                "does not match a name"),
    ({"type": "email", "host": "h", "from": "a@x.org", "to": []}, "notifiers[0].to: must not be "
                                                                  "empty"),
    ({"type": "email", "host": "h", "from": "a@x.org", "to": ["nobody"]},
     "notifiers[0].to[0]: 'nobody' does not match an address"),
    ({"type": "email", "host": "h", "from": "a@x.org", "to": "b@x.org", "username": "a"},
     "notifiers[0]: a username needs a password"),
    ({"type": "email", "host": "h", "from": "a@x.org", "to": "b@x.org", "ca_certs": "ca.pem"},
     "notifiers[0]: ca_certs needs starttls: true"),
    ({"type": "email", "host": "h", "from": "a@x.org", "to": "b@x.org", "port": 70000},
     "notifiers[0].port: must be at most 65535"),
])
def test_bad_entries_say_what_and_where(entry: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        spec(entry)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_open_notifiers_reads_secrets_when_opening(tmp_path: Path) -> None:
    specs = [spec({"type": "console"}), spec({"type": "webhook", "name": "slack",
                                              "url_env": "HOOK"})]
    with open_notifiers(specs, environ={"HOOK": "https://hooks.example.org/x"}) as opened:
        assert list(opened) == ["console", "slack"]
        assert isinstance(opened["slack"], WebhookNotifier) and opened["slack"].name == "slack"
    with pytest.raises(ConfigError, match="notifier 'slack': environment variable HOOK is not set"):
        with open_notifiers(specs, environ={}):
            pass
