"""Atom, RSS and RDF feeds: one Document per entry, its HTML body turned into clean text.

feedparser does the XML work (encodings, CDATA, entity decoding, HTML sanitising); each
entry's body is then run through `html_to_text`, with the entry title at the top of the
section path so chunks from different posts never share a label. The title is also the first
line of the text, as an H1 would be on the post's own page.

This module does not fetch anything: linked pages, enclosures and images stay unread.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import feedparser
from bs4 import BeautifulSoup

from index.types import Document
from ingest.errors import EmptyDocumentError, ParseError, first_line
from ingest.parsers._common import (
    SECTION_SEPARATOR,
    SectionedText,
    jsonable,
    one_line,
)
from ingest.parsers.html import html_to_text

logger = logging.getLogger(__name__)

FORMAT = "feed"
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})


def parse(data: bytes, source: str) -> list[Document]:
    """Return one Document per entry that has any text; keys are "entry-1", "entry-2", …"""
    try:
        parsed = feedparser.parse(data)
    except Exception as exc:  # feedparser's own encoding sniffing can trip on mangled prologs
        raise ParseError(f"malformed feed: {first_line(exc)}") from exc
    entries = parsed.get("entries") or []
    if not entries:
        if parsed.get("bozo"):
            exc = parsed.get("bozo_exception")
            raise ParseError(f"malformed feed: {first_line(exc) if exc else 'not a feed'}")
        raise EmptyDocumentError("feed has no entries")
    if parsed.get("bozo"):
        logger.info(
            "%s: feed is not well-formed (%s); using the entries parsed",
            source,
            parsed.get("bozo_exception"),
        )
    channel = parsed.get("feed") or {}
    feed_title = _plain(channel.get("title_detail")) or one_line(_field(channel, "title"))
    documents = []
    for index, entry in enumerate(entries, start=1):
        try:
            documents.append(_entry_document(entry, index, source, feed_title))
        except EmptyDocumentError:
            logger.info("%s: entry %d has no text, skipped", source, index)
    if not documents:
        raise EmptyDocumentError("no text")
    return documents


def _entry_document(entry: Any, index: int, source: str, feed_title: str) -> Document:
    title = _plain(entry.get("title_detail")) or one_line(_field(entry, "title"))
    body = _body(entry)
    out = SectionedText()
    out.add(title, title)
    if body is not None and _is_html(entry, body):
        for label, block in _html_blocks(body):
            out.add(block, SECTION_SEPARATOR.join(p for p in (title, label) if p))
    elif body is not None:
        out.add(body, title)
    text, sections = out.build()
    return Document(
        source=source,
        text=text,
        format=FORMAT,
        title=title or f"{feed_title} entry {index}".strip(),
        key=f"entry-{index}",
        url=_field(entry, "link"),
        metadata=_metadata(entry, feed_title),
        sections=sections,
    )


def _html_blocks(body: str) -> list[tuple[str, str]]:
    """The body's sections as (heading path, text) pairs; none when it is only markup."""
    try:
        text, spans = html_to_text(body)
    except EmptyDocumentError:
        return []
    return [(span.label, text[span.start : span.end]) for span in spans]


def _body(entry: Any) -> str | None:
    """The full content when the feed has it, else the summary (many RSS feeds only have that)."""
    contents = entry.get("content") or []
    for content in contents:
        if _field(content, "value").strip():
            return _field(content, "value")
    summary = _field(entry, "summary")
    return summary if summary.strip() else None


def _field(item: Any, name: str) -> str:
    """A string field, "" when absent; damaged feeds can carry None where text belongs."""
    value = item.get(name)
    return value if isinstance(value, str) else ""


def _is_html(entry: Any, body: str) -> bool:
    for detail in [*(entry.get("content") or []), entry.get("summary_detail") or {}]:
        if _field(detail, "value") == body:
            return detail.get("type", "text/html") in _HTML_TYPES
    return True


def _plain(detail: Any) -> str:
    """Title-like fields may be typed HTML ("<b>New</b> &amp; improved"); keep only the words."""
    value = _field(detail, "value") if detail else ""
    if not value:
        return ""
    if detail.get("type") in _HTML_TYPES:
        value = BeautifulSoup(value, "lxml").get_text(" ")
    return one_line(value)


def _metadata(entry: Any, feed_title: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"feed_title": feed_title} if feed_title else {}
    for name in ("published", "updated"):
        # Plain dict lookups: FeedParserDict would quietly answer "updated" with "published".
        raw = dict.get(entry, name)
        stamp = _iso(dict.get(entry, f"{name}_parsed")) or (raw if isinstance(raw, str) else None)
        if stamp:
            metadata[name] = stamp
    if _field(entry, "author"):
        metadata["author"] = one_line(_field(entry, "author"))
    tags = [tag.get("term") for tag in entry.get("tags") or [] if tag.get("term")]
    if tags:
        metadata["tags"] = list(dict.fromkeys(tags))  # feeds repeat categories
    if _field(entry, "id"):
        metadata["id"] = _field(entry, "id")
    return jsonable(metadata)


def _iso(parsed: time.struct_time | None) -> str | None:
    """feedparser normalises dates to UTC struct_time; ISO strings sort and compare cleanly."""
    if not parsed:
        return None
    try:
        return dt.datetime(*parsed[:6], tzinfo=dt.UTC).isoformat()
    except (TypeError, ValueError):
        return None
