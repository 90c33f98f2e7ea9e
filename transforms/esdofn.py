"""A DoFn base for stages that talk to Elasticsearch: one client per worker, opened in setup()."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apache_beam as beam

__all__ = ["ElasticsearchDoFn"]


class ElasticsearchDoFn(beam.DoFn):
    """Holds a picklable client factory; the client itself never leaves the worker.

    Opening the connection in `setup()` (not `__init__`) is what lets the
    same DoFn run on remote workers (Flink, Dataflow), where the pickled
    DoFn is rebuilt and the connection must be made there.
    """

    def __init__(self, client_factory: Callable[[], Any]):
        self._client_factory = client_factory
        self._client = None

    def setup(self) -> None:
        self._client = self._client_factory()

    def teardown(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
