"""Stories in Elasticsearch: finding earlier copies by band key, and counting a story's outlets.

Every indexed document carries its MinHash band keys (`minhash_bands`) and
signature (`minhash`); a new document looks for earlier documents sharing a
band key and verifies them itself. A story's first document holds
`story_outlets` and `story_size`. Those change when a copy arrives in a later
run, possibly from several workers at once; the local server has no scripts,
so the update is a read and a conditional write (`if_seq_no` /
`if_primary_term`), repeated when another writer came first.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from elasticsearch import ConflictError, Elasticsearch

from connectors.errors import IndexingError
from connectors.es_client import client_url, translating_errors

__all__ = ["StoryCandidate", "StoryUpdateError", "find_story_candidates", "add_outlet_to_story",
           "MAX_CANDIDATES"]

MAX_CANDIDATES = 10_000  # hits per search (Elasticsearch's default result window)
_SOURCE = ["story_id", "minhash", "outlet", "minhash_bands"]


class StoryUpdateError(IndexingError):
    """A story's first document could not be updated: missing, or changed by others every time."""


@dataclass(frozen=True)
class StoryCandidate:
    """An indexed document that shares a band key with a new one."""

    id: str
    story_id: str
    minhash: tuple[int, ...]
    outlet: str | None


def find_story_candidates(client: Elasticsearch, alias: str,
                          band_keys_by_doc: Mapping[str, Sequence[str]],
                          max_hits: int = MAX_CANDIDATES) -> dict[str, list[StoryCandidate]]:
    """For each new document id, the indexed documents sharing one of its band keys.

    One search for the whole batch; the hits are handed back to the documents
    whose keys they share. A batch with more hits than `max_hits` is split in
    two and looked up again, so no candidate is cut off; a single document
    with that many gets the `max_hits` sharing most of its keys. Candidates
    come sorted by id. A missing index means no candidates.
    """
    keys_by_doc = {doc: list(dict.fromkeys(keys)) for doc, keys in band_keys_by_doc.items() if keys}
    if not keys_by_doc:
        return {}
    found: dict[str, list[StoryCandidate]] = {doc: [] for doc in keys_by_doc}
    pending = [sorted(keys_by_doc)]
    while pending:
        docs = pending.pop()
        hits, complete = _search(client, alias, docs, keys_by_doc, max_hits)
        if not complete and len(docs) > 1:
            middle = len(docs) // 2
            pending += [docs[:middle], docs[middle:]]
            continue
        # Each hit is read once and reached through its keys, so a batch costs the
        # keys its documents hold, not documents times hits.
        candidates = [_candidate(hit) for hit in hits]
        holding: dict[str, list[int]] = {}
        for position, hit in enumerate(hits):
            for key in dict.fromkeys(hit["_source"].get("minhash_bands") or ()):
                holding.setdefault(key, []).append(position)
        for doc in docs:
            positions = {position for key in keys_by_doc[doc] for position in holding.get(key, ())}
            found[doc] = sorted((candidates[position] for position in sorted(positions)),
                                key=lambda c: c.id)
    return found


def _search(client: Elasticsearch, alias: str, docs: list[str],
            keys_by_doc: Mapping[str, list[str]],
            max_hits: int) -> tuple[list[dict[str, Any]], bool]:
    """The hits sharing a key with these documents, and whether they are all of them."""
    if len(docs) == 1:
        # Scored by the number of shared keys, so a cut keeps the closest.
        query: dict[str, Any] = {"bool": {"should": [{"term": {"minhash_bands": key}}
                                                     for key in keys_by_doc[docs[0]]]}}
        sort: list[Any] = ["_score", {"id": "asc"}]
    else:
        keys = sorted({key for doc in docs for key in keys_by_doc[doc]})
        query = {"bool": {"filter": [{"terms": {"minhash_bands": keys}}]}}
        sort = [{"id": "asc"}]
    with translating_errors(f"looking up earlier stories in '{alias}'", client_url(client)):
        response = client.search(index=alias, query=query, sort=sort, size=max_hits,
                                 source=_SOURCE, track_total_hits=max_hits + 1,
                                 ignore_unavailable=True, allow_no_indices=True)
    hits = response["hits"]["hits"]
    return hits, response["hits"]["total"]["value"] <= len(hits)


def _candidate(hit: Mapping[str, Any]) -> StoryCandidate:
    source = hit.get("_source") or {}
    return StoryCandidate(id=hit["_id"], story_id=source.get("story_id") or hit["_id"],
                          minhash=tuple(source.get("minhash") or ()), outlet=source.get("outlet"))


def add_outlet_to_story(client: Elasticsearch, alias: str, head_id: str, outlet: str | None,
                        member_id: str, max_attempts: int = 20) -> None:
    """Counts document `member_id` in the story headed by `head_id`, adding its outlet.

    Reads the head with its sequence number and writes it back only if no
    one wrote in between; on a conflict it reads again, at most
    `max_attempts` times. The head keeps the ids of its members
    (`story_members`, in `_source` only) and `story_size` is their number,
    so adding the same member twice (a retried bundle) changes nothing. A
    head indexed before stories existed counts as a story of one document
    from its own outlet. Raises `StoryUpdateError` when the head is not in
    the index or the attempts run out.
    """
    where = f"story '{head_id}' in '{alias}'"
    url = client_url(client)
    with translating_errors(f"finding {where}", url):
        # The alias may span several indices, and a get needs the one that holds the head.
        response = client.search(index=alias, query={"ids": {"values": [head_id]}}, size=1,
                                 source=False, ignore_unavailable=True, allow_no_indices=True)
    hits = response["hits"]["hits"]
    if not hits:
        raise StoryUpdateError(f"updating {where}: its first document is not in the index")
    index = hits[0]["_index"]
    for attempt in range(max_attempts):
        if attempt:
            time.sleep(random.uniform(0, 0.005 * min(attempt, 10)))
        with translating_errors(f"reading {where}", url):
            current = client.get(index=index, id=head_id)
        document = dict(current["_source"])
        members = set(document.get("story_members") or [head_id])
        if member_id in members:
            return
        members.add(member_id)
        outlets = set(document.get("story_outlets")
                      or ([document["outlet"]] if document.get("outlet") else []))
        if outlet:
            outlets.add(outlet)
        document["story_outlets"] = sorted(outlets)
        document["story_members"] = sorted(members)
        document["story_size"] = max(int(document.get("story_size") or 1), len(members) - 1) + 1
        with translating_errors(f"updating {where}", url):
            try:
                client.index(index=index, id=head_id, document=document,
                             if_seq_no=current["_seq_no"], if_primary_term=current["_primary_term"])
            except ConflictError:
                continue
        return
    raise StoryUpdateError(
        f"updating {where}: other writers changed it {max_attempts} times in a row")
