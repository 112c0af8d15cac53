"""Turn a document folder and a question set into a BEIR retrieval set.

`docqa eval retrieval` scores retrieval on BEIR data; a team's own documents come with
questions in docqa's format (`accept`: substrings a correct answer holds), not with relevance
judgements. This derives them: each document is parsed by docqa's own loaders and cut at blank
lines into passages, and a passage is relevant to an answerable question when it holds every
substring of one of the question's accepted answers (or a gold answer). Unanswerable
questions, and questions no passage answers verbatim, are left out (the count is printed).

The judgements come from the gold answers alone, never from a retriever, so the same set can
compare back-ends, settings or models.

    python -m eval.beir_from_qa FOLDER QUESTIONS.jsonl OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from eval.dataset import load_questions
from ingest.loaders import iter_files, load_file

MIN_PASSAGE_CHARS = 80  # shorter blocks are headings and list stubs: merged into the next


def passages(text: str) -> list[str]:
    """Blank-line blocks of `text`, short ones merged into the block that follows.

    >>> passages("Title\\n\\n" + "a" * 90 + "\\n\\n" + "b" * 90)
    ['Title\\n\\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb']
    """  # noqa: E501
    out: list[str] = []
    pending = ""
    for block in re.split(r"\n\s*\n", text):
        block = block.strip()
        if not block:
            continue
        pending = f"{pending}\n\n{block}" if pending else block
        if len(pending) >= MIN_PASSAGE_CHARS:
            out.append(pending)
            pending = ""
    if pending:
        out.append(pending)
    return out


def build(folder: Path, questions_path: Path, out: Path) -> dict[str, int]:
    """Write corpus.jsonl, queries.jsonl and qrels.tsv into `out`; returns the counts."""
    corpus: dict[str, tuple[str, str]] = {}
    for path in iter_files([folder]):
        for d, doc in enumerate(load_file(path, max_bytes=100 * 1024 * 1024)):
            for p, text in enumerate(passages(doc.text)):
                corpus[f"{path.stem}-{d}-{p}"] = (doc.title, text)
    queries: dict[str, str] = {}
    qrels: list[tuple[str, str]] = []
    unmatched = 0
    for q in load_questions(questions_path):
        if not q.answerable:
            continue
        relevant = [doc_id for doc_id, (_, text) in corpus.items() if q.accepts(text)]
        if not relevant:
            unmatched += 1
            continue
        queries[q.id] = q.question
        qrels.extend((q.id, doc_id) for doc_id in relevant)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for doc_id, (title, text) in corpus.items():
            fh.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (out / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for qid, text in queries.items():
            fh.write(json.dumps({"_id": qid, "text": text}) + "\n")
    with (out / "qrels.tsv").open("w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        fh.writelines(f"{qid}\t{doc_id}\t1\n" for qid, doc_id in qrels)
    return {
        "passages": len(corpus),
        "queries": len(queries),
        "judgements": len(qrels),
        "unmatched": unmatched,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.beir_from_qa",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folder", type=Path)
    parser.add_argument("questions", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    counts = build(args.folder, args.questions, args.out)
    print(", ".join(f"{v} {k}" for k, v in counts.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
