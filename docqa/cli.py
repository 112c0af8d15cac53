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

from tqdm import tqdm

from docqa.config import ConfigError, Settings
from docqa.pipeline import Pipeline, build_pipeline
from generation.answerer import render
from generation.models import ModelError
from generation.types import Answer
from ingest.errors import IngestError
from ingest.ingester import FileOutcome

log = logging.getLogger("docqa")

USER_ERRORS = (IngestError, ModelError, ConfigError, ValueError, OSError)


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
        "generation.model": getattr(args, "model", None),
        "retrieval.top_k": getattr(args, "top_k", None),
        "factcheck.policy": getattr(args, "policy", None),
        "factcheck.enabled": False if getattr(args, "no_guard", False) else None,
        "generation.mode": getattr(args, "mode", None),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="docqa", description="Answer questions from your own documents, offline, with "
        "citations — or say \"I don't know\"."
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (default: ./docqa.toml)")
    parser.add_argument("--index", type=Path, help="index directory (env DOCQA_INDEX)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="add or update files and folders in the index")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.set_defaults(handler=_ingest)

    p = sub.add_parser("ask", help="answer a question from the indexed documents")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--explain", action="store_true", help="show the fact-check of each sentence")
    p.add_argument("--policy", choices=["strict", "flag"], help="what to do with unsupported "
                   "sentences: drop them (strict) or keep them marked (flag)")
    p.add_argument("--model", help="known model name or GGUF path")
    p.add_argument("--top-k", type=int, help="passages given to the model")
    p.set_defaults(handler=_ask)

    p = sub.add_parser("sources", help="list the indexed files")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_sources)

    p = sub.add_parser("remove", help="remove a file (or every file under a folder)")
    p.add_argument("path", type=Path)
    p.set_defaults(handler=_remove)

    p = sub.add_parser("eval-qa", help="run a question set and report accuracy, abstention "
                       "and unsupported sentences")
    p.add_argument("questions", type=Path, help="JSON lines: id, question, answerable, accept")
    p.add_argument("--no-guard", action="store_true", help="turn the fact-check off")
    p.add_argument("--model", help="known model name or GGUF path")
    p.add_argument("--mode", choices=["free", "extractive"], help="generation mode")
    p.add_argument("--out", type=Path, help="write every question's outcome here (JSON lines)")
    p.add_argument("--measure", choices=["judge", "checks"], default="judge",
                   help="what counts a sentence as unsupported: the answer model as judge "
                   "(default), or the claim + embedding checks (for a model too small to judge)")
    p.set_defaults(handler=_eval_qa)

    p = sub.add_parser("prepare", help="assemble and verify the configured models")
    p.set_defaults(handler=_prepare)
    return parser


def _ingest(pipeline: Pipeline, args: argparse.Namespace) -> int:
    def report(outcome: FileOutcome) -> None:
        if outcome.status == "failed":
            print(f"failed: {outcome.path}: {outcome.reason}", file=sys.stderr)

    result = pipeline.ingest(args.paths, progress=sys.stderr.isatty(), on_outcome=report)
    print(result.summary())
    return 1 if result.failed else 0


def _ask(pipeline: Pipeline, args: argparse.Namespace) -> int:
    answer = pipeline.ask(args.question)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_answer(answer))
        if args.explain:
            print("\n" + format_checks(answer))
    return 0


_MARKS = {"supported": "✓", "unsupported": "?", "contradicted": "✗"}


def format_checks(answer: Answer) -> str:
    """Each checked sentence with its verdict, score, reason and evidence span."""
    lines = ["Fact-check:"]
    for s in (*answer.sentences, *answer.dropped):
        if s.check is None:
            continue
        kept = "" if s in answer.sentences else " (dropped)"
        lines.append(f"  {_MARKS[s.check.verdict]} {s.check.verdict}{kept} "
                     f"{s.check.score:.2f}: {s.text}")
        lines.append(f"      {s.check.reason}")
        if s.check.evidence is not None:
            ev = " ".join(s.check.evidence.text.split())
            lines.append(f"      evidence [{s.check.evidence.source}]: "
                         + textwrap.shorten(ev, width=160, placeholder=" …"))
    if len(lines) == 1:
        lines.append("  (nothing was checked)")
    return "\n".join(lines)


