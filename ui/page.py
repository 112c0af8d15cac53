"""The chat's page: Gradio widgets wired to `ui.app.DocqaApp`, the CSS and the script.

Kept apart from the app's state so that everything else in `ui` is tested without Gradio,
and so that Gradio sees the `gr.Request` annotations it injects the browser session by.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import gradio as gr  # noqa: E402

from generation.calibration import Calibration  # noqa: E402
from ui import conversations  # noqa: E402
from ui.app import Busy, ChatConfig, DocqaApp, Library  # noqa: E402
from ui.chat import levels_markdown  # noqa: E402

CSS = """
.docqa-panel .docqa-sources { display: none; }
.docqa-panel .docqa-sources:last-child { display: block; }
.docqa-panel.docqa-picked .docqa-sources { display: none; }
.docqa-panel.docqa-picked .docqa-sources.docqa-shown { display: block; }
.docqa-sources-for { font-size: 0.85em; opacity: 0.8; margin: 2px 0 6px 0; }
.docqa-source { border: 1px solid var(--border-color-primary); border-radius: 6px;
  padding: 6px 10px; margin: 6px 0; overflow-wrap: anywhere; }
.docqa-source p { display: none; white-space: pre-wrap; margin: 6px 0 0 0; }
.docqa-source.docqa-active { border-color: #e8a33d; background: var(--background-fill-secondary);
  color: var(--body-text-color); }
