"""The state behind the chat: what a question, an upload or a removal does, free of Gradio.

Rendering lives in `ui.chat`, the widgets in `ui.page`, upload safety in `ui.uploads`, and
every answer and ingest goes through the same library verbs the CLI uses. The app does not
know the application package: it is handed a `Library` (docqa's `Pipeline` is one) and a
`ChatConfig` (built from the settings by `docqa.chat`). One lock serialises the model and
the index: a llama.cpp context answers one prompt at a time, and an ingest must not interleave
with a question's reads.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from generation.calibration import Calibration
from generation.types import Answer, AnswerEvent
from index.base import FileRecord
from ingest.ingester import FileOutcome
from ui import conversations
from ui.chat import Turn, sources_panel
from ui.uploads import UploadError, save_upload

log = logging.getLogger(__name__)

MAX_VARIANTS = 4  # settings-panel combinations kept ready; each other model holds ~2 GB
TICK_S = 0.5  # how often a reply's stage clock moves while nothing else happens
_END = object()  # the worker is done


class Busy(Exception):
    """A question sent while the last one is still being answered."""

    def __init__(self) -> None:
        super().__init__(
            "Still answering the last question: wait for it or press Stop. "
            "Your question stays in the box."
        )


@dataclass(frozen=True, slots=True)
class Choices:
    """What the settings panel chooses for the next question."""

    model: str
    top_k: int
    policy: str
    level: str | float
    temperature: float
    collections: tuple[str, ...] = ()  # asked together; () is the chat's own collection


@dataclass(frozen=True, slots=True)
class ChatConfig:
    """What the page and its server need of the configuration: the panel's starting choices,
    where uploads go, which folders a typed path may name, and how the server listens."""

    choices: Choices
    upload_dir: Path
    ingest_roots: tuple[Path, ...] = ()
    max_upload_mb: int = 50
    host: str = "127.0.0.1"
    port: int = 7860
    username: str = ""
    password: str = ""
    conversation_key: str = "docqa-conversation"  # the browser's storage for this index
    models: tuple[str, ...] = ()  # the answer models the settings panel offers by name
    collections: tuple[str, ...] = ()  # the chat's own collection first, then the others


class Library(Protocol):
    """The library verbs the chat calls; `docqa.pipeline.Pipeline` is the real one."""

    def stream(
        self, question: str, history: Sequence[tuple[str, str]] = ()
    ) -> Iterator[AnswerEvent]: ...
    def warm_up(self) -> None: ...
    def ingest(
        self,
        paths: Sequence[Path],
        *,
        on_outcome: Callable[[FileOutcome], None] | None = None,
        within: Sequence[Path] | None = None,
    ) -> Any: ...
    def sources(self) -> list[FileRecord]: ...
    def remove(self, path: Path | str) -> list[tuple[str, int]]: ...
    def export(self, answers: Sequence[Answer], fmt: str) -> str: ...
    def calibration(self) -> Calibration: ...
    def with_choices(
        self,
        *,
        model: str,
        top_k: int,
        policy: str,
        level: str | float,
        temperature: float,
        collections: Sequence[str] = (),
    ) -> Library:
        """The same library answering with other choices, sharing what they leave loaded."""
        ...


class DocqaApp:
    """The state behind the UI: one base library, and variants for the settings panel."""

    def __init__(
        self, library: Library, config: ChatConfig, *, lock: threading.Lock | None = None
    ) -> None:
        self.library = library
        self.config = config
        self.lock = lock or threading.Lock()  # shared with an API served beside the page
        self._variants: dict[Choices, Library] = {}
        self._stops: dict[str, threading.Event] = {}  # per browser session: Stop pressed
        # per browser session: (question, answer) of the conversation on screen, for export
        self._answers: dict[str, list[tuple[str, Answer]]] = {}
        self._warming = threading.Event()

    @property
    def upload_dir(self) -> Path:
        return self.config.upload_dir

    def warm_up(self) -> None:
        """Load the models while the page loads; the first question waits on the lock rather
        than loading them a second time. A failure here is the first question's to report."""
        self._warming.set()
        with self.lock:
            try:
                self.library.warm_up()
                log.info("models ready")
            except Exception:
                log.warning("warming up the models failed", exc_info=True)
            finally:
                self._warming.clear()

    def variant(
        self,
        model: str,
        top_k: int,
        policy: str,
        level: str,
        temperature: float,
        collections: Sequence[str] | None = None,
    ) -> Library:
        """The library for the settings panel's choices; the base one when they are unchanged.
        Variants share the embedder, the index and, if model and sampling agree, the model."""
        chosen = tuple(dict.fromkeys(collections or ()))
        if chosen == self.config.collections[:1]:
            chosen = ()  # the chat's own collection alone is the base library
        key = Choices(
            model.strip() or self.config.choices.model,
            int(top_k),
            policy,
            _level(level),
            float(temperature),
            chosen,
        )
        if key == self.config.choices:
            return self.library
        if key not in self._variants:
            if len(self._variants) >= MAX_VARIANTS:  # forget the oldest choice (and its model)
                self._variants.pop(next(iter(self._variants)))
            self._variants[key] = self.library.with_choices(**asdict(key))
        return self._variants[key]

    # ---- chat -----------------------------------------------------------------------------
    def take(self, message: str, chat: list[dict], busy: bool) -> tuple[str, list[dict], str, bool]:
        """Move a question from the box into the conversation: (box, chat, question, busy).

        While an answer is being written a new question is refused with `Busy`, and the page
        leaves it in the box, rather than dropping it or answering two at once.
        """
        message = (message or "").strip()
        if busy:
            raise Busy
        if not message:
            return "", chat, "", False
        return "", [*chat, {"role": "user", "content": message}], message, True

    def respond(
        self,
        message: str,
        chat: list[dict],
        pairs: list[tuple[str, str]],
        turns: list[str],
        model: str,
        top_k: int,
        policy: str,
        level: str,
        temperature: float,
        collections: Sequence[str] | None = None,
        session: str = "local",
    ) -> Iterator[tuple[list[dict], str, list[tuple[str, str]], list[str]]]:
        """Stream one answer: (chat messages, sources panel, conversation, sources per turn).

        The pipeline runs in a worker thread, so the reply shows the stage it is at and for
        how long even while the model reads its prompt, and Stop is seen within a tick.
        """
        message = (message or "").strip()
        if not message:
            yield chat, sources_panel(turns), pairs, turns
            return
        stop = self._stops.setdefault(session, threading.Event())
        stop.clear()
        current = Turn(str(len(turns) + 1), message)
        chat = [*chat, {"role": "assistant", "content": ""}]

        def failed(reason: object) -> tuple[list[dict], str, list[tuple[str, str]], list[str]]:
            # Every exchange adds one pair and one sources group, so that they stay aligned
            # with the conversation (Retry drops the last of each).
            failed_chat = [*chat[:-1], {"role": "assistant", "content": f"Error: {reason}"}]
            return failed_chat, sources_panel(turns), [*pairs, (message, "")], [*turns, ""]

        try:
            library = self.variant(model, top_k, policy, level, temperature, collections)
        except Exception as exc:
            log.exception("choosing %s failed", model)
            yield failed(exc)
            return
        events: queue.Queue = queue.Queue()
        history = [(q, a) for q, a in pairs if a]  # what was answered: stopped turns say nothing
        worker = threading.Thread(
            target=self._answer,
            args=(library, message, history, events, stop),
            name="docqa-answer",
            daemon=True,
        )
        start = time.monotonic()
        worker.start()
        shown = None
        while True:
            try:
                item = events.get(timeout=TICK_S)
            except queue.Empty:
                item = None
            now = time.monotonic()
            if item is _END:  # the stream ended without an answer and without Stop
                yield failed("the answer ended without a result (see the server log)")
                return
            if isinstance(item, BaseException):  # shown to the person, and logged by _answer
                yield failed(item)
                return
            if item is not None:
                current.feed(item, now)
            view = current.stopped() if stop.is_set() else current.view(now - start, now)
            groups = [*turns, view.sources]
            if view.done:
                if view.answer is not None:
                    self._keep(session, pairs, message, view.answer)
                pairs = [*pairs, (message, "" if view.answer is None else view.answer.text)]
                outcome = (
                    "stopped"
                    if view.answer is None
                    else "abstained"
                    if view.answer.abstained
                    else "answered"
                )
                t = view.answer.timings if view.answer is not None else {}
                log.info(
                    "%s in %.1f s (preview %s, first token %s): %r",
                    outcome,
                    now - start,
                    _seconds(t.get("first_output_s")),
                    _seconds(t.get("first_token_s")),
                    message[:200],
                )
                turns = groups
            if (view.reply, view.sources) != shown or view.done:
                shown = (view.reply, view.sources)
                chat = [*chat[:-1], {"role": "assistant", "content": view.reply}]
                yield chat, sources_panel(groups), pairs, turns
            if view.done:
                return

    def _keep(
        self, session: str, pairs: list[tuple[str, str]], message: str, answer: Answer
    ) -> None:
        """Keep an answer for export, after those of the conversation's earlier questions (a
        Retry, or another conversation reopened, leaves out what no longer leads up to it)."""
        kept = self._answers.get(session, [])
        same = 0
        while same < min(len(kept), len(pairs)) and kept[same][0] == pairs[same][0]:
            same += 1
        self._answers[session] = [*kept[:same], (message, answer)]

    def export(self, pairs: list[tuple[str, str]], fmt: str, session: str = "local") -> str:
        """The conversation on screen as Markdown or HTML (see `docqa ask --export`): the
        answers this server gave it in this session."""
        kept = self._answers.get(session, [])
        answers = [a for (q, a), (asked, _) in zip(kept, pairs, strict=False) if q == asked]
        if not answers:
            raise ValueError("nothing to export: ask a question first")
        with self.lock:  # the export reads the index for the files' content hashes
            return self.library.export(answers, fmt)

    def retake(
        self, chat: list[dict], pairs: list[tuple[str, str]], turns: list[str], busy: bool
    ) -> tuple[list[dict], str, list[tuple[str, str]], list[str], bool]:
        """Retry: take the last question back out of the conversation to answer it again:
        (chat without the last answer, the question, conversation, sources per turn, busy)."""
        if busy:
            raise Busy
        last = next(
            (i for i in range(len(chat) - 1, -1, -1) if chat[i].get("role") == "user"), None
        )
        if last is None:
            return chat, "", pairs, turns, False
        question = conversations.message_text(chat[last].get("content"))
        return chat[: last + 1], question, pairs[:-1], turns[:-1], True

    def _answer(
        self,
        library: Library,
        message: str,
        history: list[tuple[str, str]],
        events: queue.Queue,
        stop: threading.Event,
    ) -> None:
        """The worker: wait for the model (saying why), stream the pipeline's events, and stop
        generating — closing the stream frees the model — as soon as Stop is pressed."""
        try:
            if not self.lock.acquire(blocking=False):
                events.put(
                    "Loading the models (once after a start)"
                    if self._warming.is_set()
                    else "Waiting for the previous answer to finish"
                )
                self.lock.acquire()
            try:
                if stop.is_set():
                    return
                stream = library.stream(message, history)
                try:
                    for event in stream:
                        events.put(event)
                        if stop.is_set():
                            break
                finally:
                    close = getattr(stream, "close", None)
                    if close is not None:
                        close()
            finally:
                self.lock.release()
        except Exception as exc:
            log.exception("answering %r failed", message)
            events.put(exc)
        finally:
            events.put(_END)

    def stop(self, session: str = "local") -> None:
        """Stop the answer being written for `session` (its text so far stays, unchecked)."""
        if session in self._stops:
            self._stops[session].set()

    def open_conversation(
        self, store: Any, conversation_id: str | None = None
    ) -> tuple[list[dict], list[tuple[str, str]], list[str], str, str]:
        """(chat, conversation, sources per turn, sources panel, id) of a kept conversation
        (the current one by default), or of a new one."""
        c = conversations.opened(store, conversation_id)
        return c.chat, c.pairs, c.turns, sources_panel(c.turns), c.id

    # ---- documents ------------------------------------------------------------------------
    def ingest_uploads(self, files: list[Any] | None, progress: Any = None) -> tuple[list, list]:
        """Save uploads into the index's upload folder, then ingest them."""
        rows: list[list[str]] = []
        saved = []
        max_bytes = self.config.max_upload_mb * 1024 * 1024
        for f in files or []:
            path = Path(getattr(f, "name", f))
            shown = getattr(f, "orig_name", None) or path.name
            try:
                saved.append(save_upload(path, shown, self.upload_dir, max_bytes))
            except (UploadError, OSError) as exc:
                rows.append([shown, "failed", str(exc)])
        if saved:
            rows += self._ingest(saved, progress, [self.upload_dir])
        return rows, self.documents()

    def ingest_path(self, text: str, progress: Any = None) -> tuple[list, list]:
        """Ingest a file or folder on this machine, as `docqa ingest PATH` would, if it lies
        in one of `ui.ingest_roots`: whoever reaches the chat must not make docqa read (and
        then quote) any file the server can read."""
        if not (text or "").strip():
            return [["", "failed", "type a file or folder path"]], self.documents()
        roots = list(self.config.ingest_roots)
        if not roots:
            reason = (
                "ingesting a path from the chat is off: list the folders it may read in "
                "ui.ingest_roots, or use `docqa ingest`"
            )
            return [[text.strip(), "failed", reason]], self.documents()
        path = Path(text.strip()).expanduser()
        return self._ingest([path], progress, roots), self.documents()

    def _ingest(self, paths: list[Path], progress: Any, within: list[Path]) -> list[list[str]]:
        rows: list[list[str]] = []

        def record(outcome: FileOutcome) -> None:
            n = outcome.chunks
            detail = (
                outcome.reason
                if outcome.status in ("failed", "skipped")
                else f"{n} chunk{'' if n == 1 else 's'}"
            )
            rows.append([outcome.path, outcome.status, detail or ""])
            if progress is not None:
                progress((len(rows), None), desc=f"{outcome.status}: {Path(outcome.path).name}")

        with self.lock:
            self.library.ingest(paths, on_outcome=record, within=within)
        return rows

    def documents(self) -> list[list[Any]]:
        try:
            with self.lock:
                records = self.library.sources()
        except Exception:  # no index yet: an empty list, not an error page
            return []
        return [[r.path, r.format, r.chunks] for r in records]

    def remove(self, path: str | None) -> tuple[str, list]:
        """Remove a document from the index (the page asks first); a file that was uploaded
        into the index's upload folder is deleted with it, since nothing else refers to it."""
        if not path:
            return "Nothing removed.", self.documents()
        with self.lock:
            removed = self.library.remove(Path(path))
        uploads = self.upload_dir.resolve()
        for name, _ in removed:
            copy = Path(name)
            if copy.parent.resolve() == uploads and copy.is_file():
                copy.unlink()
        message = (
            f"Removed {len(removed)} file(s), {sum(c for _, c in removed)} chunks."
            if removed
            else f"{path} is not in the index."
        )
        return message, self.documents()

    def welcome(self) -> str:
        """What the empty conversation says: what is indexed and what to ask."""
        try:
            with self.lock:
                records = self.library.sources()
        except Exception:
            records = []
        if not records:
            return (
                "**Nothing is indexed yet.** Add files in the Documents tab (or with "
                "`docqa ingest`), then ask about them here."
            )
        names = [Path(r.path).name for r in records]
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        return (
            f"**Ask about your {len(names)} indexed document{'s' if len(names) > 1 else ''}**: "
            f"{shown}. Every answer cites its passages — click a [n] to read one — or says "
            "it does not know."
        )


def _level(value: str | float) -> str | float:
    """The settings panel's level: a level's name, or a number the settings gave.

    >>> _level("strict"), _level("0.7")
    ('strict', 0.7)
    """
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _seconds(value: float | None) -> str:
    """A timing for the log: "1.2 s", or "—" where there was none."""
    return "—" if value is None else f"{value:.1f} s"