def format_answer(answer: Answer) -> str:
    """The human view: the answer (flagged sentences marked), then the cited sources."""
    lines = [_flagged_text(answer)]
    if answer.abstained:
        lines.append(f"({answer.abstain_reason})")
        return "\n".join(lines)
    lines += ["", "Sources:"]
    for source in answer.cited:
        hit = source.hit
        where = " — ".join(x for x in (hit.section or hit.title,) if x)
        page = f", page {hit.page}" if hit.page else ""
        lines.append(f"  [{source.n}] {hit.source}{page}" + (f" — {where}" if where else ""))
        snippet = textwrap.shorten(" ".join(hit.text.split()), width=220, placeholder=" …")
        lines.append(textwrap.indent(textwrap.fill(snippet, width=92), "      "))
    return "\n".join(lines)


def _flagged_text(answer: Answer) -> str:
    if answer.abstained or all(s.check is None or s.check.ok for s in answer.sentences):
        return answer.text
    return " ".join(
        render([s]) + (f" ({s.check.verdict})" if s.check is not None and not s.check.ok else "")
        for s in answer.sentences
    )


def _sources(pipeline: Pipeline, args: argparse.Namespace) -> int:
    records = pipeline.sources()
    if args.json:
        print(json.dumps([_record(r) for r in records], indent=2))
        return 0
    for r in records:
        print(f"{r.path}\t{r.format}\t{r.documents} doc(s)\t{r.chunks} chunk(s)")
    print(f"{len(records)} file(s), {sum(r.chunks for r in records)} chunk(s)", file=sys.stderr)
    return 0


def _record(r) -> dict:
    return {"path": r.path, "format": r.format, "documents": r.documents, "chunks": r.chunks,
            "sha256": r.sha256, "size": r.size, "ingested_at": r.ingested_at}


def _remove(pipeline: Pipeline, args: argparse.Namespace) -> int:
    removed = pipeline.remove(args.path)
    if not removed:
        print(f"docqa: error: {args.path} is not in the index", file=sys.stderr)
        return 1
    for path, chunks in removed:
        print(f"removed {path} ({chunks} chunks)")
    return 0


def _eval_qa(pipeline: Pipeline, args: argparse.Namespace) -> int:
    from eval.dataset import load_questions
    from eval.qa import run, summarize
    from generation.factcheck import CombinedVerifier
    from generation.judge import ModelJudge

    questions = load_questions(args.questions)
    # By default measured by the answer model as judge: a check the default guard does not
    # decide with, so the guarded rate is not zero by construction.
    measure = (ModelJudge(pipeline.generator, pipeline.settings.factcheck.judge_threshold)
               if args.measure == "judge" else CombinedVerifier(pipeline.checks()))
    with tqdm(total=len(questions), unit="question", disable=not sys.stderr.isatty()) as bar:
        outcomes = run(pipeline.ask, questions, measure, progress=lambda _: bar.update(1))
    if args.out:
        args.out.write_text("".join(json.dumps(dataclasses.asdict(o)) + "\n" for o in outcomes))
    for key, value in summarize(outcomes).items():
        print(f"{key}\t{value:.3f}" if isinstance(value, float) else f"{key}\t{value}")
    return 0


def _prepare(pipeline: Pipeline, args: argparse.Namespace) -> int:
    print(f"embedding model: {pipeline.embedder.model_id} ({pipeline.embedder.dimension}-d)")
    generator = pipeline.generator
    print(f"answer model: {getattr(generator, 'model_path', generator)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
