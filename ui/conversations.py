"""The conversations the browser keeps for one index: listed, reopened, renamed, deleted.

The whole shelf is one JSON value in the browser's storage (`gr.BrowserState`, keyed by the
index), so nothing about a person's questions is written on the server and a reload brings
back what they were doing. A conversation keeps what the chat needs to show it again and to
go on from it: the messages, the (question, answer) turns a follow-up is read against, and
each answer's sources.

    {"current": "c2", "items": {"c1": {"title": …, "named": false, "at": 1733…,
                                      "chat": […], "pairs": […], "turns": […]}, …}}
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

MAX_KEPT = 50  # the oldest go first: the browser's storage holds a few megabytes per site
TITLE_CHARS = 60


@dataclass(frozen=True, slots=True)
class Conversation:
    """One conversation as the chat shows it."""

    id: str
    chat: list[dict]
    pairs: list[tuple[str, str]]
    turns: list[str]


def new_id() -> str:
    return "c" + uuid.uuid4().hex[:12]


def shelf(store: Any) -> dict[str, Any]:
    """The stored value as a shelf; anything unreadable (another version, a tampered
    storage) is an empty one rather than an error page."""
    if not isinstance(store, dict) or not isinstance(store.get("items"), dict):
        return {"current": "", "items": {}}
    items = {k: v for k, v in store["items"].items() if isinstance(v, dict)}
    return {"current": str(store.get("current") or ""), "items": items}


def keep(store: Any, conversation: Conversation, *, now: float | None = None) -> dict[str, Any]:
    """The shelf with `conversation` saved as the current one (an empty one is not listed)."""
    out = shelf(store)
    items = dict(out["items"])
    old = items.get(conversation.id, {})
    if conversation.chat:
        title = old.get("title") if old.get("named") else _title(conversation.chat)
        items[conversation.id] = {
            "title": title,
            "named": bool(old.get("named")),
            "at": time.time() if now is None else now,
            "chat": conversation.chat,
            "pairs": [list(p) for p in conversation.pairs],
            "turns": conversation.turns,
        }
    for stale in sorted(items, key=lambda k: items[k].get("at", 0))[
        : max(0, len(items) - MAX_KEPT)
    ]:
        del items[stale]
    return {"current": conversation.id, "items": items}


def opened(store: Any, conversation_id: str | None = None) -> Conversation:
    """A conversation from the shelf (the current one by default); a new, empty one when it
    is not there or cannot be read."""
    items = shelf(store)["items"]
    wanted = conversation_id or shelf(store)["current"]
    item = items.get(wanted)
    if item is None:
        return Conversation(new_id(), [], [], [])
    try:
        chat = [dict(m) for m in item["chat"]]
        pairs = [(str(q), str(a)) for q, a in item["pairs"]]
        turns = [str(t) for t in item["turns"]]
    except (KeyError, TypeError, ValueError):
        return Conversation(new_id(), [], [], [])
    return Conversation(wanted, chat, pairs, turns)


def renamed(store: Any, conversation_id: str, title: str) -> dict[str, Any]:
    """The shelf with the conversation named `title` (an empty name gives back the one made
    from its first question)."""
    out = shelf(store)
    item = out["items"].get(conversation_id)
    if item is not None:
        title = " ".join(title.split())[:TITLE_CHARS]
        item["named"] = bool(title)
        item["title"] = title or _title(item.get("chat", []))
    return out


def forgotten(store: Any, conversation_id: str) -> dict[str, Any]:
    """The shelf without the conversation, and with a new, empty one as the current one."""
    out = shelf(store)
    out["items"].pop(conversation_id, None)
    out["current"] = ""
    return out


def listing(store: Any) -> list[tuple[str, str]]:
    """(title, id) of each kept conversation, the most recent first."""
    items = shelf(store)["items"]
    ordered = sorted(items, key=lambda k: items[k].get("at", 0), reverse=True)
    return [(str(items[k].get("title") or "Untitled"), k) for k in ordered]


def _title(chat: list[dict]) -> str:
    """A conversation's name: its first question, cut to a line.

    >>> _title([{"role": "user", "content": [{"type": "text", "text": "How long " * 20}]}])
    'How long How long How long How long How long How long How l…'
    """
    for message in chat:
        if message.get("role") == "user":
            text = " ".join(message_text(message.get("content")).split())
            return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1] + "…"
    return "Untitled"


def message_text(content: Any) -> str:
    """A message's text, whether it is a string or, as the page sends it back, a list of
    content blocks.

    >>> message_text("hi"), message_text([{"type": "text", "text": "hi"}, {"type": "file"}])
    ('hi', 'hi')
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict)).strip()
    return ""
