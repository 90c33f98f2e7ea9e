"""Connection settings, redaction, and reachability against real servers on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from elasticsearch import Elasticsearch

from connectors import es_local
from connectors.errors import ConfigError, ElasticsearchUnavailable
from connectors.es_client import EsSettings, check_reachable, make_client, redacted_url

SECRET = "hunter2-S3cret"


@pytest.mark.parametrize(("url", "expected"), [
    ("http://elastic:pw@127.0.0.1:9200", "http://127.0.0.1:9200"),
    ("https://user@es.example.org/prefix?x=1", "https://es.example.org/prefix?x=1"),
    ("http://a:b:c@[::1]:9200/", "http://[::1]:9200/"),
    ("http://127.0.0.1:9200", "http://127.0.0.1:9200"),
])
def test_redacted_url_drops_userinfo(url: str, expected: str) -> None:
    assert redacted_url(url) == expected


def test_credentials_in_the_url_move_out_and_never_show() -> None:
    settings = EsSettings(url=f"https://elastic:{SECRET}@es.example.org:9243")
    assert settings.url == "https://es.example.org:9243"
    assert (settings.username, settings.password) == ("elastic", SECRET)
    assert SECRET not in repr(settings) and SECRET not in str(settings)


def test_api_key_never_shows() -> None:
    settings = EsSettings(url="https://es.example.org", api_key=SECRET)
    assert SECRET not in repr(settings)
    assert "api_key='***'" in repr(settings)


def test_flags_win_over_environment_and_environment_fills_the_rest() -> None:
    env = {"ES_URL": "http://env-host:9200", "ES_USERNAME": "env-user", "ES_PASSWORD": "env-pw",
           "ES_CA_CERTS": "/env/ca.pem"}
    settings = EsSettings.from_flags(url="https://flag-host:9243", request_timeout=5,
                                     environ=env)
    assert settings.url == "https://flag-host:9243"
    assert (settings.username, settings.password, settings.ca_certs) == (
        "env-user", "env-pw", "/env/ca.pem")
    assert settings.request_timeout == 5.0


def test_nothing_set_means_the_local_server() -> None:
    assert EsSettings.from_flags(environ={}).url == es_local.url()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"url": "ftp://es.example.org"}, "Elasticsearch URL: expected http(s)://host[:port]"),
    ({"url": "http://127.0.0.1:99999"}, "Elasticsearch URL: not a valid URL"),
    ({"url": "http://h", "api_key": "k", "username": "u", "password": "p"},
     "either an API key or a username and password"),
    ({"url": "http://h", "username": "u"}, "a username needs a password"),
])
def test_bad_settings_are_one_line_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        EsSettings(**kwargs)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_url_is_one_line_without_the_password() -> None:
    port = _closed_port()
    settings = EsSettings(url=f"http://elastic:{SECRET}@127.0.0.1:{port}", request_timeout=5)
    with pytest.raises(ElasticsearchUnavailable) as caught:
        check_reachable(make_client(settings, max_retries=0), settings)
    message = str(caught.value)
    assert message == (f"connecting: Elasticsearch at http://127.0.0.1:{port} is unreachable: "
                       "connection refused")
    assert SECRET not in message and SECRET not in repr(caught.value)


class _FakeCluster(BaseHTTPRequestHandler):
    """Answers every request with a fixed status, body and headers."""

    status = 200
    headers_out: dict[str, str] = {}
    body: dict = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        payload = json.dumps(self.body).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        for name, value in self.headers_out.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_cluster(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (_FakeCluster,), request.param)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("fake_cluster", [{
    "status": 401, "headers_out": {"X-Elastic-Product": "Elasticsearch"},
    "body": {"error": {"type": "security_exception",
                       "reason": "unable to authenticate user [elastic]"}, "status": 401},
}], indirect=True)
def test_refused_credentials_say_so_without_the_password(fake_cluster: str) -> None:
    settings = EsSettings(url=fake_cluster, username="elastic", password=SECRET)
    with pytest.raises(ElasticsearchUnavailable) as caught:
        check_reachable(make_client(settings), settings)
    message = str(caught.value)
    assert message.startswith(
        f"connecting: Elasticsearch at {fake_cluster} refused our credentials")
    assert "401 security_exception" in message and SECRET not in message


@pytest.mark.parametrize("fake_cluster", [{"status": 200, "body": {"status": "green"}}],
                         indirect=True)
def test_a_server_that_is_not_elasticsearch_is_named_as_such(fake_cluster: str) -> None:
    settings = EsSettings(url=fake_cluster)
    with pytest.raises(ElasticsearchUnavailable, match="the server at .* is not Elasticsearch"):
        check_reachable(make_client(settings), settings)


@pytest.mark.es
def test_check_reachable_returns_cluster_health(es_client: Elasticsearch,
                                                es_server: es_local.ServerStatus) -> None:
    health = check_reachable(es_client, EsSettings(url=es_server.url))
    assert health["cluster_name"] == "libya-watch"
    assert health["status"] in ("green", "yellow")
