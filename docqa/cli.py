"""The `docqa` command: parse arguments → load settings → call the library → print.

Library code raises specific exceptions; this module turns them into one-line messages on
stderr and exit status 1. Nothing here knows how ingest, retrieval or generation work.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import DocqaError
from docqa.config import Settings
from docqa.pipeline import Pipeline, build_pipeline
from generation.answerer import render
from generation.calibration import Level
from generation.parts import left_out, missing_part
from generation.types import Answer, Done, Preview
from ingest.ingester import FileOutcome

if TYPE_CHECKING:  # the eval package loads only for `docqa eval`
    from eval.dataset import Question

log = logging.getLogger("docqa")

USER_ERRORS = (DocqaError, ValueError, OSError)
COLLECTION_HELP = (
    "the collection to work on (default: 'default', env DOCQA_COLLECTION); "
    "for ask, several comma-separated: a,b"
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.load(args.config, overrides=_overrides(args))
        pipeline = build_pipeline(settings)
        try:
            return args.handler(pipeline, args)
        finally:
            pipeline.close()
    except USER_ERRORS as exc:
        print(f"docqa: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("docqa: interrupted", file=sys.stderr)
        return 130


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    return {
        "index_dir": args.index,
        "collection": args.collection,
        "generation.model": getattr(args, "model", None),
        "retrieval.top_k": getattr(args, "top_k", None),
        "factcheck.policy": getattr(args, "policy", None),
        "factcheck.level": _level(getattr(args, "level", None)),
        "generation.mode": getattr(args, "mode", None),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="docqa",
        description="Answer questions from your own documents, offline, with "
        'citations — or say "I don\'t know".',
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (default: ./docqa.toml)")
    parser.add_argument("--index", type=Path, help="index directory (env DOCQA_INDEX)")
    parser.add_argument("--collection", help=COLLECTION_HELP)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    common = _common()

    p = sub.add_parser(
        "ingest", parents=[common], help="add or update files and folders in the index"
    )
    p.add_argument("paths", nargs="+", type=_path, metavar="PATH")
    p.add_argument(
        "--force",
        action="store_true",
        help="read and parse again files whose size and modification time did not change",
    )
    p.add_argument(
        "--watch",
        action="store_true",
        help="then keep watching: re-ingest files as they change, remove deleted ones",
    )
    p.set_defaults(handler=_ingest)

    p = sub.add_parser("ask", parents=[common], help="answer a question from the indexed documents")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--explain", action="store_true", help="show the fact-check of each sentence")
    p.add_argument(
        "--policy",
        choices=["strict", "flag"],
        help="what to do with unsupported sentences: drop them (strict) or keep them marked (flag)",
    )
    p.add_argument(
        "--level",
        help="how sure an answer must be: strict, balanced, lenient, or "
        "a probability in [0, 1] (see --explain for each level's error rates)",
    )
    p.add_argument("--model", help="known model name or GGUF path")
    p.add_argument("--top-k", type=int, help="passages given to the model")
    p.add_argument(
        "--export",
        type=Path,
        metavar="FILE",
        help="also write the answer, its quoted evidence and sources to FILE (.md or .html)",
    )
    p.set_defaults(handler=_ask)

    p = sub.add_parser("sources", parents=[common], help="list the indexed files")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_sources)

    p = sub.add_parser(
        "remove", parents=[common], help="remove a file (or every file under a folder)"
    )
    p.add_argument("path", type=_path)
    p.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="remove every indexed file under a folder without asking",
    )
    p.set_defaults(handler=_remove)

    p = sub.add_parser("ui", parents=[common], help="chat with your documents in the browser")
    p.add_argument("--host", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.set_defaults(handler=_ui)

    _add_collections(sub, common)

    p = sub.add_parser(
        "serve",
        parents=[common],
        help="the HTTP API (REST, OpenAI-compatible, MCP) and the chat in one server",
    )
    p.add_argument("--host", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, help="port (default 8765)")
    p.add_argument("--no-chat", action="store_true", help="the API only, no chat page at /")
    p.set_defaults(handler=_serve)

    p = sub.add_parser("mcp", parents=[common], help="an MCP server on stdin/stdout")
    p.set_defaults(handler=_mcp)
    _add_eval(sub, common)

    p = sub.add_parser(
        "prepare", parents=[common], help="assemble and verify the configured models"
    )
    p.set_defaults(handler=_prepare)
    return parser


def _path(text: str) -> Path:
    """A path argument; an empty one (an unset shell variable) is refused rather than read
    as the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty path (an unset variable?)")
    return Path(text)


