"""Parsers: clean text, heading paths, metadata, page spans, and failures named precisely."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from index.types import Document
from ingest.errors import EmptyDocumentError, ParseError, UnsupportedFormatError
from ingest.parsers import parse
from ingest.parsers.html import html_to_text

pytestmark = pytest.mark.unit

TAG = re.compile(r"</?[a-zA-Z][^>]*>")
ENTITY = re.compile(r"&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);")


def assert_spans_cover(doc: Document, spans: tuple) -> None:
    """Spans are sorted, contiguous and run from 0 to the end of the text."""
    assert spans, "expected spans"
    assert spans[0].start == 0
    assert spans[-1].end == len(doc.text)
    for before, after in zip(spans, spans[1:], strict=False):
        assert before.end == after.start


def section_of(doc: Document, needle: str) -> str:
    position = doc.text.index(needle)
    return next(s.label for s in doc.sections if s.start <= position < s.end)


# -- Markdown ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def post(formats_dir: Path) -> Document:
    data = (formats_dir / "front_matter_post.txt").read_bytes()
    [doc] = parse(data, "/notes/front_matter_post.txt", "markdown")
    return doc


def test_front_matter_becomes_metadata_not_text(post: Document) -> None:
    assert post.title == "Understanding Transformer Models"
    assert post.metadata["date"] == "2026-01-10"
    assert post.metadata["tags"] == ["Transformers", "Attention", "BERT"]
    assert post.metadata["read_time"] == 15
    json.dumps(post.metadata)  # must be serialisable as stored
    assert "layout" not in post.text and "---" not in post.text
    assert post.text.startswith("The transformer architecture")


def test_markdown_heading_paths(post: Document) -> None:
    root = "Understanding Transformer Models"  # front-matter title stands in for the H1
    assert section_of(post, "Before transformers") == f"{root} > The Pre-Transformer Era"
    assert section_of(post, "See the paper") == (
        f"{root} > The Transformer Revolution > 1. Self-Attention Mechanism"
    )
    assert section_of(post, "BERT | Encoder") == f"{root} > Transformer Variants"
    assert_spans_cover(post, post.sections)


def test_markdown_clean_text(post: Document) -> None:
    text = post.text
    assert "natural language processing" in text and "**" not in text
    assert "recurrent networks" in text and "*recurrent*" not in text
    assert "- RNNs: Processed sequences step-by-step" in text
    assert "See the paper for details. Attention diagram" in text
    assert "arxiv.org" not in text and "attention.png" not in text
    assert "editor note" not in text
    assert "# This comment is code, not a heading" in text  # fenced code kept verbatim
    assert "Model | Type\nBERT | Encoder" in text
    assert "Transformer Variants\n\n" in text and "-----" not in text
    assert "\n\n\n" not in text


def test_markdown_code_fence_hides_headings() -> None:
    data = b"# Real\n\n```\n# fake heading\n```\n\nafter\n"
    [doc] = parse(data, "x.md", "markdown")
    assert {s.label for s in doc.sections} == {"Real"}
    assert doc.title == "Real"


def test_markdown_deeper_heading_pops_back() -> None:
    data = b"# A\n\n## B\n\n### C\n\nc text\n\n## D\n\nd text\n"
    [doc] = parse(data, "x.md", "markdown")
    assert section_of(doc, "c text") == "A > B > C"
    assert section_of(doc, "d text") == "A > D"


@pytest.mark.parametrize(
    "front",
    [b'---\ntitle: "unterminated\nbad: [1, 2\n---\n', b"---\nkey: value\n  - nope: [\n---\n"],
)
def test_broken_front_matter_is_ignored(front: bytes) -> None:
    [doc] = parse(front + b"Body text survives.\n", "post.md", "markdown")
    assert doc.text == "Body text survives."
    assert doc.metadata == {}
    assert doc.title == "post"


def test_front_matter_dates_stay_as_written_even_impossible_ones() -> None:
    # found by tests/reliability's fuzzer: YAML's date type raised ValueError on month 21
    front = b"---\ntitle: Log\ndate: 2026-21-10\nupdated: 2024-03-05\nbad: !!timestamp x\n---\n"
    [doc] = parse(front + b"Body.\n", "log.md", "markdown")
    assert doc.text == "Body." and doc.metadata == {}  # an explicit bad tag: all ignored
    [doc] = parse(front.replace(b"bad: !!timestamp x\n", b"") + b"Body.\n", "log.md", "markdown")
    assert doc.metadata == {"title": "Log", "date": "2026-21-10", "updated": "2024-03-05"}


def test_markdown_starting_with_rule_is_not_front_matter() -> None:
    [doc] = parse(b"---\n\nJust a rule, then text.\n", "x.md", "markdown")
    assert doc.text == "Just a rule, then text."


def test_markdown_inline_html_sub_sup() -> None:
    [doc] = parse(b"Entropy H(a<sub>i</sub>) and g<sup>2</sup> <b>bold</b>\n", "x.md", "markdown")
    assert doc.text == "Entropy H(a_i) and g^2 bold"


# -- Text ----------------------------------------------------------------------------------


def test_text_whitespace_normalised() -> None:
    [doc] = parse(b"  first line   \r\nsecond\t\n\n\n\n\nthird\n\n", "/a/notes.txt", "text")
    assert doc.text == "  first line\nsecond\n\nthird"
    assert doc.title == "notes"
    assert [s.label for s in doc.sections] == [""]
    assert_spans_cover(doc, doc.sections)


def test_text_latin1() -> None:
    [doc] = parse("Crème brûlée für Grüße.\n".encode("latin-1"), "x.txt", "text")
    assert doc.text == "Crème brûlée für Grüße."


# -- HTML ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page(formats_dir: Path) -> Document:
    [doc] = parse((formats_dir / "page.html").read_bytes(), "/web/page.html", "html")
    return doc


def test_html_title_metadata_and_clean_text(page: Document) -> None:
    assert page.title == "Attention Mechanisms — Notes"
    assert page.metadata == {"author": "Jane Example"}
    assert not TAG.search(page.text) and not ENTITY.search(page.text)
    for dropped in ("console.log", "font-family", "Enable JavaScript", "a comment"):
        assert dropped not in page.text
    assert "Attention lets a model focus on the relevant parts of its input." in page.text
    assert "- Queries\n- Keys\n- Values" in page.text
    assert "Variant | Cost\nFull | O(n²)\nSparse | O(n √n)" in page.text
    assert "Several heads\nrun in parallel." in page.text


def test_html_heading_paths(page: Document) -> None:
    assert section_of(page, "Scores are divided") == "Attention Mechanisms > Scaled Dot-Product"
    assert section_of(page, "Variant | Cost") == (
        "Attention Mechanisms > Scaled Dot-Product > Complexity"
    )
    assert section_of(page, "Several heads") == "Attention Mechanisms > Multi-Head Attention"
    assert_spans_cover(page, page.sections)


def test_html_meta_charset_honoured() -> None:
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
        "<title>Тест</title></head><body><p>Привет мир</p></body></html>"
    ).encode("cp1251")
    [doc] = parse(page, "ru.html", "html")
    assert (doc.title, doc.text) == ("Тест", "Привет мир")


def test_html_title_falls_back_to_h1_then_stem() -> None:
    [doc] = parse(b"<html><body><h1>Heading One</h1><p>x</p></body></html>", "a.html", "html")
    assert doc.title == "Heading One"
    [doc] = parse(b"<html><body><p>x</p></body></html>", "/d/plain-page.html", "html")
    assert doc.title == "plain-page"


def test_html_to_text_root_prefixes_paths() -> None:
    text, spans = html_to_text("<p>intro</p><h2>Part</h2><p>body</p>", root="Entry")
    assert text == "intro\n\nPart\n\nbody"
    assert [s.label for s in spans] == ["Entry", "Entry > Part"]


def test_deeply_nested_html() -> None:
    html = "<html><body>" + "<div>" * 10_000 + "deep text" + "</div>" * 10_000 + "</body></html>"
    [doc] = parse(html.encode(), "deep.html", "html")
    assert doc.text == "deep text"


def test_html_without_text_is_empty() -> None:
    with pytest.raises(EmptyDocumentError, match="no text"):
        parse(
            b"<html><head><title>t</title></head><body><img src=x></body></html>", "e.html", "html"
        )


# -- Feeds ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def entries(formats_dir: Path) -> list[Document]:
    return parse((formats_dir / "atom_feed.txt").read_bytes(), "/feeds/atom_feed.txt", "feed")


def test_feed_one_document_per_entry(entries: list[Document]) -> None:
    assert [d.key for d in entries] == ["entry-1", "entry-2"]
    assert [d.title for d in entries] == ["Edge AI & Quantization", "Understanding Transformers"]
    assert [d.url for d in entries] == [
        "https://example.org/blog/edge-ai/",
        "https://example.org/blog/transformers/",
    ]
    assert all(d.source == "/feeds/atom_feed.txt" and d.format == "feed" for d in entries)


def test_feed_entry_metadata(entries: list[Document]) -> None:
    meta = entries[0].metadata
    assert meta["published"] == "2026-01-15T00:00:00+00:00"
    assert meta["updated"] == "2026-01-16T06:30:00+00:00"  # normalised to UTC
    assert meta["author"] == "Jane Example"
    assert meta["feed_title"] == "Example Notes"
    assert meta["tags"] == ["Edge AI", "Quantization"]
    json.dumps(meta)


def test_feed_text_is_clean(entries: list[Document]) -> None:
    first = entries[0].text
    assert not TAG.search(first) and not ENTITY.search(first)
    assert "typically <1%" in first and "calibration set & per-channel" in first
    assert "alert" not in first
    assert "Operator fusion merges conv and relu into one kernel." in first
    assert "Attention is all you need." in entries[1].text


def test_feed_sections_start_with_entry_title(entries: list[Document]) -> None:
    doc = entries[0]
    assert section_of(doc, "Deploying models") == "Edge AI & Quantization"
    assert section_of(doc, "- INT8") == (
        "Edge AI & Quantization > Model Compression > INT8 Quantization"
    )
    assert section_of(doc, "Operator fusion") == "Edge AI & Quantization > Runtime Optimization"
    assert_spans_cover(doc, doc.sections)


def test_rss_summary_only_feed() -> None:
    rss = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>
    <item><title>First</title><link>http://n/1</link>
    <description>&lt;p&gt;Hello &amp;amp; welcome&lt;/p&gt;</description>
    <pubDate>Mon, 06 Jan 2025 10:00:00 GMT</pubDate></item></channel></rss>"""
    [doc] = parse(rss, "news.xml", "feed")
    assert doc.text == "First\n\nHello & welcome"
    assert doc.metadata["published"] == "2025-01-06T10:00:00+00:00"


