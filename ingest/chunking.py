"""Split a parsed `Document` into chunks the embedder can see whole.

Why this exists rather than a generic splitter: all-MiniLM-L6-v2 silently truncates input at
256 word pieces, so a chunk one token too long has a tail that can never be found. Every chunk
here is measured with the embedder's own tokenizer (passed in as `count_tokens`), including
the heading line that is embedded with it, and never exceeds `max_tokens`.

Chunks follow structure: they never cross a section or page boundary, they break between
sentences (between lines for lists and code), and only fall back to word windows for a single
sentence that is too long on its own. Offsets always point into `Document.text`.

Pure functions; nothing here loads a model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from core.sentences import sentence_spans
from index.types import Document, Passage, Span

TokenCounter = Callable[[str], int]

# A sentence ends at . ! ? (optionally closed by a quote or bracket) followed by whitespace;
# abbreviations like "e.g." cause an occasional early break, which costs nothing here.
_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int
    end: int
    tokens: int


def embedding_text(passage: Passage) -> str:
    """The text the embedder sees: the heading path (or title) on a line above the passage.

    >>> embedding_text(Passage(text="Body.", source="a.md", title="Doc", section="Doc > Intro"))
    'Doc > Intro\\nBody.'
    """
    heading = passage.heading
    return f"{heading}\n{passage.text}" if heading else passage.text


def chunk_document(
    doc: Document,
    count_tokens: TokenCounter,
    max_tokens: int,
    overlap_sentences: int = 1,
) -> list[Passage]:
    """Cut one document into passages; every passage's `embedding_text` is at most
    `max_tokens` long."""
    chunks: list[Passage] = []
    # Counters include special tokens ([CLS], [SEP]); count them once per chunk, not per unit.
    specials = count_tokens("")

    def bare(text: str) -> int:
        return count_tokens(text) - specials

    for seg_start, seg_end, section, page in _segments(doc):
        heading = section or doc.title
        budget = max_tokens - count_tokens(heading + "\n" if heading else "")
        if budget < 8:
            raise ValueError(f"heading {heading[:60]!r} leaves no room in {max_tokens} tokens")
        units = list(_units(doc.text, seg_start, seg_end, bare, budget))
        for start, end in _pack(units, budget, overlap_sentences):
            chunks.append(
                Passage(
                    text=doc.text[start:end],
                    source=doc.source,
                    title=doc.title,
                    section=section,
                    page=page,
                    start=start,
                    end=end,
                    ordinal=len(chunks),
                    doc_key=doc.key,
                    url=doc.url,
                )
            )
    return chunks


def _segments(doc: Document) -> Iterator[tuple[int, int, str, int | None]]:
    """Cut the text at every section and page boundary: no chunk may straddle one."""
    cuts = {0, len(doc.text)}
    for span in (*doc.sections, *doc.pages):
        cuts.update((span.start, span.end))
    bounds = sorted(c for c in cuts if 0 <= c <= len(doc.text))
    for start, end in zip(bounds, bounds[1:], strict=False):
        body = doc.text[start:end].strip()
        section = _label_at(doc.sections, start) or ""
        # A section holding only its own heading (subsections follow) has nothing to find.
        if body and body != section.rsplit(" > ", 1)[-1]:
            page = _label_at(doc.pages, start)
            yield start, end, section, int(page) if page else None


def _label_at(spans: tuple[Span, ...], pos: int) -> str | None:
    for span in spans:
        if span.start <= pos < span.end:
            return span.label
    return None


def _units(
    text: str, start: int, end: int, count_tokens: TokenCounter, budget: int
) -> Iterator[_Unit]:
    """Sentences (and lines), with any sentence longer than `budget` cut into word windows."""
    for a, b in sentence_spans(text, start, end):
        tokens = count_tokens(text[a:b])
        if tokens <= budget:
            yield _Unit(a, b, tokens)
        else:
            yield from _word_windows(text, a, b, count_tokens, budget)


def _word_windows(
    text: str, start: int, end: int, count_tokens: TokenCounter, budget: int
) -> Iterator[_Unit]:
    window_start: int | None = None
    window_end = start
    used = 0
    for match in _WORD.finditer(text, start, end):
        a, b = match.span()
        tokens = count_tokens(text[a:b])
        if tokens > budget:  # one unbroken "word" (a URL, base64) longer than the budget
            if window_start is not None:
                yield _Unit(window_start, window_end, used)
                window_start, used = None, 0
            yield from _char_windows(text, a, b, count_tokens, budget)
            continue
        if window_start is not None and used + tokens > budget:
            yield _Unit(window_start, window_end, used)
            window_start, used = None, 0
        if window_start is None:
            window_start = a
        window_end, used = b, used + tokens
    if window_start is not None:
        yield _Unit(window_start, window_end, used)


def _char_windows(
    text: str, start: int, end: int, count_tokens: TokenCounter, budget: int
) -> Iterator[_Unit]:
    step = max(1, budget * 2)  # a word piece covers at least one character
    for a in range(start, end, step):
        b = min(end, a + step)
        while count_tokens(text[a:b]) > budget and b - a > 1:
            b = a + (b - a) // 2
        yield _Unit(a, b, count_tokens(text[a:b]))


def _pack(units: list[_Unit], budget: int, overlap: int) -> Iterator[tuple[int, int]]:
    """Greedily pack consecutive units; carry the last `overlap` units into the next chunk.

    Token counts are summed rather than re-measured: WordPiece splits on whitespace first, so
    the count of joined sentences is the sum of their counts.
    """
    current: list[_Unit] = []
    used = 0
    for unit in units:
        if current and used + unit.tokens > budget:
            yield current[0].start, current[-1].end
            carried = _carry(current, overlap, budget - unit.tokens)
            current, used = carried, sum(u.tokens for u in carried)
        current.append(unit)
        used += unit.tokens
    if current:
        yield current[0].start, current[-1].end


def _carry(units: list[_Unit], overlap: int, room: int) -> list[_Unit]:
    """The overlap for the next chunk: at most `overlap` units, at most a quarter of `room`."""
    carried: list[_Unit] = []
    for unit in reversed(units[-overlap:] if overlap > 0 else []):
        if sum(u.tokens for u in carried) + unit.tokens > room // 4:
            break
        carried.insert(0, unit)
    return carried
