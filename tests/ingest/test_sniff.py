"""Format sniffing: content decides, the file name only breaks ties."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from ingest.errors import UnsupportedFormatError
from ingest.sniff import sniff

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("fixture", "misleading_name", "expected"),
    [
        ("atom_feed.txt", "feed.md", "feed"),
        ("front_matter_post.txt", "post.html", "markdown"),
        ("page.html", "page.md", "html"),
    ],
)
def test_fixture_files_sniffed_from_content(
    formats_dir: Path, fixture: str, misleading_name: str, expected: str
) -> None:
    data = (formats_dir / fixture).read_bytes()
    assert sniff(data, misleading_name) == expected
    assert sniff(data, fixture) == expected


def test_pdf_and_docx_sniffed_despite_extension(pdf_bytes: bytes, docx_bytes: bytes) -> None:
    assert sniff(pdf_bytes, "report.txt") == "pdf"
    assert sniff(docx_bytes, "notes.pdf") == "docx"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- c -->\n<rss version="2.0"><channel/></rss>',
            "feed",
        ),
        (
            b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="r" xmlns="http://purl.org/rss/1.0/">'
            b"<channel/></rdf:RDF>",
            "feed",
        ),
        (
            b'<?xml version="1.0"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
            b'"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n<html><body>x</body></html>',
            "html",
        ),
        (b"<div><p>Hello</p><p>World</p></div>", "html"),
        (b"Title\n=====\n\nBody text.\n", "markdown"),
        (b"# Notes\n\nShort.\n", "markdown"),
        (b"Just some notes.\n- a dash item\nMore text here.\n", "text"),
        ("# Titre\n\nDu **gras** et [un lien](http://x).\n".encode("utf-16"), "markdown"),
        ("Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e\n".encode("latin-1"), "text"),
    ],
)
def test_content_markers(data: bytes, expected: str) -> None:
    assert sniff(data, "file.txt") == expected


def test_extension_breaks_ties_only() -> None:
    plain = b"hello world, nothing marked up here"
    assert sniff(plain, "readme.md") == "markdown"
    assert sniff(plain, "readme.txt") == "text"
    script = b"# setup\n\nexport A=1\n\n# run it\n\n./run.sh **args**\n"
    assert sniff(script, "setup.sh") == "text"


def test_front_matter_alone_means_markdown() -> None:
    assert sniff(b"---\ntitle: Hi\n---\nplain words only\n", "x.txt") == "markdown"


@pytest.mark.parametrize(
    "data",
    [
        os.urandom(4096),
        b"\x7fELF\x02\x01\x01\x00" + bytes(64),
        b"plain start\x00\x00 then NULs",
        bytes(range(1, 9)) * 200,
    ],
)
def test_binary_rejected(data: bytes) -> None:
    with pytest.raises(UnsupportedFormatError, match="binary content"):
        sniff(data, "notes.txt")


def test_utf16_nul_bytes_are_not_binary() -> None:
    assert sniff("plain words\n".encode("utf-16"), "a.txt") == "text"
    assert sniff("plain words\n".encode("utf-32"), "a.txt") == "text"


def test_zip_that_is_not_docx_rejected() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    with pytest.raises(UnsupportedFormatError, match="not a Word document"):
        sniff(buffer.getvalue(), "data.docx")


def test_truncated_docx_still_routed_to_docx_parser(docx_bytes: bytes) -> None:
    # The parser then reports it as corrupt, which says more than "unsupported".
    assert sniff(docx_bytes[: len(docx_bytes) // 2], "x.docx") == "docx"


def test_only_the_head_is_read() -> None:
    data = b"plain text line\n" * 10_000 + b"# Late heading\n\n" + b"[a](b) " * 50
    assert sniff(data, "big.txt") == "text"