.docqa-source.docqa-active p { display: block; }
.docqa-source-head { cursor: pointer; }
.docqa-flag { text-decoration: underline wavy #d9534f; }
.docqa-gap { font-style: italic; }
.docqa-copy { font-size: 0.8em; opacity: 0.8; }
.docqa-stage, .docqa-stopped { font-size: 0.85em; font-style: italic; opacity: 0.75; }
.docqa-preview { border-left: 3px solid #e8a33d; padding: 2px 0 2px 8px; opacity: 0.85; }
.docqa-preview-note { opacity: 0.8; }
mark { background: #ffe08a; color: #1a1a1a; }
"""

# A citation marker opens its own answer's passage (ids carry the turn); a source's header
# opens or closes it. A capturing listener on the document survives Gradio re-rendering the
# chat, and keeps the link from navigating.
HEAD = """<script>
document.addEventListener("click", (event) => {
  const copy = event.target.closest("a.docqa-copy");
  if (copy) {
    event.preventDefault();
    event.stopPropagation();
    navigator.clipboard.writeText(copy.title).then(() => {
      copy.textContent = "Copied";
      setTimeout(() => { copy.textContent = "Copy with sources"; }, 1500);
    });
    return;
  }
  const cite = event.target.closest('a[href^="#docqa-src-"]');
  const head = event.target.closest(".docqa-source-head");
  if (!cite && !head) return;
  event.preventDefault();
  event.stopPropagation();
  const source = cite ? document.getElementById(cite.getAttribute("href").slice(1))
                      : head.parentElement;
  if (!source) return;
  const group = source.closest(".docqa-sources");
  const panel = source.closest(".docqa-panel");
  if (panel) {
    panel.classList.add("docqa-picked");
    panel.querySelectorAll(".docqa-sources").forEach((g) =>
      g.classList.toggle("docqa-shown", g === group));
  }
  const open = cite ? true : !source.classList.contains("docqa-active");
  (panel || group).querySelectorAll(".docqa-source").forEach((el) =>
    el.classList.toggle("docqa-active", el === source && open));
  source.scrollIntoView({ block: "nearest" });
}, true);
</script>"""


def build(
    library: Library,
    config: ChatConfig,
    *,
    warm: bool = False,
    lock: threading.Lock | None = None,
):
    """The Gradio Blocks over `library` (not launched); with `warm`, the models load in the
    background at once instead of at the first question; `lock` is the model and index lock
    when something else (the HTTP API) answers from the same models."""
    app = DocqaApp(library, config, lock=lock)
    if warm:
        threading.Thread(target=app.warm_up, name="docqa-warm-up", daemon=True).start()
    start = config.choices
    calibration = library.calibration()
    with gr.Blocks(title="docqa", analytics_enabled=False) as blocks:
        gr.Markdown("## docqa — answers from your documents, with sources, or “I don't know”")
        with gr.Tab("Chat"):
            pairs = gr.State([])  # (question, answer) pairs: what a follow-up is read against
            turns = gr.State([])  # each answer's sources, so old citations open their own
            pending = gr.State("")  # the question taken from the box, being answered
            busy = gr.State(False)
            current = gr.State("")  # the id of the conversation shown
            # Every conversation of this index, kept in the browser (ui.conversations).
            saved = gr.BrowserState(
                {}, storage_key=config.conversation_key, secret=config.conversation_key
            )
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(
                        label="Conversation",
                        height=520,
                        elem_id="docqa-chat",
                        sanitize_html=True,
                        placeholder=app.welcome(),
                    )
                    question = gr.Textbox(
                        label="Question",
                        placeholder="Ask your documents…",
                        elem_id="docqa-question",
                        info="Ask in English: docqa's search model reads English only.",
                    )
                    with gr.Row():
                        ask = gr.Button("Ask", variant="primary", elem_id="docqa-ask")
                        stop = gr.Button(
                            "Stop", variant="stop", visible=False, elem_id="docqa-stop"
                        )
                        clear = gr.Button("New conversation", elem_id="docqa-new")
                    with gr.Accordion("Conversations", open=False, elem_id="docqa-history"):
                        shelf = gr.Dropdown(
                            label="Open a conversation", choices=[], elem_id="docqa-shelf"
                        )
                        with gr.Row():
                            name = gr.Textbox(
                                label="Name this conversation", scale=3, elem_id="docqa-name"
                            )
                            rename = gr.Button("Rename", scale=1, elem_id="docqa-rename")
                            delete = gr.Button(
                                "Delete", variant="stop", scale=1, elem_id="docqa-delete"
                            )
                        export = gr.Button(
                            "Export with quotes and sources (Markdown, HTML)",
                            elem_id="docqa-export",
                        )
                        exported = gr.File(
                            label="Exported conversation",
                            file_count="multiple",
                            visible=False,
                            interactive=False,
                            elem_id="docqa-exported",
                        )
                with gr.Column(scale=2):
                    collections = gr.Dropdown(
                        choices=list(config.collections),
                        value=list(config.collections[:1]),
                        multiselect=True,
                        label="Ask over collections",
                        visible=len(config.collections) > 1,
                        elem_id="docqa-collections",
                    )
                    gr.Markdown("### Sources")
                    sources = gr.HTML(elem_id="docqa-sources")
                    with gr.Accordion("Settings", open=False):
                        model = gr.Dropdown(
                            choices=list(dict.fromkeys([start.model, *config.models])),
                            value=start.model,
                            allow_custom_value=True,
                            label="Answer model (a name, or the path of a GGUF file)",
                        )
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

            def free(is_busy):
                """Refuse a question sent while one is answered, in a toast: an error on
                this step (which has no outputs) leaves the box and the chat as they are."""
                if is_busy:
                    raise gr.Error(str(Busy()), title="One question at a time")

            def take(message, history, is_busy):
                box, history, taken, now_busy = app.take(message, history, is_busy)
                return (
                    box,
                    history,
                    taken,
                    now_busy,
                    gr.Button(interactive=not now_busy),
                    gr.Button(visible=now_busy),
                )

            def respond(
                message,
                history,
                conversation,
                groups,
                model_name,
                passages,
                sentences,
                sure,
                heat,
                chosen,
                request: gr.Request,
            ):
                yield from app.respond(
                    message,
                    history,
                    conversation,
                    groups,
                    model_name,
                    passages,
                    sentences,
                    sure,
                    heat,
                    chosen,
                    session=getattr(request, "session_hash", None) or "local",
                )

            def listed(store, shown_id):
                choices = conversations.listing(store)
                shown = shown_id if any(i == shown_id for _, i in choices) else None
                return gr.Dropdown(choices=choices, value=shown)

            def finish(history, conversation, groups, store, shown_id):
                shown_id = shown_id or conversations.new_id()
                store = conversations.keep(
                    store, conversations.Conversation(shown_id, history, conversation, groups)
                )
                return (
                    False,
                    gr.Button(interactive=True),
                    gr.Button(visible=False),
                    store,
                    shown_id,
                    listed(store, shown_id),
                )

            def stop_answer(request: gr.Request):
                app.stop(getattr(request, "session_hash", None) or "local")

            def show(store, conversation_id):
                history, conversation, groups, panel, shown_id = app.open_conversation(
                    store, conversation_id
                )
                store = {**conversations.shelf(store), "current": shown_id}
                # the welcome names what is indexed now, uploads since the start included
                shown = gr.Chatbot(value=history, placeholder=app.welcome())
                return (
                    shown,
                    panel,
                    conversation,
                    groups,
                    store,
                    shown_id,
                    listed(store, shown_id),
                    "",
                )

            def new_conversation(store, request: gr.Request):
                """A new, empty conversation; the one shown stays on the shelf."""
                stop_answer(request)
                return show(store, conversations.new_id())

            def clear_conversation(store, shown_id, request: gr.Request):
                """The trash icon: this conversation is gone, from the model's view too."""
                stop_answer(request)
                return show(conversations.forgotten(store, shown_id), conversations.new_id())

            def delete_conversation(store, shown_id, is_busy, request: gr.Request):
                if is_busy or not shown_id:  # cancelled, or an answer is being written
                    return (gr.skip(),) * 8
                return clear_conversation(store, shown_id, request)

            def reopen(store, conversation_id, is_busy):
                if is_busy or not conversation_id:
                    return (gr.skip(),) * 8
                return show(store, conversation_id)

            def rename_conversation(store, shown_id, title):
                store = conversations.renamed(store, shown_id, title)
                return store, listed(store, shown_id), ""

            kept_in = [chat, pairs, turns, saved, current]
            kept_out = [busy, ask, stop, saved, current, shelf]
            taken = [question, chat, busy]
            took = [question, chat, pending, busy, ask, stop]
            answer_in = [
                *[pending, chat, pairs, turns, model, top_k, policy, level, temperature],
                collections,
            ]
            answer_out = [chat, sources, pairs, turns]
            for trigger in (ask.click, question.submit):
                trigger(free, [busy], None, concurrency_limit=None).success(
                    take, taken, took, queue=False
                ).success(respond, answer_in, answer_out, concurrency_limit=1).then(
                    finish, kept_in, kept_out, queue=False
                )

            def retake(history, conversation, groups, is_busy):
                history, taken, conversation, groups, now_busy = app.retake(
                    history, conversation, groups, is_busy
                )
                return (
                    history,
                    taken,
                    conversation,
                    groups,
                    now_busy,
                    gr.Button(interactive=not now_busy),
                    gr.Button(visible=now_busy),
                )

            chat.retry(free, [busy], None, concurrency_limit=None).success(
                retake,
                [chat, pairs, turns, busy],
                [chat, pending, pairs, turns, busy, ask, stop],
                queue=False,
            ).success(respond, answer_in, answer_out, concurrency_limit=1).then(
                finish, kept_in, kept_out, queue=False
            )
            stop.click(stop_answer, None, None, queue=False)

            def export_conversation(conversation, request: gr.Request):
                session = getattr(request, "session_hash", None) or "local"
                folder = Path(tempfile.mkdtemp(prefix="docqa-export-"))
                try:
                    files = []
                    for fmt in ("md", "html"):
                        path = folder / f"docqa-conversation.{fmt}"
                        path.write_text(app.export(conversation, fmt, session), encoding="utf-8")
                        files.append(str(path))
                except ValueError as exc:
                    raise gr.Error(str(exc), title="Export") from None
                return gr.File(value=files, visible=True)

            export.click(export_conversation, [pairs], [exported])
            shown_out = [chat, sources, pairs, turns, saved, current, shelf, name]
            clear.click(new_conversation, [saved], shown_out, queue=False)
            chat.clear(clear_conversation, [saved, current], shown_out, queue=False)
            shelf.input(reopen, [saved, shelf, busy], shown_out, queue=False)
            rename.click(
                rename_conversation, [saved, current, name], [saved, shelf, name], queue=False
            )
            delete.click(
                delete_conversation,
                [saved, current, busy],
                shown_out,
                queue=False,
                js="(s, id, b) => [s, confirm('Delete this conversation?') ? id : null, b]",
            )
            blocks.load(show, [saved, current], shown_out, queue=False)
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
                remove_button = gr.Button("Remove", variant="stop", elem_id="docqa-remove")
            removed = gr.Markdown()

            def ingest_uploads(f, progress=gr.Progress()):  # noqa: B008 - Gradio's injection
                return app.ingest_uploads(f, progress)

            def ingest_path(p, progress=gr.Progress()):  # noqa: B008
                return app.ingest_path(p, progress)

            upload_button.click(ingest_uploads, [files], [outcome, docs], concurrency_limit=1)
            folder_button.click(ingest_path, [folder], [outcome, docs], concurrency_limit=1)
            remove_button.click(
                app.remove,
                [chosen],
                [removed, docs],
                concurrency_limit=1,
                # Ask first: removing drops the document's passages (and an uploaded copy).
                js="(path) => path && confirm(`Remove ${path} from the index?`) ? path : null",
            )
            docs.change(
                lambda rows: gr.Dropdown(choices=[r[0] for r in _rows(rows)]), [docs], [chosen]
            )
        blocks.load(app.documents, None, [docs])
    blocks.docqa = app  # for tests and callers that want the state behind the widgets
    return blocks


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


def mount(app: Any, library: Library, config: ChatConfig, lock: threading.Lock) -> None:
    """Serve the chat at / of an existing FastAPI app (`docqa serve`), under its lock."""
    if bool(config.username) != bool(config.password):
        raise ValueError("set both ui.username and ui.password, or neither")
    auth = (config.username, config.password) if config.username and config.password else None
    blocks = build(library, config, warm=True, lock=lock)
    blocks.queue(default_concurrency_limit=1)
    gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        auth=auth,
        max_file_size=f"{config.max_upload_mb}mb",
        css=CSS,
        head=HEAD,
        show_error=True,
        footer_links=[],
    )


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