def printable(path: str) -> str:
    r"""A path on one line of output: control characters (a newline or tab in a file name)
    written as escapes.

    >>> printable("a\tb\nc.txt"), printable("plain.md")
    ('a\\tb\\nc.txt', 'plain.md')
    """
    if path.isprintable():
        return path
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in path)


def _ingest(pipeline: Pipeline, args: argparse.Namespace) -> int:
    def report(outcome: FileOutcome) -> None:
        if outcome.status in ("failed", "skipped"):
            print(f"{outcome.status}: {printable(outcome.path)}: {outcome.reason}", file=sys.stderr)

    result = pipeline.ingest(
        args.paths, progress=sys.stderr.isatty(), on_outcome=report, force=args.force
    )
    print(result.summary(), flush=True)
    if not args.watch:
        return 1 if result.failed else 0
    from ingest.watch import watch

    def again(changed: set[Path]) -> None:
        def changes(outcome: FileOutcome) -> None:
            if outcome.status not in ("unchanged", "failed", "skipped"):
                print(f"{outcome.status}: {printable(outcome.path)}", flush=True)
            report(outcome)

        print(pipeline.ingest(args.paths, on_outcome=changes).summary(), flush=True)

    print(f"watching {len(args.paths)} path(s); Ctrl-C to stop", file=sys.stderr, flush=True)
    watch(args.paths, again, debounce_s=pipeline.settings.serve.watch_debounce_s)
    return 0


def _level(value: str | None) -> str | float | None:
    """A --level value: a level's name, or a number given as text.

    >>> _level("strict"), _level("0.7"), _level(None)
    ('strict', 0.7, None)
    """
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def _interactive() -> bool:
    """Whether a person is reading the output as it comes (a preview is worth printing)."""
    return sys.stdout.isatty()


def _ask(pipeline: Pipeline, args: argparse.Namespace) -> int:
    show_preview = not args.json and _interactive()
    previewed = False
    answer = None
    for event in pipeline.stream(args.question):
        if isinstance(event, Preview) and show_preview and not previewed:
            print(format_preview(event) + "\n", flush=True)
            previewed = True
        elif isinstance(event, Done):
            answer = event.answer
    assert answer is not None  # a stream ends with its answer
    if args.export:
        _export(pipeline, answer, args.export)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        if previewed and answer.abstained:
            print("(The passage above is not enough to answer.)")
        print(format_answer(answer))
        if args.explain:
            enabled = pipeline.settings.factcheck.enabled
            level = pipeline.level() if enabled else None
            measured_on = pipeline.calibration().measured_on if enabled else ""
            print("\n" + format_checks(answer, level, measured_on))
    return 0


def _export(pipeline: Pipeline, answer: Answer, path: Path) -> None:
    fmt = "html" if path.suffix.lower() in (".html", ".htm") else "md"
    path.write_text(pipeline.export([answer], fmt), encoding="utf-8")
    print(f"docqa: exported to {path}", file=sys.stderr)


_MARKS = {"supported": "✓", "unsupported": "?", "contradicted": "✗"}


