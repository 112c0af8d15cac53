"""Property-based fuzzing of the sniffer and every parser: bad bytes give one-line errors.

For every supported format, a valid sample is truncated, bit-flipped, spliced with random
bytes, cut into and repeated; pure random bytes and text in many encodings go in too. The
property: `documents_from_bytes` either returns documents with text, or raises `IngestError`
with a one-line reason, never another exception, and within a time bound. Hypothesis shrinks
any failure to a minimal input and prints it.

`make test` runs a fixed set (derandomized: the same inputs every run, about 13,000 of them);
`make fuzz` runs many more from a random seed it prints (DOCQA_FUZZ_RANDOM=1, examples per
strategy from DOCQA_FUZZ_EXAMPLES), so that every run of it explores new inputs; a failure it
finds is replayed with `--hypothesis-seed=SEED`.
"""

from __future__ import annotations

import io
import os
import re
import signal
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.errors import IngestError
from ingest.loaders import documents_from_bytes

pytestmark = pytest.mark.reliability

SECONDS_PER_FILE = 10  # a hang fails the test instead of stalling it
EXAMPLES = int(os.environ.get("DOCQA_FUZZ_EXAMPLES", "1300"))  # per format and strategy
RANDOM = os.environ.get("DOCQA_FUZZ_RANDOM") == "1"
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not RANDOM,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TRIED: dict[str, int] = {}


