"""The Gradio app: widgets wired to the library API, nothing more.

Rendering lives in `ui.chat`, upload safety in `ui.uploads`, and every answer and ingest goes
through the same library verbs the CLI uses. The app does not know the application package:
it is handed a `Library` (docqa's `Pipeline` is one) and a `ChatConfig` (built from the
settings by `docqa.chat`). One lock serialises the model and the index: a llama.cpp context
answers one prompt at a time, and an ingest must not interleave with a question's reads.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from generation.calibration import Calibration
from generation.types import AnswerEvent
from index.base import FileRecord
from ingest.ingester import FileOutcome
from ui.chat import chat_views, levels_markdown
from ui.uploads import UploadError, save_upload

log = logging.getLogger(__name__)

MAX_VARIANTS = 4  # settings-panel combinations kept ready; each other model holds ~2 GB

CSS = """
.docqa-source { border: 1px solid #ddd; border-radius: 6px; padding: 6px 10px; margin: 6px 0; }
.docqa-source p { display: none; white-space: pre-wrap; margin: 6px 0 0 0; }
.docqa-source.docqa-active { border-color: #e8a33d; background: #fff8ec; }
.docqa-source.docqa-active p { display: block; }
.docqa-source-head { cursor: pointer; }
.docqa-flag { text-decoration: underline wavy #d9534f; }
.docqa-gap { font-style: italic; }
mark { background: #ffe08a; }
"""

# Citation markers and source headers open the passage in the side panel. A capturing listener
# on the document survives Gradio re-rendering the chat, and prevents the link from navigating.
HEAD = """<script>
document.addEventListener("click", (event) => {
  const cite = event.target.closest('a[href^="#docqa-src-"]');
  const head = event.target.closest(".docqa-source-head");
  if (!cite && !head) return;
  event.preventDefault();
  event.stopPropagation();
  const n = cite ? cite.getAttribute("href").slice("#docqa-src-".length)
                 : head.parentElement.dataset.src;
  document.querySelectorAll(".docqa-source").forEach((el) =>
    el.classList.toggle("docqa-active", el.dataset.src === n));
  const shown = document.getElementById("docqa-src-" + n);
  if (shown) shown.scrollIntoView({ block: "nearest" });
}, true);
</script>"""


@dataclass(frozen=True, slots=True)
class Choices:
    """What the settings panel chooses for the next question."""

    model: str
    top_k: int
    policy: str
    level: str | float
    temperature: float


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
    def calibration(self) -> Calibration: ...
    def with_choices(
        self, *, model: str, top_k: int, policy: str, level: str | float, temperature: float
    ) -> Library:
        """The same library answering with other choices, sharing what they leave loaded."""
        ...


class DocqaApp:
    """The state behind the UI: one base library, and variants for the settings panel."""

    def __init__(self, library: Library, config: ChatConfig) -> None:
        self.library = library
        self.config = config
        self.lock = threading.Lock()
        self._variants: dict[Choices, Library] = {}

    @property
    def upload_dir(self) -> Path:
        return self.config.upload_dir

    def warm_up(self) -> None:
        """Load the models while the page loads; the first question waits on the lock rather
        than loading them a second time. A failure here is the first question's to report."""
        with self.lock:
            try:
                self.library.warm_up()
            except Exception:
                log.warning("warming up the models failed", exc_info=True)

    def variant(
        self, model: str, top_k: int, policy: str, level: str, temperature: float
    ) -> Library:
        """The library for the settings panel's choices; the base one when they are unchanged.
        Variants share the embedder, the index and, if model and sampling agree, the model."""
        key = Choices(
            model.strip() or self.config.choices.model,
            int(top_k),
            policy,
            _level(level),
            float(temperature),
        )
        if key == self.config.choices:
            return self.library
        if key not in self._variants:
            if len(self._variants) >= MAX_VARIANTS:  # forget the oldest choice (and its model)
                self._variants.pop(next(iter(self._variants)))
            self._variants[key] = self.library.with_choices(**asdict(key))
        return self._variants[key]

    # ---- chat -----------------------------------------------------------------------------
    def respond(
        self,
        message: str,
        chat: list[dict],
        pairs: list[tuple[str, str]],
        model: str,
        top_k: int,
        policy: str,
        level: str,
        temperature: float,
    ) -> Iterator[tuple[list[dict], str, list[tuple[str, str]], str]]:
        """Stream one exchange: (chat messages, sources panel, conversation, cleared input)."""
        message = (message or "").strip()
        if not message:
            yield chat, "", pairs, ""
            return
        chat = [*chat, {"role": "user", "content": message}, {"role": "assistant", "content": "…"}]
        yield chat, "", pairs, ""
        try:
            library = self.variant(model, top_k, policy, level, temperature)
            with self.lock:
                for view in chat_views(library, message, pairs):
                    chat[-1] = {"role": "assistant", "content": view.reply}
                    if view.done and view.answer is not None:
                        pairs = [*pairs, (message, view.answer.text)]
                    yield chat, view.sources, pairs, ""
        except Exception as exc:  # shown to the person, not a stack trace in a log only
            log.exception("answering %r failed", message)
            chat[-1] = {"role": "assistant", "content": f"Error: {exc}"}
            yield chat, "", pairs, ""

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

    def remove(self, path: str) -> tuple[str, list]:
        if not path:
            return "Choose a document to remove.", self.documents()
        with self.lock:
            removed = self.library.remove(Path(path))
        message = (
            f"Removed {len(removed)} file(s), {sum(c for _, c in removed)} chunks."
            if removed
            else f"{path} is not in the index."
        )
        return message, self.documents()


def build(library: Library, config: ChatConfig, *, warm: bool = False):
    """The Gradio Blocks over `library` (not launched); with `warm`, the models load in the
    background at once instead of at the first question."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    app = DocqaApp(library, config)
    if warm:
        threading.Thread(target=app.warm_up, name="docqa-warm-up", daemon=True).start()
    start = config.choices
    calibration = library.calibration()
    with gr.Blocks(title="docqa", analytics_enabled=False) as blocks:
        gr.Markdown("## docqa — answers from your documents, with sources, or “I don't know”")
        with gr.Tab("Chat"):
            pairs = gr.State([])
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(
                        label="Conversation", height=520, elem_id="docqa-chat", sanitize_html=True
                    )
                    question = gr.Textbox(
                        label="Question",
                        placeholder="Ask your documents…",
                        elem_id="docqa-question",
                        info="Ask in English: docqa's search model reads English only.",
                    )
                    with gr.Row():
                        ask = gr.Button("Ask", variant="primary", elem_id="docqa-ask")
                        clear = gr.Button("New conversation")
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    sources = gr.HTML(elem_id="docqa-sources")
                    with gr.Accordion("Settings", open=False):
                        model = gr.Textbox(value=start.model, label="Model (name or GGUF file)")
                        top_k = gr.Slider(
                            1,
                            8,
                            value=start.top_k,
                            step=1,
                            label="Passages given to the model",
                        )
                        level = gr.Radio(
                            _level_choices(calibration, start.level),
                            value=str(start.level),
                            label="How sure docqa must be before it answers",
                            elem_id="docqa-level",
                        )
                        gr.Markdown(levels_markdown(calibration), elem_id="docqa-levels")
                        policy = gr.Radio(
                            ["strict", "flag"],
                            value=start.policy,
                            label="Sentences below that: drop (strict) or mark (flag)",
                        )
                        temperature = gr.Slider(
                            0.0, 1.5, value=start.temperature, step=0.1, label="Temperature"
                        )
            inputs = [question, chat, pairs, model, top_k, policy, level, temperature]
            outputs = [chat, sources, pairs, question]
            ask.click(app.respond, inputs, outputs, concurrency_limit=1)
            question.submit(app.respond, inputs, outputs, concurrency_limit=1)
            clear.click(lambda: ([], "", [], ""), None, outputs)
        with gr.Tab("Documents"):
            with gr.Row():
                with gr.Column():
                    files = gr.File(
                        file_count="multiple",
                        label="Upload files to ingest",
                        elem_id="docqa-upload",
                    )
                    upload_button = gr.Button("Ingest uploads", variant="primary")
                with gr.Column():
                    folder = gr.Textbox(label="Or a file or folder on this machine")
                    folder_button = gr.Button("Ingest path")
            outcome = gr.Dataframe(
                headers=["file", "status", "detail"],
                label="Ingest result",
                interactive=False,
                elem_id="docqa-outcome",
            )
            docs = gr.Dataframe(
                headers=["file", "format", "chunks"],
                label="Indexed documents",
                interactive=False,
                elem_id="docqa-documents",
            )
            with gr.Row():
                chosen = gr.Dropdown(label="Remove a document", choices=[], allow_custom_value=True)
                remove_button = gr.Button("Remove", variant="stop")
            removed = gr.Markdown()

            def ingest_uploads(f, progress=gr.Progress()):  # noqa: B008 - Gradio's injection
                return app.ingest_uploads(f, progress)

            def ingest_path(p, progress=gr.Progress()):  # noqa: B008
                return app.ingest_path(p, progress)

            upload_button.click(ingest_uploads, [files], [outcome, docs], concurrency_limit=1)
            folder_button.click(ingest_path, [folder], [outcome, docs], concurrency_limit=1)
            remove_button.click(app.remove, [chosen], [removed, docs], concurrency_limit=1)
            docs.change(
                lambda rows: gr.Dropdown(choices=[r[0] for r in _rows(rows)]), [docs], [chosen]
            )
        blocks.load(app.documents, None, [docs])
    blocks.docqa = app  # for tests and callers that want the state behind the widgets
    return blocks


def _level(value: str | float) -> str | float:
    """The settings panel's level: a level's name, or a number the settings gave.

    >>> _level("strict"), _level("0.7")
    ('strict', 0.7)
    """
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _level_choices(calibration: Calibration, configured: str | float) -> list[str]:
    """The calibrated levels, plus the configured threshold when the settings give a number.

    >>> _level_choices(Calibration.load(), 0.7)
    ['strict', 'balanced', 'lenient', '0.7']
    """
    choices = list(calibration.levels)
    return choices if str(configured) in choices else [*choices, str(configured)]


def _rows(table: Any) -> list[list[Any]]:
    """Gradio hands a Dataframe's value over as a pandas DataFrame or as a list of rows."""
    if hasattr(table, "values"):
        return [list(r) for r in table.values.tolist()]
    return list(table or [])


def launch(library: Library, config: ChatConfig) -> None:
    """Serve the app until interrupted, on `config.host` (loopback unless configured
    otherwise), with a login when both a username and a password are configured."""
    auth = (config.username, config.password) if config.username and config.password else None
    if bool(config.username) != bool(config.password):
        raise ValueError("set both ui.username and ui.password, or neither")
    blocks = build(library, config, warm=True)
    blocks.queue(default_concurrency_limit=1).launch(
        server_name=config.host,
        server_port=config.port,
        auth=auth,
        max_file_size=f"{config.max_upload_mb}mb",
        css=CSS,
        head=HEAD,
        show_error=True,
        quiet=True,
        footer_links=[],
    )