def format_checks(answer: Answer, level: Level | None = None, measured_on: str = "") -> str:
    """The level and its error rates, the question's answerability, then each checked
    sentence with its verdict, probability, reason and evidence span."""
    lines = []
    if level is not None:
        lines += [f"Level: {level.describe()}."]
        if measured_on:
            lines += [f"(Measured on {measured_on}; on other documents the rates differ.)"]
        lines += [""]
    if answer.answerability is not None:
        lines += [
            f"Answerability: {answer.answerability:.2f} (the estimated probability that "
            "the retrieved passages state the answer)."
        ]
        if answer.unanswered:
            lines += ["Not stated in the documents: " + " ".join(answer.unanswered)]
        lines.append("")
    lines.append("Fact-check:")
    start = len(lines)
    for s in (*answer.sentences, *answer.dropped):
        if s.check is None:
            continue
        kept = "" if s in answer.sentences else " (dropped)"
        lines.append(
            f"  {_MARKS[s.check.verdict]} {s.check.verdict}{kept} {s.check.score:.2f}: {s.text}"
        )
        lines.append(f"      {s.check.reason}")
        if s.check.evidence is not None:
            ev = " ".join(s.check.evidence.text.split())
            lines.append(
                f"      evidence [{s.check.evidence.source}]: "
                + textwrap.shorten(ev, width=160, placeholder=" …")
            )
    if len(lines) == start:
        lines.append("  (nothing was checked)")
    return "\n".join(lines)


def format_preview(preview: Preview) -> str:
    """Where the answer most likely is, printed while the model reads: the source and its
    sentences closest to the question.

    >>> from index.types import Passage
    >>> from retrieval.types import Hit
    >>> from generation.types import Source
    >>> p = Passage(text="Intro. The seal lasts 36 hours. End.", source="/m/pump.md",
    ...             title="Pump", section="Pump > Care")
    >>> print(format_preview(Preview(Source(2, Hit(passage=p, score=1.0)), 7, 31)))
    Closest passage: [2] /m/pump.md — Pump > Care
      “The seal lasts 36 hours.”
    """
    passage = preview.source.hit.passage
    where = f" — {passage.place}" if passage.place else ""
    quote = textwrap.shorten(" ".join(preview.text.split()), width=300, placeholder=" …")
    body = textwrap.indent(textwrap.fill(f"“{quote}”", width=90), "  ")
    return f"Closest passage: [{preview.source.n}] {printable(passage.source)}{where}\n{body}"


def format_answer(answer: Answer) -> str:
    """The human view: the answer (flagged sentences marked), then the cited sources."""
    lines = [_flagged_text(answer)]
    if answer.abstained:
        lines.append(f"({answer.abstain_reason})")
        return "\n".join(lines)
    if answer.dropped:
        lines.append(f"({left_out(len(answer.dropped))}; --explain shows why)")
    lines += ["", "Sources:"]
    for source in answer.cited:
        passage = source.hit.passage
        where = f" — {passage.place}" if passage.place else ""
        lines.append(f"  [{source.n}] {passage.source}{where}")
        snippet = textwrap.shorten(" ".join(passage.text.split()), width=220, placeholder=" …")
        lines.append(textwrap.indent(textwrap.fill(snippet, width=92), "      "))
    return "\n".join(lines)


def _flagged_text(answer: Answer) -> str:
    if answer.abstained or all(s.check is None or s.check.ok for s in answer.sentences):
        return answer.text
    marked = [
        render([s]) + (f" ({s.check.verdict})" if s.check is not None and not s.check.ok else "")
        for s in answer.sentences
    ]
    return " ".join([*marked, *(missing_part(p) for p in answer.unanswered)])


def _sources(pipeline: Pipeline, args: argparse.Namespace) -> int:
    records = pipeline.sources()
    if args.json:
        print(json.dumps([r.to_dict() for r in records], indent=2))
        return 0
    for r in records:
        print(f"{printable(r.path)}\t{r.format}\t{r.documents} doc(s)\t{r.chunks} chunk(s)")
    print(f"{len(records)} file(s), {sum(r.chunks for r in records)} chunk(s)", file=sys.stderr)
    return 0