def test_feed_without_entries_is_empty() -> None:
    atom = b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>'
    with pytest.raises(EmptyDocumentError, match="no entries"):
        parse(atom, "empty.xml", "feed")


# -- PDF -----------------------------------------------------------------------------------


def test_pdf_pages(pdf_bytes: bytes) -> None:
    [doc] = parse(pdf_bytes, "/docs/report.pdf", "pdf")
    assert doc.title == "Attention Report"
    assert doc.metadata["author"] == "Jane Example"
    assert doc.metadata["page_count"] == 2
    assert [p.label for p in doc.pages] == ["1", "2"]
    assert_spans_cover(doc, doc.pages)
    first, second = (doc.text[p.start : p.end] for p in doc.pages)
    assert "self-attention" in first and "positional" not in first
    assert "positional encoding" in second
    assert "\n\n" in doc.text


@pytest.mark.parametrize(
    "junk", ["Enscript Output", "Microsoft Word - report.docx", "Untitled", "slides.pptx", "x"]
)
def test_a_pdf_whose_metadata_title_names_a_tool_is_titled_from_its_text(junk: str) -> None:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, invariant=1)
    pdf.setTitle(junk)
    pdf.drawString(72, 760, "North and South")
    pdf.drawString(72, 740, "Margaret Hale is the daughter of a rector in Helstone.")
    pdf.showPage()
    pdf.save()
    [doc] = parse(buffer.getvalue(), "/books/gaskell.pdf", "pdf")
    assert doc.title == "North and South"


