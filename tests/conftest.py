"""Shared fixtures: the real local Elasticsearch, and a throw-away alias per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from connectors import es_local
from connectors.errors import LocalServerError
from connectors.es_client import EsSettings, make_client

pytest_plugins = ["tests.feedserver"]  # the `feed_server` fixture


@pytest.fixture(scope="session")
def es_server() -> Iterator[es_local.ServerStatus]:
    """The local server, started once per session; stopped only if this session started it."""
    try:
        result = es_local.start()
    except LocalServerError as exc:
        pytest.fail(f"the local Elasticsearch could not start: {exc}", pytrace=False)
    yield result.status
    if not result.already_running:
        es_local.stop()


@pytest.fixture(scope="session")
def es_client(es_server: es_local.ServerStatus) -> Iterator[Elasticsearch]:
    client = make_client(EsSettings(url=es_server.url))
    yield client
    client.close()


@pytest.fixture
def es_alias(es_client: Elasticsearch) -> Iterator[str]:
    """A unique alias name; its indices and templates are deleted afterwards."""
    alias = f"lw-test-{uuid.uuid4().hex[:8]}"
    yield alias
    delete_everything_named(es_client, alias)


def delete_everything_named(client: Elasticsearch, prefix: str) -> None:
    """Deletes indices and index templates starting with `prefix`, by explicit name.

    The local server sets `action.destructive_requires_name`, so wildcard
    deletes are refused; names are listed first.
    """
    quiet = client.options(ignore_status=404)
    indices = list(quiet.indices.get(index=f"{prefix}*", expand_wildcards="all").body)
    if indices:
        client.indices.delete(index=",".join(indices))
    templates = quiet.indices.get_index_template(name=f"{prefix}*").body.get("index_templates", [])
    for template in templates:
        client.indices.delete_index_template(name=template["name"])