def _remove(pipeline: Pipeline, args: argparse.Namespace) -> int:
    found = pipeline.indexed_under(args.path)
    if not found:
        print(f"docqa: error: {args.path} is not in the index", file=sys.stderr)
        return 1
    if (
        len(found) > 1
        and not args.yes
        and not _confirm(f"Remove {len(found)} indexed files under {args.path}? [y/N] ")
    ):
        print(
            f"docqa: error: {args.path} holds {len(found)} indexed files; nothing removed "
            "(add --yes to remove them all)",
            file=sys.stderr,
        )
        return 1
    for path, chunks in pipeline.remove(args.path):
        print(f"removed {printable(path)} ({chunks} chunks)")
    return 0


def _confirm(question: str) -> bool:
    """Ask on a terminal; anywhere else (a script, CI) the answer is no."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    print(question, end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _common() -> argparse.ArgumentParser:
    """The options every command accepts after its name as well as before it ("docqa ui
    --index DIR" = "docqa --index DIR ui"); SUPPRESS keeps a value given before the command
    when none is given after it."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--index", type=Path, default=argparse.SUPPRESS, help="index directory (env DOCQA_INDEX)"
    )
    common.add_argument("--collection", default=argparse.SUPPRESS, help=COLLECTION_HELP)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="TOML settings file")
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging"
    )
    return common


def _add_collections(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "collections",
        parents=[common],
        help="list, create, rename or delete collections",
        description="Without a subcommand: list the collections with their files, chunks, "
        "size and last ingest.",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_collections_list)
    verbs = p.add_subparsers(metavar="ACTION")
    c = verbs.add_parser("create", parents=[common], help="an empty collection")
    c.add_argument("name")
    c.set_defaults(handler=_collections_create)
    c = verbs.add_parser("rename", parents=[common], help="rename a collection")
    c.add_argument("name")
    c.add_argument("new_name")
    c.set_defaults(handler=_collections_rename)
    c = verbs.add_parser(
        "delete", parents=[common], help="delete a collection's index (not your documents)"
    )
    c.add_argument("name")
    c.add_argument("-y", "--yes", action="store_true", help="delete without asking")
    c.set_defaults(handler=_collections_delete)


def _registry(pipeline: Pipeline):
    from docqa.collections import Collections

    return Collections(pipeline.settings, pipeline.manifest)


def _collections_list(pipeline: Pipeline, args: argparse.Namespace) -> int:
    infos = _registry(pipeline).list()
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2))
        return 0
    for i in infos:
        if not i.exists:
            print(f"{i.name}\t(empty: nothing ingested yet)\t{printable(i.location)}")
            continue
        print(
            f"{i.name}\t{i.files} file(s)\t{i.chunks} chunk(s)\t{_size(i.size_bytes)}\t"
            f"last ingest {i.last_ingest or 'never'}\t{printable(i.location)}"
        )
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # unreachable


def _collections_create(pipeline: Pipeline, args: argparse.Namespace) -> int:
    info = _registry(pipeline).create(args.name)
    print(f"created collection {info.name} ({printable(info.location)})")
    return 0


def _collections_rename(pipeline: Pipeline, args: argparse.Namespace) -> int:
    info = _registry(pipeline).rename(args.name, args.new_name)
    print(f"renamed collection {args.name} to {info.name} ({printable(info.location)})")
    return 0


def _collections_delete(pipeline: Pipeline, args: argparse.Namespace) -> int:
    registry = _registry(pipeline)
    info = registry.info(args.name)
    if not info.exists:
        print(f"docqa: error: collection {args.name} is empty; nothing to delete", file=sys.stderr)
        return 1
    if not args.yes and not _confirm(
        f"Delete collection {info.name} ({info.files} file(s), {info.chunks} chunk(s)) "
        "from the index? Your documents stay where they are. [y/N] "
    ):
        print(
            f"docqa: error: collection {args.name} not deleted (add --yes to delete it)",
            file=sys.stderr,
        )
        return 1
    registry.delete(args.name)
    print(f"deleted collection {args.name}")
    return 0


