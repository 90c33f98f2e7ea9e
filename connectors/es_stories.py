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

from connectors.errors import ElasticsearchError, IndexingError
from connectors.es_client import client_url, redacted_url, translating_errors

__all__ = ["StoryCandidate", "StoryUpdateError", "find_story_candidates", "add_outlet_to_story",
           "MAX_CANDIDATES", "BATCH_HITS"]

_HIT_SOURCE = ["story_id", "outlet"]  # a hit's signature is read once, later

# Per new document: the earlier documents sharing most of its band keys. A copy
# shares most bands with its original, so the best match is among the first few;
# a cap keeps a text much like thousands of indexed ones (a daily template, a
# corpus of one topic) from costing thousands of hits each.
MAX_CANDIDATES = 50
_BATCH = 200  # documents per look-up request
BATCH_HITS = 10_000  # hits one batched search may return (the default result window)
_MGET_BATCH = 1000  # signatures per multi-get request


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
                          max_hits: int = MAX_CANDIDATES,
                          known: dict[str, StoryCandidate] | None = None,
                          batch_hits: int = BATCH_HITS) -> dict[str, list[StoryCandidate]]:
    """For each new document id, the (at most `max_hits`) indexed documents sharing most of
    its band keys (ties: smaller id), sorted by id.

    Documents are looked up a batch at a time: one search for every key of
    the batch, its hits handed to the documents whose keys they share. A
    batch with more than `batch_hits` hits (many texts alike) is looked up again with one ranked search per document instead. Hits carry
    only their id, story, outlet and keys; the signatures are read
    afterwards, once per indexed document: `known` (id -> candidate, filled
    here) carries them from one call to the next, so a document that is a
    candidate of many new ones is read and held once. A missing index means
    no candidates.
    """
    keys_by_doc = {doc: list(dict.fromkeys(keys)) for doc, keys in band_keys_by_doc.items() if keys}
    if not keys_by_doc:
        return {}
    known = {} if known is None else known
    hits_by_doc: dict[str, list[dict[str, Any]]] = {}
    docs = sorted(keys_by_doc)
    for start in range(0, len(docs), _BATCH):
        batch = docs[start:start + _BATCH]
        found = _batched_search(client, alias, batch, keys_by_doc, max_hits, batch_hits)
        if found is None:
            found = _search_each(client, alias, batch, keys_by_doc, max_hits)
        hits_by_doc.update(found)
    _read_signatures(client, alias, hits_by_doc, known)
    return {doc: sorted((known[hit["_id"]] for hit in hits), key=lambda c: c.id)
            for doc, hits in hits_by_doc.items()}


def _batched_search(client: Elasticsearch, alias: str, docs: Sequence[str],
                    keys_by_doc: Mapping[str, list[str]],
                    max_hits: int, batch_hits: int) -> dict[str, list[dict[str, Any]]] | None:
    """Each document's best hits from one search over all the batch's keys; None if cut off."""
    keys = sorted({key for doc in docs for key in keys_by_doc[doc]})
    with translating_errors(f"looking up earlier stories in '{alias}'", client_url(client)):
        response = client.search(index=alias, query={"bool": {"filter": [
                                     {"terms": {"minhash_bands": keys}}]}},
                                 size=batch_hits, source=[*_HIT_SOURCE, "minhash_bands"],
                                 track_total_hits=batch_hits + 1,
                                 ignore_unavailable=True, allow_no_indices=True)
    hits = response["hits"]["hits"]
    if response["hits"]["total"]["value"] > len(hits):
        return None
    holding: dict[str, list[int]] = {}  # key -> positions of the hits that hold it
    for position, hit in enumerate(hits):
        for key in dict.fromkeys(hit["_source"].get("minhash_bands") or ()):
            holding.setdefault(key, []).append(position)
    found = {}
    for doc in docs:
        shared: dict[int, int] = {}
        for key in keys_by_doc[doc]:
            for position in holding.get(key, ()):
                shared[position] = shared.get(position, 0) + 1
        best = sorted(shared, key=lambda p: (-shared[p], hits[p]["_id"]))[:max_hits]
        found[doc] = [hits[p] for p in best]
    return found


def _search_each(client: Elasticsearch, alias: str, docs: Sequence[str],
                 keys_by_doc: Mapping[str, list[str]],
                 max_hits: int) -> dict[str, list[dict[str, Any]]]:
    """Each document's best hits from a search of its own, ranked by keys shared (each counts 1)."""
    url = client_url(client)
    searches: list[dict[str, Any]] = []
    for doc in docs:
        should = [{"constant_score": {"filter": {"term": {"minhash_bands": key}}}}
                  for key in keys_by_doc[doc]]
        searches += [{"index": alias, "ignore_unavailable": True, "allow_no_indices": True},
                     {"query": {"bool": {"should": should}}, "sort": ["_score", {"id": "asc"}],
                      "size": max_hits, "_source": _HIT_SOURCE, "track_total_hits": False}]
    with translating_errors(f"looking up earlier stories in '{alias}'", url):
        responses = client.msearch(searches=searches)["responses"]
    found = {}
    for doc, response in zip(docs, responses):
        if "error" in response:
            raise ElasticsearchError(f"looking up earlier stories in '{alias}': Elasticsearch "
                                     f"at {redacted_url(url)} answered {_reason(response)}")
        found[doc] = response["hits"]["hits"]
    return found


def _read_signatures(client: Elasticsearch, alias: str,
                     hits_by_doc: Mapping[str, Sequence[Mapping[str, Any]]],
                     known: dict[str, StoryCandidate]) -> None:
    """Adds to `known` every hit not yet in it, with its signature read from the index."""
    missing = {hit["_id"]: (hit["_index"], hit.get("_source") or {})
               for hits in hits_by_doc.values() for hit in hits if hit["_id"] not in known}
    ids = sorted(missing)
    url = client_url(client)
    for start in range(0, len(ids), _MGET_BATCH):
        batch = ids[start:start + _MGET_BATCH]
        with translating_errors(f"reading the signatures of earlier stories in '{alias}'", url):
            response = client.mget(docs=[{"_index": missing[i][0], "_id": i} for i in batch],
                                   source=["minhash"])
        for found in response["docs"]:
            doc_id = found["_id"]
            source = missing[doc_id][1]
            known[doc_id] = StoryCandidate(
                id=doc_id, story_id=source.get("story_id") or doc_id,
                minhash=tuple((found.get("_source") or {}).get("minhash") or ()),
                outlet=source.get("outlet"))


def _reason(response: Mapping[str, Any]) -> str:
    error = response.get("error") or {}
    if isinstance(error, Mapping):
        cause = (error.get("root_cause") or [error])[0]
        return f"{response.get('status', '?')} {cause.get('type', '')}: {cause.get('reason', '')}"
    return f"{response.get('status', '?')} {error}"


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
