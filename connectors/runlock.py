"""One run at a time per index: a lease kept in Elasticsearch, so it holds across machines.

A scheduled job may fire while the last one is still running, or two
machines may share one cluster. Both would fetch the same feeds and race
on the same documents. The lock is one document (`_id` "run") in
`<alias>-lock`, created with `op_type=create`, so exactly one run wins.

The holder renews its lease from a background thread. A holder that died
leaves a lock that expires after `lease_s`; on the same host a dead holder's
lock is taken over at once (its pid is gone). Taking over and releasing use
the document's sequence number, so a run never deletes a lock it no longer
holds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from connectors.errors import LibyaWatchError, RunLockHeld
from connectors.es_client import client_url, translating_errors
from connectors.es_index import ensure_aux_index, validate_index_name
from connectors.schedule import format_time, parse_time

__all__ = ["RunLock", "LockHolder", "lock_index_name", "stored_lock", "LOCK_ID", "DEFAULT_LEASE_S"]

LOCK_ID = "run"
DEFAULT_LEASE_S = 300.0

log = logging.getLogger(__name__)

# Locks this process holds now: a stored lock naming this pid but absent
# here was left by an earlier run of this process that could not release it.
_HELD_HERE: set[str] = set()


def lock_index_name(alias: str) -> str:
    return f"{alias}-lock"


def _mappings() -> dict[str, Any]:
    return {"dynamic": False, "properties": {
        "owner": {"type": "keyword"}, "host": {"type": "keyword"}, "pid": {"type": "integer"},
        "command": {"type": "keyword"}, "acquired_at": {"type": "date"},
        "renewed_at": {"type": "date"}, "expires_at": {"type": "date"}}}


def stored_lock(client: Elasticsearch, index: str) -> dict[str, Any] | None:
    """The lock document of `index` (`_source`, `_seq_no`, ...), or None when no run holds it."""
    with translating_errors(f"reading the run lock in '{index}'", client_url(client)):
        response = client.options(ignore_status=404).get(index=index, id=LOCK_ID)
    return dict(response.body) if response.get("found") else None


@dataclass(frozen=True)
class LockHolder:
    """Who holds the lock, as stored."""

    owner: str
    host: str
    pid: int
    command: str
    acquired_at: str
    renewed_at: str
    expires_at: str

    def expired(self, now: datetime) -> bool:
        return parse_time(self.expires_at) <= now

    def dead_here(self, index: str) -> bool:
        """Held by a process of this host that no longer exists, or by this one, earlier."""
        if self.host != socket.gethostname():
            return False
        if self.pid == os.getpid():
            return index not in _HELD_HERE
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, another user's
        return False

    def describe(self) -> str:
        return (f"run {self.owner} ({self.command}, pid {self.pid} on {self.host}) since "
                f"{self.acquired_at}, lease until {self.expires_at}")


class RunLock:
    """The run lock of one alias; use `held()` around a run or a watcher's lifetime."""

    def __init__(self, client: Elasticsearch, alias: str, owner: str, command: str,
                 lease_s: float = DEFAULT_LEASE_S) -> None:
        self.client = client
        self.index = validate_index_name(lock_index_name(alias))
        self.owner = owner
        self.command = command
        self.lease_s = lease_s
        self._version: tuple[int, int] | None = None
        self._acquired_at: str | None = None
        self.lost = False  # set when a renewal finds the lock taken over
        self._guard = threading.Lock()

    def _holder(self, acquired_at: str | None = None) -> LockHolder:
        now = datetime.now(timezone.utc)
        return LockHolder(owner=self.owner, host=socket.gethostname(), pid=os.getpid(),
                          command=self.command, acquired_at=acquired_at or format_time(now),
                          renewed_at=format_time(now),
                          expires_at=format_time(now + timedelta(seconds=self.lease_s)))

    def current(self) -> tuple[LockHolder, tuple[int, int]] | None:
        """The stored holder and its version, or None when the lock is free."""
        doc = stored_lock(self.client, self.index)
        if doc is None:
            return None
        return LockHolder(**doc["_source"]), (doc["_seq_no"], doc["_primary_term"])

    def acquire(self) -> None:
        """Takes the lock, or raises `RunLockHeld` naming the live holder."""
        ensure_aux_index(self.client, self.index, _mappings())
        holder = self._holder()
        where = f"taking the run lock in '{self.index}'"
        with translating_errors(where, client_url(self.client)):
            try:
                response = self.client.create(index=self.index, id=LOCK_ID,
                                              document=asdict(holder), refresh=True)
            except ConflictError:
                response = None
        if response is None:
            found = self.current()
            if found is None:
                return self.acquire()  # released in between
            other, version = found
            if not (other.expired(datetime.now(timezone.utc)) or other.dead_here(self.index)):
                raise RunLockHeld(f"another run holds the lock on '{self.index}': "
                                  f"{other.describe()}; not starting")
            log.warning("taking over a stale run lock: %s", other.describe())
            with translating_errors(where, client_url(self.client)):
                try:
                    response = self.client.index(
                        index=self.index, id=LOCK_ID, document=asdict(holder),
                        if_seq_no=version[0], if_primary_term=version[1], refresh=True)
                except ConflictError as exc:
                    raise RunLockHeld(f"another run took the stale lock on '{self.index}' "
                                      "at the same moment; not starting") from exc
        self._version = (response["_seq_no"], response["_primary_term"])
        self._acquired_at = holder.acquired_at
        _HELD_HERE.add(self.index)

    def renew(self) -> bool:
        """Extends the lease; False when the lock is no longer ours (taken over after expiry)."""
        with self._guard:
            if self._version is None:
                return False
            holder = self._holder(self._acquired_at)
            with translating_errors(f"renewing the run lock in '{self.index}'",
                                    client_url(self.client)):
                try:
                    response = self.client.index(
                        index=self.index, id=LOCK_ID, document=asdict(holder),
                        if_seq_no=self._version[0], if_primary_term=self._version[1])
                except (ConflictError, NotFoundError):
                    self._version = None
                    return False
            self._version = (response["_seq_no"], response["_primary_term"])
            return True

    def release(self) -> None:
        """Deletes the lock if it is still ours; a lock taken over by another is left alone."""
        with self._guard:
            if self._version is None:
                return
            version, self._version = self._version, None
            _HELD_HERE.discard(self.index)
            with translating_errors(f"releasing the run lock in '{self.index}'",
                                    client_url(self.client)):
                try:
                    self.client.delete(index=self.index, id=LOCK_ID, if_seq_no=version[0],
                                       if_primary_term=version[1], refresh=True)
                except (ConflictError, NotFoundError):
                    log.warning("the run lock on '%s' was no longer ours at release", self.index)

    @contextmanager
    def held(self) -> Iterator[RunLock]:
        """Holds the lock for the block, renewing it every third of the lease."""
        self.acquire()
        stop = threading.Event()
        renewer = threading.Thread(target=self._keep_renewing, args=(stop,),
                                   name="run-lock-renewer", daemon=True)
        renewer.start()
        try:
            yield self
        except BaseException:
            stop.set()
            renewer.join()
            try:
                self.release()
            except LibyaWatchError as exc:  # the run's own error says more; the lease expires
                log.info("could not release the run lock on '%s': %s", self.index, exc)
            raise
        stop.set()
        renewer.join()
        self.release()

    def _keep_renewing(self, stop: threading.Event) -> None:
        while not stop.wait(self.lease_s / 3):
            try:
                if not self.renew():
                    self.lost = True
                    log.error("lost the run lock on '%s': another run took it over after "
                              "the lease expired", self.index)
                    return
            except LibyaWatchError as exc:  # an outage: keep trying, the lease may still hold
                log.warning("could not renew the run lock on '%s': %s", self.index, exc)