def _add_eval(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    evals = sub.add_parser(
        "eval", help="measure answers, retrieval or hallucination detection on your own data"
    ).add_subparsers(required=True, metavar="KIND")

    p = evals.add_parser(
        "qa",
        parents=[common],
        help="answer a question set with docqa and a "
        "plain LangChain RAG chain; write a report with plots",
    )
    p.add_argument(
        "questions",
        type=Path,
        help="JSON lines: id, question, answerable, and "
        "accept (lists of substrings) or answers (SQuAD-style strings)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("docqa-eval"), help="report folder (default: ./docqa-eval)"
    )
    p.add_argument(
        "--systems",
        default=",".join(("plain", "constrained", "guarded")),
        help="comma-separated, from plain, constrained, guarded (default: all)",
    )
    p.add_argument(
        "--independent",
        choices=["judge", "none"],
        default="judge",
        help="the second unsupported-sentence count: the answer model as a yes/no "
        "judge (default), or none (for a model too small to judge)",
    )
    p.add_argument("--model", help="known model name or GGUF path")
    p.add_argument("--mode", choices=["free", "extractive"], help="generation mode")
    p.add_argument("--top-k", type=int, help="passages given to the model")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.set_defaults(handler=_eval_qa)

    p = evals.add_parser(
        "retrieval",
        parents=[common],
        help="BEIR-format retrieval evaluation of dense, BM25 and fused search",
    )
    p.add_argument("corpus", type=Path, help="corpus.jsonl (_id, title, text)")
    p.add_argument("queries", type=Path, help="queries.jsonl (_id, text)")
    p.add_argument("qrels", type=Path, help="qrels TSV (query-id, corpus-id, score)")
    p.add_argument("--out", type=Path, help="also write report.md and summary.json here")
    p.set_defaults(handler=_eval_retrieval)

    p = evals.add_parser(
        "detect",
        parents=[common],
        help="the fact-check stage as a hallucination detector on labelled responses",
    )
    p.add_argument("rows", type=Path, help="JSON lines: context, question, response, hallucinated")
    p.add_argument(
        "--out", type=Path, help="also write report.md, summary.json and detections.jsonl here"
    )
    p.set_defaults(handler=_eval_detect)

    asked = argparse.ArgumentParser(add_help=False)  # a question set, or one side of it
    asked.add_argument("questions", type=Path, help="JSON lines as for `docqa eval qa`")
    asked.add_argument("--split", type=Path, help="a JSON file of article titles: fit, report")
    asked.add_argument("--side", choices=["fit", "report"], default="report")

    p = evals.add_parser(
        "context",
        parents=[common, asked],
        help="whether the gold answers survive context selection, at several token budgets "
        "(no answer model: seconds)",
    )
    p.add_argument("--budgets", default="80,120,160,240", help="comma-separated token budgets")
    p.add_argument("--top-k", type=int, help="passages retrieved")
    p.set_defaults(handler=_eval_context)

    p = evals.add_parser(
        "paired",
        parents=[common, asked],
        help="the guarded pipeline as configured (A) and with one setting changed (B), on the "
        "same questions: rates with intervals and the paired difference",
    )
    p.add_argument(
        "--change",
        required=True,
        action="append",
        metavar="KEY=VALUE",
        help="a setting of B, e.g. generation.select_context=false (repeatable)",
    )
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--out", type=Path, help="also write both configurations' outcomes here")
    p.set_defaults(handler=_eval_paired)


def _eval_qa(pipeline: Pipeline, args: argparse.Namespace) -> int:
    from eval.curve import from_outcome, tradeoff
    from eval.dataset import load_questions
    from eval.qa import run, summarize_by_system
    from eval.report import QA_COLUMNS, markdown_table, write_qa_report
    from eval.systems import build_systems
    from generation.factcheck import CombinedVerifier
    from generation.judge import ModelJudge

    logging.getLogger("eval").setLevel(logging.INFO)  # progress lines when not on a terminal
    questions = load_questions(args.questions)[: args.limit]
    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    systems = build_systems(pipeline, names)
    settings = pipeline.settings
    fc = settings.factcheck
    independent = ModelJudge(pipeline.generator) if args.independent == "judge" else None
    checker = pipeline.answerer()
    # Other systems' sentences are checked afterwards without the model judge: a plain answer
    # runs to ten sentences, and a probe each would cost more than the answer took.
    factcheck = pipeline.verifier(judge="off") or CombinedVerifier(pipeline.checks())
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "outcomes.jsonl").open("w", encoding="utf-8") as partial:

        def keep(outcome) -> None:  # an interrupted run keeps what it answered
            partial.write(json.dumps(outcome.to_dict(), ensure_ascii=False) + "\n")
            partial.flush()

        outcomes = run(
            systems, questions, factcheck, independent, ground=checker.ground, on_outcome=keep
        )
    rows = summarize_by_system(outcomes)
    trade = None
    guarded = [o for o in outcomes if o.system == "guarded"]
    if guarded and fc.enabled:
        by_id = {q.id: q for q in questions}
        levels = {name: lv.threshold for name, lv in pipeline.calibration().levels.items()}
        if not isinstance(fc.level, str):
            levels["configured"] = pipeline.level().threshold
        trade = tradeoff([from_outcome(o, by_id[o.id]) for o in guarded], levels)
    g, r = settings.generation, settings.retrieval
    measured_by = {
        "judge": "the answer model as a yes/no judge with a prompt of its own",
        "none": "not measured",
    }
    context = {
        "questions": str(args.questions),
        "index": settings.index_location,
        "model": f"{g.model} (mode {g.mode}, temperature {g.temperature})",
        "retrieval": f"top {r.top_k} passages",
        "guard": (
            f"level {pipeline.level().describe()}; policy {fc.policy}; model judge "
            f"{'on' if fc.judge else 'off'}"
            if fc.enabled
            else "fact-check off"
        ),
        "unsupported (fact-check)": "docqa's calibrated support check at the configured level; "
        "for the other systems applied afterwards without the model judge, with the question "
        "measured against the passages they were given",
        "independent check": measured_by[args.independent]
        + (
            " — the same model as docqa's own probes, so not independent of them"
            if args.independent == "judge"
            else ""
        ),
    }
    report = write_qa_report(
        args.out, rows, outcomes, title="docqa eval qa", context=context, tradeoff=trade
    )
    print(markdown_table(rows, QA_COLUMNS))
    print(f"\nreport: {report}", file=sys.stderr)
    return 0


