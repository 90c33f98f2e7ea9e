"""The run lock in Elasticsearch: one run at a time per index, stale locks taken over."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from elasticsearch import Elasticsearch

from connectors.errors import RunLockHeld
from connectors.runlock import LOCK_ID, RunLock, lock_index_name

pytestmark = pytest.mark.es


def stored(client: Elasticsearch, alias: str) -> dict | None:
    response = client.options(ignore_status=404).get(index=lock_index_name(alias), id=LOCK_ID)
    return response["_source"] if response.get("found") else None


def plant(client: Elasticsearch, alias: str, **fields) -> None:
    """A lock document as another run would have left it."""
    setup = RunLock(client, alias, owner="setup", command="run")
    setup.acquire()  # creates the index
    setup.release()
    holder = {"owner": "other-run", "host": "elsewhere", "pid": 1, "command": "run",
              "acquired_at": "2026-01-01T00:00:00Z", "renewed_at": "2026-01-01T00:00:00Z",
              "expires_at": "2999-01-01T00:00:00Z", **fields}
    client.index(index=lock_index_name(alias), id=LOCK_ID, document=holder, refresh=True)


def test_a_second_run_is_refused_while_the_first_holds_the_lock(es_client, es_alias) -> None:
    first = RunLock(es_client, es_alias, owner="run-1", command="run")
    with first.held():
        assert stored(es_client, es_alias)["owner"] == "run-1"
        with pytest.raises(RunLockHeld) as refused:
            RunLock(es_client, es_alias, owner="run-2", command="watch").acquire()
        message = str(refused.value)
        assert "run-1" in message and f"pid {os.getpid()}" in message and "\n" not in message
    assert stored(es_client, es_alias) is None  # released
    with RunLock(es_client, es_alias, owner="run-3", command="run").held():
        assert stored(es_client, es_alias)["owner"] == "run-3"


def test_an_expired_lease_is_taken_over(es_client, es_alias) -> None:
    plant(es_client, es_alias, expires_at="2020-01-01T00:00:00Z")
    lock = RunLock(es_client, es_alias, owner="run-new", command="run")
    lock.acquire()
    assert stored(es_client, es_alias)["owner"] == "run-new"
    lock.release()


def test_a_live_lease_of_another_host_is_respected(es_client, es_alias) -> None:
    plant(es_client, es_alias)
    with pytest.raises(RunLockHeld, match="other-run"):
        RunLock(es_client, es_alias, owner="run-new", command="run").acquire()


def test_the_lock_of_a_dead_process_on_this_host_is_taken_over_at_once(es_client, es_alias) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    plant(es_client, es_alias, host=socket.gethostname(), pid=int(gone.stdout))
    lock = RunLock(es_client, es_alias, owner="run-new", command="run")
    lock.acquire()
    assert stored(es_client, es_alias)["owner"] == "run-new"
    lock.release()


def test_renewal_extends_the_lease_and_release_spares_a_lock_taken_over(es_client, es_alias) -> None:
    lock = RunLock(es_client, es_alias, owner="run-1", command="run", lease_s=60)
    lock.acquire()
    before = stored(es_client, es_alias)["expires_at"]
    es_client.indices.refresh(index=lock_index_name(es_alias))
    assert lock.renew()
    assert stored(es_client, es_alias)["expires_at"] >= before
    # Another run takes the lock over (as after an expired lease): ours is gone.
    es_client.index(index=lock_index_name(es_alias), id=LOCK_ID, refresh=True,
                    document={**stored(es_client, es_alias), "owner": "run-2"})
    assert not lock.renew()
    lock.release()
    assert stored(es_client, es_alias)["owner"] == "run-2"
