"""The chat, connected to the library: its configuration read from the settings.

`ui` knows nothing of the application package; this is where docqa hands it a pipeline (the
`ui.app.Library` it answers through) and a `ui.app.ChatConfig` read from the settings.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from core.errors import DocqaError
from docqa.collections import UPLOADS, Collections  # uploads: under the index folder
from docqa.config import Settings
from docqa.pipeline import Pipeline
from generation.models import KNOWN_MODELS
from ui.app import ChatConfig, Choices, DocqaApp


def chat_config(
    settings: Settings, *, host: str | None = None, port: int | None = None
) -> ChatConfig:
    """The chat's configuration: the settings panel starts at the configured choices, uploads
    go under the index folder, and the server listens where `ui.*` (or `host`/`port`) says."""
    ui = settings.ui
    return ChatConfig(
        choices=Choices(
            model=settings.generation.model,
            top_k=settings.retrieval.top_k,
            policy=settings.factcheck.policy,
            level=settings.factcheck.level,
            temperature=settings.generation.temperature,
        ),
        # over several collections, uploads are refused at ingest ("needs one collection")
        upload_dir=settings.for_collection(settings.collections[0]).index_folder / UPLOADS,
        ingest_roots=tuple(Path(r).expanduser() for r in ui.ingest_roots),
        max_upload_mb=ui.max_upload_mb,
        host=host or ui.host,
        port=port or ui.port,
        username=ui.username or "",
        password=ui.password or "",
        models=tuple(KNOWN_MODELS),
        collections=_collections(settings),
        conversation_key="docqa-"
        + hashlib.sha256(str(settings.index_location).encode()).hexdigest()[:16],
    )


def _collections(settings: Settings) -> tuple[str, ...]:
    """The chat's own collection first, then the others it may ask over as well."""
    if len(settings.collections) > 1:
        return ()  # a chat over several collections at once has no single one to manage
    own = settings.collection
    try:
        others = Collections(settings).names()
    except DocqaError:  # a database that cannot be listed: the chat's own collection only
        others = []
    return (own, *(n for n in others if n != own))


def chat_app(pipeline: Pipeline) -> DocqaApp:
    """The state behind the chat for `pipeline`, without a page: for tests and scripts."""
    return DocqaApp(pipeline, chat_config(pipeline.settings))


def serve_chat(pipeline: Pipeline, *, host: str | None = None, port: int | None = None) -> None:
    """Serve the chat over `pipeline` until interrupted."""
    from ui.page import launch  # Gradio loads only when a page is served

    launch(pipeline, chat_config(pipeline.settings, host=host, port=port))
