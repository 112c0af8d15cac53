"""The composition root: the one place that knows every stage and wires them from `Settings`.

`build_pipeline(settings)` gives a `Pipeline` with the library API the CLI and UI call:
`ingest`, `ask`, `sources`, `remove`. Tests pass fakes (`embedder=`, `generator=`); nothing
here is a global, and nothing heavy loads until first used.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import index.open
from core.embedding import Embedder, SentenceTransformerEmbedder
from core.errors import DocqaError
from docqa.config import Settings
from generation.answerability import AnswerabilityCheck
from generation.answerer import Answerer
from generation.calibration import Calibration, Level
from generation.factcheck import ClaimCheck, EmbeddingSupport, Verifier
from generation.gate import RelevanceGate
from generation.llm import Generator, LlamaCppGenerator
from generation.models import resolve_model
from generation.probes import Probes
from generation.rewrite import REWRITE_SYSTEM, refers_back, standalone_question
from generation.selection import ContextSelector
from generation.server import ServerGenerator
from generation.support import JudgeMode, SupportCheck
from generation.types import Answer, AnswerEvent, Done, Rewritten, final_answer
from generation.windows import SentenceWindows
from index.base import FileRecord, Store
from index.manifest import Manifest
from index.open import Location
from ingest.ingester import FileOutcome, Ingester, IngestReport
from ingest.loaders import path_text, source_key
from retrieval.hybrid import HybridRetriever
from retrieval.several import SeveralRetriever
from retrieval.types import Retriever

log = logging.getLogger(__name__)


class QuestionTooLongError(DocqaError, ValueError):
    """A question over `generation.max_question_chars`; the message says by how much."""


class Pipeline:
    """docqa's library API over one index directory."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.settings = settings
        self.embedder: Embedder = embedder or SentenceTransformerEmbedder(
            settings.ingest.embedding_model, batch_size=settings.ingest.embed_batch_size
        )
        self._generator = generator
        self._model_path: Path | None = None
        self._store: Store | None = None
        self._stores: dict[str, Store] = {}  # several collections asked together, read-only
        self._calibration: Calibration | None = None
        self._windows: SentenceWindows | None = None
        self._answerers: dict[tuple[bool, bool], Answerer] = {}
        self._loaded: set[bool] = set()  # loaded without / with the rewrite prompt's prefix
        self._models_from: Pipeline | None = None  # `on`: the pipeline whose models these are

    # ---- stages, built on first use --------------------------------------------------------
    def model_path(self) -> Path:
        """The configured GGUF file, assembled and verified once (the eval baseline loads it
        too)."""
        if self._model_path is None:
            self._model_path = resolve_model(
                self.settings.generation.model, self.settings.model_cache, progress=True
            )
        return self._model_path

    @property
    def generator(self) -> Generator:
        if self._generator is None and self._models_from is not None:
            self._generator = self._models_from.generator  # loaded once, for all collections
        if self._generator is None:
            gen = self.settings.generation
            if gen.backend == "server":  # no GGUF file needed here: the server has the model
                self._generator = ServerGenerator(
                    gen.server_url or "",
                    gen.server_model or gen.model,
                    api_key=gen.server_api_key,
                    grammar_field=gen.server_grammar,
                    timeout_s=gen.server_timeout_s,
                    temperature=gen.temperature,
                    seed=gen.seed,
                )
                return self._generator
            self._generator = LlamaCppGenerator(
                self.model_path(),
                n_ctx=gen.n_ctx,
                n_threads=gen.n_threads,
                temperature=gen.temperature,
                seed=gen.seed,
                prefix_cache=gen.prefix_cache,
            )
        return self._generator

    def manifest(self) -> Manifest:
        ing = self.settings.ingest
        return Manifest(
            embedding_model=self.embedder.model_id,
            dimension=self.embedder.dimension,
            chunk_tokens=ing.chunk_tokens,
            chunk_overlap=ing.chunk_overlap_sentences,
        )

    def store(self, *, create: bool = False, write: bool = False) -> Store:
        """The configured index: a folder (SQLite + FAISS) or a PostgreSQL schema. Opened
        read-only until something asks to `write` (or `create`), so that asking and listing
        work on an index this user cannot write, and never change one."""
        if self._store is None:
            self._store = open_store(
                self.settings,
                self.manifest,
                create=create,
                check_chunking=create,
                read_only=not (create or write),
            )
        elif create or write:
            self._store.make_writable()
        return self._store

    def retriever(self) -> Retriever:
        """The collection's hybrid retriever, or, when the settings name several collections,
        all of theirs merged (`retrieval.several`); each hit names its collection."""
        names = self.settings.collections
        if len(names) == 1:
            return self._hybrid(self.store(), names[0])
        for name in names:
            if name not in self._stores:
                self._stores[name] = open_store(
                    self.settings.for_collection(name), self.manifest, create=False, read_only=True
                )
        return SeveralRetriever({n: self._hybrid(self._stores[n], n) for n in names})

    def _hybrid(self, store: Store, collection: str) -> HybridRetriever:
        r = self.settings.retrieval
        return HybridRetriever(
            store,
            self.embedder,
            candidates=r.candidates,
            rrf_k=r.rrf_k,
            lexical_max_rows=r.lexical_max_rows,
            collection=collection,
        )

    def calibration(self) -> Calibration:
        """The fitted gate, answerability and support models, and the dial's levels."""
        if self._calibration is None:
            self._calibration = Calibration.load(self.settings.factcheck.calibration)
        return self._calibration

    def level(self) -> Level:
        """The configured position of the dial, with its measured error rates."""
        return self.calibration().level(self.settings.factcheck.level)

    def windows(self) -> SentenceWindows:
        """Passages' sentence windows, embedded once for the gate and the fact-check alike."""
        if self._windows is None:
            self._windows = SentenceWindows(self.embedder)
        return self._windows

    def checks(self) -> list[Verifier]:
        """The fact-check's cheap signals on their own (claims, then embedding similarity):
        what `docqa eval` applies to systems that do not check themselves."""
        return [ClaimCheck(), EmbeddingSupport(self.windows())]

    def gate(self) -> RelevanceGate:
        c = self.calibration()
        return RelevanceGate(self.windows(), c.gate_similarity, c.gate_terms)

    def answerability(self) -> AnswerabilityCheck:
        return AnswerabilityCheck(
            Probes(self.generator), self.windows(), self.calibration().answerability
        )

    def verifier(self, *, judge: JudgeMode | None = None) -> SupportCheck | None:
        """The calibrated support check at the configured level; None when the fact-check is
        off. `judge="always"` asks the model judge about every sentence, where the settings
        allow the judge at all."""
        fc = self.settings.factcheck
        if not fc.enabled:
            return None
        c = self.calibration()
        mode: JudgeMode = "off" if not fc.judge else (judge or "auto")
        model = c.support if mode != "off" else c.support_without_judge
        return SupportCheck(
            self.windows(),
            model,
            self.level().threshold,
            probes=Probes(self.generator),
            judge=mode,
            judge_ranges=c.judge_ranges,
        )

    def answerer(self, *, guard: bool = True, record: bool = False) -> Answerer:
        """The configured answerer. `guard=False` keeps only the prompt and the citation
        grammar (no gate, no answerability, no fact-check): the `constrained` system of
        `docqa eval`. `record=True` withholds nothing and measures every signal, for an
        evaluation that replays the decisions at every threshold.

        Built once per kind and kept: the settings of a pipeline never change (`reconfigure`
        makes a new pipeline), so every question reuses the same stage graph."""
        if (guard, record) not in self._answerers:
            self._answerers[guard, record] = self._build_answerer(guard, record)
        return self._answerers[guard, record]

    def _build_answerer(self, guard: bool, record: bool) -> Answerer:
        r, g, fc = self.settings.retrieval, self.settings.generation, self.settings.factcheck
        guarded = guard and fc.enabled
        return Answerer(
            self.retriever(),
            self.generator,
            top_k=r.top_k,
            gate=self.gate() if guard else None,
            answerability=self.answerability() if guarded else None,
            verifier=self.verifier(judge="always" if record else None) if guard else None,
            level=self.level() if guarded else None,
            selector=ContextSelector(self.windows(), g.context_budget),
            select=g.select_context,
            max_tokens=g.max_tokens,
            max_sentences=g.max_sentences,
            policy=fc.policy,
            extractive=g.mode == "extractive",
            repair_citations=fc.repair_citations,
            record=record,
        )

    # ---- the library API ---------------------------------------------------------------------
    def ingest(
        self,
        paths: Sequence[Path],
        *,
        progress: bool = False,
        on_outcome: Callable[[FileOutcome], None] | None = None,
        within: Sequence[Path] | None = None,
        force: bool = False,
    ) -> IngestReport:
        """Ingest files and folders incrementally; see `ingest.ingester.Ingester`. With
        `within`, files whose real path lies outside those folders fail unread; with `force`,
        files whose size and mtime did not change are read and parsed again. The index's own
        folder is never walked into."""
        ing = self.settings.ingest
        ingester = Ingester(
            self.store(create=True, write=True),
            self.embedder,
            chunk_tokens=ing.chunk_tokens,
            overlap_sentences=ing.chunk_overlap_sentences,
            max_file_bytes=ing.max_file_mb * 1024 * 1024,
            batch_size=ing.embed_batch_size,
            within=within,
            exclude=[self.settings.index_folder],
            force=force,
        )
        return ingester.ingest(paths, progress=progress, on_outcome=on_outcome)

    def ask(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Answer:
        """Answer `question`; with `history` (earlier (question, answer) pairs) a follow-up is
        first rewritten into a standalone question."""
        return final_answer(self.stream(question, history))

    def stream(
        self, question: str, history: Sequence[tuple[str, str]] = ()
    ) -> Iterator[AnswerEvent]:
        """`ask` as events: `Rewritten` (for a follow-up), `Retrieved`, `Preview`, `Token`s,
        `Done`. The answer's timings count from the question with the models loaded; loading
        them, on the first question of a pipeline that was not warmed up, is `load_s`."""
        limit = self.settings.generation.max_question_chars
        if len(question) > limit:
            raise QuestionTooLongError(
                f"the question is {len(question):,} characters, over the {limit:,} allowed "
                "(generation.max_question_chars)"
            )
        load_s = self._load(rewrite=bool(history))
        for event in self._answer(question, history):
            if isinstance(event, Done):
                timings = {**event.answer.timings, "load_s": load_s}
                event = Done(replace(event.answer, timings=timings))
            yield event

    def _load(self, *, rewrite: bool) -> float:
        """Load the models and evaluate the prompts' fixed instructions, once; the seconds it
        took (0 once loaded)."""
        rewrite = rewrite and self.settings.generation.rewrite_followups
        if rewrite in self._loaded:
            return 0.0
        start = time.perf_counter()
        self.embedder.embed(["warm-up"])
        self.answerer()  # declares the answer prompt's fixed prefix to the generator
        if rewrite:
            self.generator.keep_prefix(REWRITE_SYSTEM)
        self.generator.prepare()
        self._loaded |= {False, rewrite}
        return time.perf_counter() - start

    def _answer(self, question: str, history: Sequence[tuple[str, str]]) -> Iterator[AnswerEvent]:
        if (
            history
            and self.settings.generation.rewrite_followups
            and question.strip()
            and self._worth_rewriting(question)
        ):
            standalone = standalone_question(self.generator, history, question)
            if standalone != question.strip():
                yield Rewritten(question.strip(), standalone)
            question = standalone
        yield from self.answerer().stream(question)

    def _worth_rewriting(self, question: str) -> bool:
        """Whether a question in a conversation needs the model's rewrite: it leans on the
        conversation (a pronoun, "and …", a fragment), or the gate passes it as it stands. A
        question that neither refers back nor is about the documents is answered — refused —
        at once, instead of after seconds of rewriting it."""
        return refers_back(question) or self.answerer().relevant(question)

    def warm_up(self) -> None:
        """Load both models and evaluate the prompts' fixed instructions ahead of the first
        question (seconds on a CPU), for a server that can do it while nobody waits."""
        self._load(rewrite=True)

    def on(self, collection: str) -> Pipeline:
        """This pipeline over another collection (or several, comma-separated), sharing the
        embedder and the answer model: a server answering from many collections loads each
        model once. The answer model still loads only when a question first needs it."""
        other = Pipeline(
            self.settings.for_collection(collection),
            embedder=self.embedder,
            generator=self._generator,
        )
        other._models_from = self
        return other

    def reconfigure(self, settings: Settings) -> Pipeline:
        """A pipeline with new settings that keeps what they did not change loaded: the
        embedder and index always, the answer model unless its file or context changed (or,
        for a server, its backend, address, model name, key or grammar field)."""
        keep = ("index_dir", "collections_dir", "collection", "ingest", "store")
        if any(getattr(settings, k) != getattr(self.settings, k) for k in keep):
            raise ValueError("reconfigure keeps the index and the embedder; build a new pipeline")
        old, new = self.settings.generation, settings.generation
        same_model = (old.model, old.n_ctx, old.prefix_cache) == (
            new.model,
            new.n_ctx,
            new.prefix_cache,
        )
        server = (
            "backend",
            "server_url",
            "server_model",
            "server_api_key",
            "server_grammar",
            "server_timeout_s",
        )
        same_model = same_model and all(getattr(old, f) == getattr(new, f) for f in server)
        generator = self._generator if same_model else None
        if generator is not None and (old.temperature, old.seed) != (new.temperature, new.seed):
            generator = generator.with_sampling(new.temperature, new.seed)
        other = Pipeline(settings, embedder=self.embedder, generator=generator)
        other._store = self._store
        if same_model:
            other._model_path = self._model_path
        return other

    def with_choices(
        self,
        *,
        model: str,
        top_k: int,
        policy: str,
        level: str | float,
        temperature: float,
        collections: Sequence[str] = (),
    ) -> Pipeline:
        """The pipeline answering with another model, number of passages, fact-check policy
        or level, or temperature, or from other collections: the chat's settings panel.
        Itself when nothing changes."""
        chosen = ",".join(collections)
        if chosen and chosen != self.settings.collection:
            return self.on(chosen).with_choices(
                model=model, top_k=top_k, policy=policy, level=level, temperature=temperature
            )
        s = self.settings
        settings = s.model_copy(
            update={
                "generation": s.generation.model_copy(
                    update={"model": model, "temperature": temperature}
                ),
                "retrieval": s.retrieval.model_copy(update={"top_k": top_k}),
                "factcheck": s.factcheck.model_copy(update={"policy": policy, "level": level}),
            }
        )
        return self if settings == s else self.reconfigure(settings)

    def sources(self) -> list[FileRecord]:
        return self.store().files()

    def file_hash(self, collection: str | None, path: str) -> str | None:
        """The SHA-256 of an indexed file's content as it was ingested, from the collection a
        hit names, opened read-only if this pipeline does not read it (None: not indexed)."""
        if collection is None or collection == self.settings.collection:
            store = self.store()
        else:
            if collection not in self._stores:
                other = self.settings.for_collection(collection)
                if not index.open.index_exists(index_location(other)):
                    return None
                self._stores[collection] = open_store(
                    other, self.manifest, create=False, read_only=True
                )
            store = self._stores[collection]
        record = store.file_record(path)
        return record.sha256 if record is not None else None

    def export(self, answers: Sequence[Answer], fmt: str) -> str:
        """Answers as Markdown ("md") or HTML a reader can check without docqa
        (`docqa.export`): quotes, verdicts, files and their content hashes."""
        from docqa.export import export

        return export(answers, self.file_hash, fmt)

    def indexed_under(self, path: Path) -> list[str]:
        """The indexed files `remove(path)` would remove: `path` itself, or every indexed file
        under it, whether it is named by its real path or through links."""
        store = self.store()
        names = dict.fromkeys(
            [
                *store.paths_under(path_text(os.path.abspath(path))),
                *store.paths_under(source_key(path)),
            ]
        )
        return list(names)

    def remove(self, path: Path | str) -> list[tuple[str, int]]:
        """Remove a file, or every indexed file under a folder; returns (path, chunks) pairs.
        An empty path (an unset variable) is refused, not taken for the current folder."""
        if not str(path).strip():
            raise ValueError("an empty path names no file")
        store = self.store(write=True)
        with store.writing():
            removed = [(p, store.remove_file(p)) for p in self.indexed_under(Path(path))]
            store.flush()
        return removed

    @contextmanager
    def temporary(self, folder: Path) -> Iterator[Pipeline]:
        """A pipeline like this one over a throwaway index in `folder` — or, on PostgreSQL, a
        schema of its own in the same database, so the back-ends can be compared — with the
        same embedder; the index is dropped when the block ends (`docqa eval retrieval`)."""
        store = self.settings.store
        if store.backend == "postgres":
            schema = f"docqa_eval_{uuid.uuid4().hex[:12]}"
            store = store.model_copy(update={"postgres_schema": schema})
        local = Pipeline(
            self.settings.model_copy(
                update={"index_dir": folder, "collection": "default", "store": store}
            ),
            embedder=self.embedder,
        )
        try:
            yield local
        finally:
            local.close()
            if store.backend == "postgres" and store.postgres_dsn:
                from index.postgres import PostgresStore

                PostgresStore.drop(store.postgres_dsn, store.postgres_schema)

    def close(self) -> None:
        borrowed = self._models_from is not None
        if not borrowed and (close := getattr(self._generator, "close", None)) is not None:
            close()  # a server generator's connections
        self.close_store()

    def close_store(self) -> None:
        """Close the index (it is opened again on next use), keeping the models loaded: for a
        collection about to be renamed or deleted."""
        self._answerers.clear()  # they hold the store
        if self._store is not None:
            self._store.close()
            self._store = None
        for store in self._stores.values():
            store.close()
        self._stores.clear()


def index_location(settings: Settings) -> Location:
    """Where `settings` keep the index, in the index package's own terms."""
    st, r = settings.store, settings.retrieval
    return Location(
        backend=st.backend,
        directory=settings.index_folder,
        postgres_dsn=st.postgres_dsn,
        postgres_schema=settings.schema,
        hnsw_ef_search=st.hnsw_ef_search,
        exact_search_max=r.exact_search_max,
        ivf_nprobe=r.ivf_nprobe,
        quantize_vectors=r.quantize_vectors,
    )


def open_store(
    settings: Settings,
    manifest: Callable[[], Manifest],
    *,
    create: bool,
    check_chunking: bool = False,
    read_only: bool = False,
) -> Store:
    """Open the index `settings` name, checking it against `manifest()` (see
    `index.open.open_store`)."""
    return index.open.open_store(
        index_location(settings),
        manifest,
        create=create,
        check_chunking=check_chunking,
        read_only=read_only,
    )


def build_pipeline(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
) -> Pipeline:
    """Wire docqa from settings; pass `embedder`/`generator` to replace the real models."""
    return Pipeline(settings, embedder=embedder, generator=generator)