def _split_questions(args: argparse.Namespace) -> list[Question]:
    """The question set, or its `--side` of the `--split` file where one is given."""
    from eval.dataset import in_split, load_questions

    questions = load_questions(args.questions)
    if args.split is not None:
        questions = in_split(questions, args.questions, args.split, args.side)
    return questions


def _eval_context(pipeline: Pipeline, args: argparse.Namespace) -> int:
    from eval.context import measure, table
    from generation.selection import ContextSelector

    logging.getLogger("eval").setLevel(logging.INFO)  # progress lines when not on a terminal
    questions = _split_questions(args)
    retriever = pipeline.retriever()
    top_k = pipeline.settings.retrieval.top_k
    rows = measure(
        questions,
        lambda q: retriever.search(q, top_k),
        lambda budget: ContextSelector(pipeline.windows(), budget),
        [int(b) for b in args.budgets.split(",") if b.strip()],
    )
    print(f"{sum(q.answerable for q in questions)} answerable questions, top {top_k} passages")
    print(table(rows))
    return 0


def _eval_paired(pipeline: Pipeline, args: argparse.Namespace) -> int:
    from eval.paired import run, table

    logging.getLogger("eval").setLevel(logging.INFO)  # progress lines when not on a terminal
    questions = _split_questions(args)[: args.limit]
    changes = {}
    for item in args.change:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--change {item!r}: expected KEY=VALUE")
        changes[key.strip()] = value.strip()
    # B's settings come from the same file, environment and flags as A's, changes on top
    other = pipeline.reconfigure(
        Settings.load(args.config, overrides={**_overrides(args), **changes})
    )
    outcomes: list[str] = []

    def keep(a, b) -> None:
        outcomes.append(json.dumps({"a": a.to_dict(), "b": b.to_dict()}, ensure_ascii=False))

    a, b = run(questions, pipeline.ask, other.ask, on_pair=keep)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "paired.jsonl").write_text("\n".join(outcomes) + "\n", encoding="utf-8")
    print(f"{len(questions)} questions from {args.questions}; B: {', '.join(args.change)}")
    print(table(a, b, ("as configured", "changed")))
    return 0


