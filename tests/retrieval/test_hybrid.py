"""Hybrid retrieval over a real store with the hash embedder: the lexical cost bound."""

import pytest

from core.fakes import HashEmbedder
from index.manifest import Manifest
from index.types import Document, Passage
from retrieval.hybrid import HybridRetriever

pytestmark = pytest.mark.unit


@pytest.fixture
def store(open_store):
    """The same 40 chunks on each index back-end."""
    embedder = HashEmbedder()
    texts = [f"common filler number {i} about the harbour" for i in range(40)]
    texts[17] = "common filler about the rare sourdough starter"
    store = open_store(Manifest(embedder.model_id, embedder.dimension, 224, 1), create=True)
    for i, text in enumerate(texts):
        put(store, embedder, f"/d/{i}.txt", text)
    return store, embedder


def put(store, embedder, path: str, text: str) -> None:
    """Index `text` as the one passage of the file `path`."""
    store.replace_file(
        path,
        sha256=path,
        size=1,
        mtime=1.0,
        fmt="text",
        documents=[Document(source=path, text=text, format="text", title=path)],
        chunks=[Passage(text=text, source=path, title=path, end=len(text))],
        vectors=embedder.embed([text]),
    )


def test_small_collections_match_every_content_word(store):
    store, embedder = store
    retriever = HybridRetriever(store, embedder, lexical_max_rows=1000)
    found = retriever.lexical("common sourdough", 50)
    assert len(found) == 40  # "common" matches everything: all scored
    assert store.get_chunks([found[0][0]])[found[0][0]].source == "/d/17.txt"


def test_large_collections_leave_out_the_commonest_words(store):
    store, embedder = store
    retriever = HybridRetriever(store, embedder, lexical_max_rows=10)
    found = retriever.lexical("common harbour sourdough", 50)
    assert [store.get_chunks([i])[i].source for i, _ in found] == ["/d/17.txt"]
    assert store.document_counts(["common", "sourdough", "absent"]) == {
        "common": 40,
        "sourdough": 1,
        "absent": 0,
    }


def test_word_counts_follow_writes(store):
    store, embedder = store
    assert store.document_counts(["starter"]) == {"starter": 1}
    store.remove_file("/d/17.txt")
    assert store.document_counts(["starter"]) == {"starter": 0}


def test_a_passage_repeated_under_another_name_gives_its_place_to_the_next(open_store):
    embedder = HashEmbedder()
    store = open_store(Manifest(embedder.model_id, embedder.dimension, 224, 1), create=True)
    article = "The council approved the tram line between the station and the hospital."
    texts = {
        "/news/feed.xml": article,
        "/news/tram.html": "  " + article.upper().replace(" ", "  ") + "\n",  # the same, twice
        "/news/other.txt": "The tram depot opens in 2027 next to the station.",
        "/news/far.txt": "Opening hours of the library change in May.",
    }
    for path, text in texts.items():
        put(store, embedder, path, text)
    hits = HybridRetriever(store, embedder).search("tram line station hospital council", 3)
    sources = [h.passage.source for h in hits]
    assert len(hits) == 3 and "/news/other.txt" in sources and "/news/far.txt" in sources
    assert len({"/news/feed.xml", "/news/tram.html"} & set(sources)) == 1
