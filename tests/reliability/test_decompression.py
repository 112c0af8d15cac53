"""Files whose text expands far past their size are refused early, not extracted for minutes.

The probe's PDF: 15 KB whose pages share one compressed content stream expanded to 89.6 M
characters (205 s of extraction, an hour of embedding). Built here by hand: a catalog, one
font, one FlateDecode stream of text lines, and N pages that all point at it.
"""

from __future__ import annotations

import io
import zlib

import pytest

from ingest.errors import ParseError
from ingest.loaders import documents_from_bytes
from ingest.parsers import pdf

pytestmark = [pytest.mark.reliability, pytest.mark.unit]

LINE = b"(The quick brown fox jumps over the lazy dog again and again.) Tj T* "


def shared_stream_pdf(pages: int, lines: int) -> bytes:
    content = b"BT /F1 12 Tf 72 700 Td " + LINE * lines + b"ET"
    packed = zlib.compress(content, 9)
    kids = " ".join(f"{5 + i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed + b"\nendstream",
        *[
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>"
        ]
        * pages,
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % o for o in offsets))
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


@pytest.fixture
def pages_read(monkeypatch):
    read: list[int] = []
    original = pdf._page_text

    def counting(page, number):
        read.append(number)
        return original(page, number)

    monkeypatch.setattr(pdf, "_page_text", counting)
    return read


def test_a_page_that_expands_past_any_real_page_is_refused_at_once(tmp_path, pages_read):
    data = shared_stream_pdf(pages=60, lines=20_000)  # ~1.2 M characters a page
    assert len(data) < 16_000
    with pytest.raises(ParseError, match=r"page 1 expands to [\d,]+ characters.*bomb"):
        documents_from_bytes(data, tmp_path / "bomb.pdf")
    assert pages_read == [1]


def test_pages_under_the_page_bound_still_stop_at_the_file_budget(tmp_path, pages_read):
    data = shared_stream_pdf(pages=200, lines=1_400)  # ~84 k characters a page, 17 M in all
    with pytest.raises(ParseError, match=r"expands past 2,000,000 characters by page \d+"):
        documents_from_bytes(data, tmp_path / "bomb.pdf")
    assert len(pages_read) < 30


def test_an_ordinary_pdf_built_the_same_way_is_read(tmp_path):
    _, documents = documents_from_bytes(shared_stream_pdf(pages=3, lines=20), tmp_path / "fine.pdf")
    assert documents[0].text.count("quick brown fox") == 60