def stable_zip(data: bytes) -> bytes:
    """The same archive with fixed entry times: zipfile stamps the current time, and a sample
    that changes from run to run would make the derandomized fuzzing differ between runs."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            dst.writestr(
                zipfile.ZipInfo(info.filename, (2020, 1, 1, 0, 0, 0)),
                src.read(info.filename),
                zipfile.ZIP_DEFLATED,
            )
    return out.getvalue()


@pytest.fixture(scope="module")
def samples(formats_dir, pdf_bytes, docx_bytes) -> dict[str, tuple[str, bytes]]:
    return {
        "text": ("notes.txt", b"Plain notes.\n\nThe harbour opens at 6 am; ferries leave hourly."),
        "markdown": ("post.md", (formats_dir / "front_matter_post.txt").read_bytes()),
        "html": ("page.html", (formats_dir / "page.html").read_bytes()),
        "feed": ("feed.xml", (formats_dir / "atom_feed.txt").read_bytes()),
        "pdf": ("report.pdf", pdf_bytes),
        "docx": ("handbook.docx", stable_zip(docx_bytes)),
    }


@contextmanager
def time_limit(seconds: int):
    def expire(signum, frame):
        raise TimeoutError(f"parsing took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check(data: bytes, name: str, kind: str = "other") -> str | None:
    """The property; returns the one-line reason when the file was refused."""
    TRIED[kind] = TRIED.get(kind, 0) + 1
    started = time.perf_counter()
    with time_limit(SECONDS_PER_FILE):
        try:
            _, documents = documents_from_bytes(data, Path("/fuzz") / name)
        except IngestError as exc:
            reason = str(exc)
            assert reason and "\n" not in reason and len(reason) <= 300, repr(reason)
            return reason
    assert documents and all(d.text.strip() for d in documents)
    assert time.perf_counter() - started < SECONDS_PER_FILE
    return None


@st.composite
def mutated(draw, sample: bytes) -> bytes:
    """A sample truncated, with bytes flipped, a random run spliced in, or a slice repeated."""
    data = bytearray(sample)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "splice", "repeat", "delete"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if op == "truncate":
            del data[at:]
        elif op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "splice":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif op == "repeat":
            end = min(len(data), at + draw(st.integers(1, 256)))
            data[at:at] = data[at:end] * draw(st.integers(2, 50))
        else:
            del data[at : at + draw(st.integers(1, 512))]
    return bytes(data)


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "feed", "pdf", "docx"])
def test_mutated_samples_of_every_format(samples, fmt):
    name, sample = samples[fmt]

    @FUZZ
    @given(data=mutated(sample))
    def run(data):
        check(data, name, fmt)

    run()


@FUZZ
@given(
    data=st.binary(max_size=4096),
    name=st.sampled_from(["a.txt", "a.md", "a.html", "a.xml", "a.pdf", "a.docx", "a", "a.bin"]),
)
def test_random_bytes_under_any_name(data, name):
    check(data, name, "random")


ENCODINGS = [
    "utf-8",
    "utf-16",
    "utf-16-le",
    "utf-32",
    "latin-1",
    "cp1252",
    "cp1251",
    "koi8-r",
    "shift_jis",
    "euc-jp",
    "gb18030",
    "big5",
    "iso-8859-7",
    "mac_roman",
]


@FUZZ
@given(text=st.text(min_size=1, max_size=2000), encoding=st.sampled_from(ENCODINGS))
def test_text_in_many_encodings(text, encoding):
    data = text.encode(encoding, errors="replace")
    check(data, "notes.txt", "encodings")


MAGIC = [
    b"%PDF-1.7\n",
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"<?xml version='1.0'?>",
    b'<rss version="2.0">',
    b'<feed xmlns="http://www.w3.org/2005/Atom">',
    b"<!DOCTYPE html><html>",
    b"---\ntitle: x\n---\n",
    b"# Title\n",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xfe\xff",
    b"\x00\x00\xfe\xff",
    b"\x1f\x8b",
    b"startxref\n%%EOF",
]


@FUZZ
@given(
    head=st.lists(st.sampled_from(MAGIC), min_size=1, max_size=3),
    body=st.binary(max_size=2048) | st.text(max_size=1024).map(str.encode),
    name=st.sampled_from(["a.txt", "a.md", "a.pdf", "a.docx", "a.xml", "a"]),
)
def test_the_sniffer_on_magic_numbers_in_the_wrong_places(head, body, name):
    """Format signatures at the start, in the middle and mixed: the sniffer decides, the
    parser it picks either reads the file or says why not."""
    check(b"".join(head) + body + b"".join(reversed(head)), name, "sniffer")


@st.composite
def mutated_xml(draw, sample: bytes) -> bytes:
    """A DOCX whose document.xml is mutated as text and zipped again (byte mutations of the zip
    mostly break its checksums, so they never reach the XML)."""
    with zipfile.ZipFile(io.BytesIO(sample)) as src:
        parts = {i.filename: src.read(i.filename) for i in src.infolist()}
    xml = parts["word/document.xml"].decode()
    tags = [m.start() for m in re.finditer("<", xml)]
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.sampled_from(tags)) if tags else 0
        op = draw(st.sampled_from(["cut", "dup", "insert"]))
        if op == "cut":
            xml = xml[:at] + xml[at + draw(st.integers(1, 200)) :]
        elif op == "dup":
            xml = (
                xml[:at]
                + xml[at : at + draw(st.integers(1, 400))] * draw(st.integers(2, 30))
                + xml[at:]
            )
        else:
            xml = (
                xml[:at]
                + draw(
                    st.sampled_from(
                        [
                            "<w:tbl><w:tr><w:tc>",
                            "</w:tc>",
                            "<w:p>",
                            "<w:t>x</w:t>",
                            "&bogus;",
                            "<w:tbl>" * 20,
                            "\x00",
                            "]]>",
                            "<!DOCTYPE x [<!ENTITY a 'aaaa'>]>",
                        ]
                    )
                )
                + xml[at:]
            )
        tags = [m.start() for m in re.finditer("<", xml)]
    parts["word/document.xml"] = xml.encode("utf-8", "surrogatepass")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in parts.items():
            dst.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def test_mutated_word_xml(samples):
    name, sample = samples["docx"]

    @FUZZ
    @given(data=mutated_xml(sample))
    def run(data):
        check(data, name, "docx-xml")

    run()


def test_a_zip_header_whose_name_runs_into_the_data(samples):
    """Found by `make fuzz`: a local header's name length grown to 400 makes zipfile quote 400
    bytes of compressed data in its message; the reason stays one short line."""
    _, sample = samples["docx"]
    data = bytearray(sample)
    data[26:28] = (400).to_bytes(2, "little")
    reason = check(bytes(data), "handbook.docx")
    assert reason is not None and reason.startswith("corrupt DOCX")


def test_deeply_nested_html_is_an_error_or_text_not_a_crash():
    depth = 200_000
    check(b"<html><body>" + b"<div>" * depth + b"deep text" + b"</div>" * depth, "deep.html")


def test_a_docx_that_inflates_to_gigabytes_is_refused(tmp_path):
    bomb = tmp_path / "bomb.docx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("word/document.xml", "w", force_zip64=True) as member:
            chunk = b"<w:t>" + b"A" * (1 << 20)
            for _ in range(2048):  # 2 GiB of text, a few MB compressed
                member.write(chunk)
    reason = check(bomb.read_bytes(), "bomb.docx")
    assert reason is not None and "zip bomb" in reason


def test_a_pdf_with_a_broken_cross_reference_table(pdf_bytes):
    broken = pdf_bytes.replace(b"xref", b"xrfe").replace(b"startxref", b"startxrfe")
    check(broken, "broken.pdf")
    check(pdf_bytes[: pdf_bytes.rfind(b"xref")], "cut.pdf")


def test_a_100_megabyte_text_file_within_the_time_bound():
    line = b"The harbour ledger lists ferry departures and tide tables for the week.\n"
    check(line * (100 * 1024 * 1024 // len(line)), "huge.txt")


def test_report_inputs_tried():
    """Runs last in this module: prints how many inputs each strategy tried (in -rA output)."""
    print("fuzzed inputs:", TRIED, "total", sum(TRIED.values()))