def test_corrupt_pdf(pdf_bytes: bytes) -> None:
    with pytest.raises(ParseError, match="corrupt PDF"):
        parse(b"%PDF-1.7\n" + b"garbage " * 50, "bad.pdf", "pdf")


def test_truncated_pdf(pdf_bytes: bytes) -> None:
    with pytest.raises((ParseError, EmptyDocumentError)):
        parse(pdf_bytes[:200], "cut.pdf", "pdf")


def test_pdf_without_text(blank_pdf_bytes: bytes) -> None:
    with pytest.raises(EmptyDocumentError, match="scanned PDF"):
        parse(blank_pdf_bytes, "scan.pdf", "pdf")


# -- DOCX ----------------------------------------------------------------------------------


def test_docx_structure(docx_bytes: bytes) -> None:
    [doc] = parse(docx_bytes, "/docs/guide.docx", "docx")
    assert doc.title == "Transformers"
    assert section_of(doc, "The encoder stacks") == "Transformers > 2. Architecture > Encoder"
    assert section_of(doc, "The decoder adds") == "Transformers > 2. Architecture > Decoder"
    assert "- Multi-head attention\n- Feed-forward network" in doc.text
    assert "Layer | Heads | Width\n6 | 8 | 512" in doc.text
    assert_spans_cover(doc, doc.sections)


def test_truncated_docx(docx_bytes: bytes) -> None:
    with pytest.raises(ParseError, match="corrupt DOCX"):
        parse(docx_bytes[: len(docx_bytes) // 2], "cut.docx", "docx")


def test_docx_missing_main_part() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/styles.xml", "<styles/>")
    with pytest.raises(ParseError, match="corrupt DOCX"):
        parse(buffer.getvalue(), "hollow.docx", "docx")


def test_docx_zip_bomb_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (60 * 1024 * 1024))
    with pytest.raises(ParseError, match=r"DOCX expands to 60 MB"):
        parse(buffer.getvalue(), "bomb.docx", "docx")


# -- Dispatch ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_blank_input_is_empty(fmt: str) -> None:
    with pytest.raises(EmptyDocumentError, match="no text"):
        parse(b"  \n\t\n", "blank.txt", fmt)


def test_unknown_format() -> None:
    with pytest.raises(UnsupportedFormatError, match="no parser"):
        parse(b"x", "x.bin", "spreadsheet")