def _eval_retrieval(pipeline: Pipeline, args: argparse.Namespace) -> int:
    from eval.report import write_summary
    from eval.retrieval import evaluate, load_beir

    data = load_beir(args.corpus, args.queries, args.qrels)
    logging.getLogger("eval").setLevel(logging.INFO)  # progress lines when not on a terminal
    result = evaluate(data, pipeline.temporary, show_progress=sys.stderr.isatty())
    text = result.markdown()
    print(text)
    if args.out:
        write_summary(args.out, "docqa eval retrieval", text, dataclasses.asdict(result))
    return 0


def _eval_detect(pipeline: Pipeline, args: argparse.Namespace) -> int:
    from eval.detect import load_rows, markdown, run, summarize
    from eval.report import write_summary
    from generation.factcheck import CombinedVerifier

    logging.getLogger("eval").setLevel(logging.INFO)  # progress lines when not on a terminal
    rows = load_rows(args.rows)
    # The whole configured check, the model judge measured for every sentence.
    checker = pipeline.answerer(record=True)
    verifier = checker.verifier or CombinedVerifier(pipeline.checks())
    detections = run(rows, verifier, checker.ground)
    summary = summarize(detections)
    table = markdown(summary)
    print(table)
    if args.out:
        write_summary(
            args.out,
            "docqa eval detect",
            f"{args.rows}\n\n{table}",
            summary,
            ("detections.jsonl", [d.to_dict() for d in detections]),
        )
    return 0


def _ui(pipeline: Pipeline, args: argparse.Namespace) -> int:
    from docqa.chat import serve_chat

    if not args.verbose:  # a server says when its models are ready and logs each question
        logging.getLogger("ui").setLevel(logging.INFO)

    settings = pipeline.settings
    host = args.host or settings.ui.host
    port = args.port or settings.ui.port
    print(
        f"docqa: serving {settings.index_location} on http://{host}:{port}"
        + ("" if host in ("127.0.0.1", "localhost", "::1") else " — reachable from other machines"),
        file=sys.stderr,
    )
    serve_chat(pipeline, host=args.host, port=args.port)
    return 0


def _serve(pipeline: Pipeline, args: argparse.Namespace) -> int:
    from docqa.service.server import check_bind, serve

    serve_settings = pipeline.settings.serve
    chat = serve_settings.chat and not args.no_chat
    host = args.host or serve_settings.host
    port = args.port or serve_settings.port
    check_bind(serve_settings, host)  # before saying where it serves
    logging.getLogger("docqa.service").setLevel(logging.INFO)
    logging.getLogger("ingest.watch").setLevel(logging.INFO)
    print(
        f"docqa: serving {pipeline.settings.index_location} on http://{host}:{port} "
        f"(API /api, OpenAI /v1, MCP /mcp{', chat /' if chat else ''})",
        file=sys.stderr,
    )
    serve(pipeline, host=host, port=port, chat=chat)
    return 0


def _mcp(pipeline: Pipeline, args: argparse.Namespace) -> int:
    from docqa.service.mcp import build_mcp
    from docqa.service.server import make_hub

    hub = make_hub(pipeline)
    try:
        build_mcp(hub).run("stdio")  # stdout is the protocol's: nothing else may print there
    finally:
        hub.close()
    return 0


def _prepare(pipeline: Pipeline, args: argparse.Namespace) -> int:
    print(f"embedding model: {pipeline.embedder.model_id} ({pipeline.embedder.dimension}-d)")
    generator = pipeline.generator
    print(f"answer model: {getattr(generator, 'model_path', generator)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
