import re

import pytest

from core.sentences import sentence_spans
from index.types import Document, Span
from ingest.chunking import chunk_document, embedding_text

pytestmark = pytest.mark.unit


def words(text: str) -> int:
    """A stand-in tokenizer: one token per word or punctuation mark, plus two specials."""
    return len(re.findall(r"\w+|[^\w\s]", text)) + 2


def doc(text: str, **kw) -> Document:
    return Document(source="/d/a.md", text=text, format="markdown", title="Doc", **kw)


def test_sentence_spans_break_on_sentences_and_lines():
    text = "First one. Second one?\n- item a\n\nLast (really)! end"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "First one.",
        "Second one?",
        "- item a",
        "Last (really)!",
        "end",
    ]


def test_every_chunk_fits_the_budget_including_its_heading():
    sentence = "The encoder stack has six identical layers with attention. "
    d = doc(sentence * 60, sections=(Span(0, len(sentence) * 60, "Doc > Encoder"),))
    chunks = chunk_document(d, words, max_tokens=40, overlap_sentences=1)
    assert len(chunks) > 5
    for c in chunks:
        assert words(embedding_text(c)) <= 40
        assert c.text == d.text[c.start : c.end]
        assert c.section == "Doc > Encoder"


def test_chunks_cover_all_text_and_overlap_by_one_sentence():
    sentences = [f"Sentence number {i} is here." for i in range(30)]
    d = doc(" ".join(sentences))
    chunks = chunk_document(d, words, max_tokens=60, overlap_sentences=1)
    assert len(chunks) > 3
    covered = " ".join(c.text for c in chunks)
    assert all(s in covered for s in sentences)
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        last_sentence = sentence_spans(prev.text)[-1]
        assert nxt.text.startswith(prev.text[last_sentence[0] : last_sentence[1]])


def test_chunks_never_cross_sections_or_pages():
    text = "Alpha text here. More alpha.\nBeta text here. More beta."
    cut = text.index("Beta")
    d = doc(
        text,
        sections=(Span(0, cut, "A"), Span(cut, len(text), "B")),
        pages=(Span(0, cut, "1"), Span(cut, len(text), "2")),
    )
    chunks = chunk_document(d, words, max_tokens=200)
    assert [(c.section, c.page) for c in chunks] == [("A", 1), ("B", 2)]
    assert chunks[1].text.startswith("Beta")


def test_a_sentence_longer_than_the_budget_is_cut_into_word_windows():
    d = doc(" ".join(f"w{i}" for i in range(500)))
    chunks = chunk_document(d, words, max_tokens=50)
    assert len(chunks) >= 10
    assert all(words(embedding_text(c)) <= 50 for c in chunks)
    assert chunks[-1].text.endswith("w499")


def test_an_unbroken_token_run_is_cut_by_characters():
    d = doc("x" * 5000)
    counter = lambda s: len(s) // 4 + 2  # noqa: E731 - a tokenizer where long words cost more
    chunks = chunk_document(d, counter, max_tokens=64)
    assert sum(len(c.text) for c in chunks) == 5000
    assert all(counter(embedding_text(c)) <= 64 for c in chunks)


def test_a_heading_that_fills_the_budget_is_an_error():
    d = doc("text", sections=(Span(0, 4, "word " * 100),))
    with pytest.raises(ValueError, match="leaves no room"):
        chunk_document(d, words, max_tokens=50)


def test_whitespace_only_documents_make_no_chunks():
    assert chunk_document(doc("  \n\n  "), words, max_tokens=50) == []


def test_a_section_holding_only_its_heading_makes_no_chunk():
    text = "Setup\nInstall\nRun the installer."
    cut = text.index("Install")
    install = "Guide > Setup > Install"
    d = doc(text, sections=(Span(0, cut, "Guide > Setup"), Span(cut, len(text), install)))
    assert [c.section for c in chunk_document(d, words, max_tokens=100)] == [install]
