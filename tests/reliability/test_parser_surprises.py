"""Sniffing and parsing surprises a person's files hold: text that quotes a PDF header, tables
inside tables, an empty Word file, front matter that is not YAML."""

from __future__ import annotations

import io
import logging

import pytest

from ingest.errors import EmptyDocumentError
from ingest.loaders import documents_from_bytes
from ingest.sniff import sniff

pytestmark = [pytest.mark.reliability, pytest.mark.unit]


@pytest.mark.parametrize("name", ["pdf-notes.md", "pdf-notes.txt"])
def test_text_that_mentions_a_pdf_header_is_text(tmp_path, name):
    data = (
        b"# How PDFs start\n\nEvery file begins with a header such as\n"
        b"%PDF-1.7\nand ends with %%EOF on its last line.\n"
    )
    assert sniff(data, name) in ("markdown", "text")
    _, documents = documents_from_bytes(data, tmp_path / name)
    assert "%PDF-1.7" in documents[0].text


def test_a_pdf_behind_junk_is_still_a_pdf(pdf_bytes):
    assert sniff(b"From mail gateway\r\n" + pdf_bytes, "scan.bin") == "pdf"


def test_a_table_nested_in_a_cell_is_kept(tmp_path):
    import docx

    document = docx.Document()
    table = document.add_table(rows=1, cols=2)
    cell = table.rows[0].cells[0]
    cell.text = "Dock B"
    inner = cell.add_table(rows=2, cols=2)
    for row, values in zip(inner.rows, (("Depth", "12 m"), ("Width", "4 m")), strict=True):
        row.cells[0].text, row.cells[1].text = values
    table.rows[0].cells[1].text = "open"
    buffer = io.BytesIO()
    document.save(buffer)
    _, documents = documents_from_bytes(buffer.getvalue(), tmp_path / "docks.docx")
    assert "Dock B [Depth | 12 m; Width | 4 m] | open" in documents[0].text


def test_an_empty_word_file_is_empty_not_corrupt(tmp_path):
    import docx

    buffer = io.BytesIO()
    docx.Document().save(buffer)
    with pytest.raises(EmptyDocumentError, match="no text"):
        documents_from_bytes(buffer.getvalue(), tmp_path / "blank.docx")


def test_the_front_matter_warning_names_the_file(tmp_path, caplog):
    data = b"---\ntitle: [unclosed\nauthor: me\n---\n# Body\n\nText.\n"
    with caplog.at_level(logging.WARNING):
        documents_from_bytes(data, tmp_path / "post.md")
    assert any(str(tmp_path / "post.md") in r.getMessage() for r in caplog.records)
