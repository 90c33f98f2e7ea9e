"""The webhook notifier against a real HTTP receiver on 127.0.0.1: payload, retries, idempotency."""

from __future__ import annotations

import socket

import pytest

from connectors.alerting.model import Alert
from connectors.errors import ConfigError
from connectors.notifiers.webhook import WebhookNotifier, WebhookSettings, slack_payload
from tests.connectors.webhook_receiver import WebhookReceiver


def alert(n: int, **changes) -> Alert:
    values = dict(rule_id="wagner-libya", rule_name="Wagner in Libya", story_id=f"story-{n}",
                  doc_id=f"doc-{n}", title=f"Wagner <fighters> & Libya {n}",
                  url=f"https://news.example.org/{n}", published="2025-03-01T10:00:00Z",
                  matched_at="2025-03-01T11:00:00Z", outlet="Example News")
    values.update(changes)
    return Alert(**values)


def notifier(url: str, delays: list[float], **settings) -> WebhookNotifier:
    values = {"url": url, "retries": 3, "backoff": 0.25, "timeout": 5.0, **settings}
    return WebhookNotifier(WebhookSettings(**values), sleep=delays.append)


def test_a_receiver_that_fails_twice_gets_each_alert_once_with_backoff() -> None:
    delays: list[float] = []
    alerts = [alert(1), alert(2)]
    with WebhookReceiver(500, 503, 200) as receiver:
        results = notifier(receiver.url, delays).send(alerts)
    assert [(r.alert_id, r.ok, r.attempts) for r in results] == [
        (alerts[0].id, True, 3), (alerts[1].id, True, 1)]
    assert receiver.accepted_keys() == {alerts[0].id: 1, alerts[1].id: 1}
    assert len(receiver.posts) == 4
    assert delays == [0.25, 0.5]  # exponential


def test_the_payload_is_slack_compatible_and_carries_the_idempotency_key() -> None:
    one = alert(1)
    with WebhookReceiver(200) as receiver:
        notifier(receiver.url, []).send([one])
    post = receiver.posts[0]
    assert post.headers["idempotency-key"] == one.id
    assert post.headers["content-type"] == "application/json"
    assert post.body == slack_payload(one)
    assert post.body["text"].startswith("libya-watch: Wagner in Libya: Wagner <fighters>")
    section = post.body["blocks"][0]["text"]["text"]
    # Slack's control characters are escaped inside the link text.
    assert section == ("*Wagner in Libya*\n<https://news.example.org/1|"
                       "Wagner &lt;fighters&gt; &amp; Libya 1>")
    assert "story `story-1`" in post.body["blocks"][1]["elements"][0]["text"]


def test_429_waits_for_retry_after_capped() -> None:
    delays: list[float] = []
    with WebhookReceiver(429, 200, retry_after="120") as receiver:
        results = notifier(receiver.url, delays, retry_after_max=5.0).send([alert(1)])
    assert results[0].ok and delays == [5.0]


def test_a_client_error_is_not_retried_and_is_reported_without_the_secret_url() -> None:
    delays: list[float] = []
    with WebhookReceiver(400) as receiver:
        results = notifier(receiver.url, delays).send([alert(1), alert(2)])
    assert [r.ok for r in results] == [False, False]
    assert len(receiver.posts) == 2 and delays == []  # each tried once, the next still tried
    assert "HTTP 400" in results[0].error
    assert "secret-token" not in results[0].error and "127.0.0.1" in results[0].error


def test_an_endpoint_that_stays_down_fails_the_batch_after_one_alert_used_its_retries() -> None:
    delays: list[float] = []
    with WebhookReceiver(503) as receiver:
        results = notifier(receiver.url, delays, retries=2).send([alert(1), alert(2)])
    assert [(r.ok, r.attempts) for r in results] == [(False, 3), (False, 0)]
    assert len(receiver.posts) == 3
    assert "HTTP 503" in results[0].error and results[1].error.startswith("not tried")


def test_a_refused_connection_is_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    delays: list[float] = []
    results = notifier(f"http://127.0.0.1:{port}/hook", delays, retries=1).send([alert(1)])
    assert not results[0].ok and results[0].attempts == 2 and delays == [0.25]
    assert "ConnectError" in results[0].error


def test_the_url_can_come_from_the_environment() -> None:
    with WebhookReceiver(200) as receiver:
        hook = WebhookNotifier(WebhookSettings(url_env="HOOK"), environ={"HOOK": receiver.url})
        assert hook.send([alert(1)])[0].ok
    with pytest.raises(ConfigError, match="environment variable HOOK is not set"):
        WebhookNotifier(WebhookSettings(url_env="HOOK"), environ={})


def test_extra_headers_from_the_rules_file_are_sent(tmp_path) -> None:
    settings = WebhookNotifier.settings_from(
        {"url": "http://127.0.0.1/", "headers": {"Authorization": "Bearer abc"}}, base_dir=tmp_path)
    with WebhookReceiver(200) as receiver:
        WebhookNotifier(WebhookSettings(url=receiver.url, headers=settings.headers)).send([alert(1)])
    assert receiver.posts[0].headers["authorization"] == "Bearer abc"
    assert receiver.posts[0].headers["user-agent"].startswith("libya-watch/")


def test_nothing_to_send_posts_nothing() -> None:
    with WebhookReceiver(200) as receiver:
        assert notifier(receiver.url, []).send([]) == []
    assert receiver.posts == []


def test_settings_repr_hides_the_url() -> None:
    assert "secret" not in repr(WebhookSettings(url="https://hooks.example/secret"))
