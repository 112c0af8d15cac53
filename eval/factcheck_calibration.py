"""Measure the fact-check's signals on a question set, to choose its thresholds.

    python -m eval.factcheck_calibration QUESTIONS.jsonl --index DIR [--out FILE]

Runs every question through the pipeline with the fact-check in `flag` mode (so nothing is
dropped and every sentence keeps its verdict), labels each answer sentence — wrong when it
answers an unanswerable question, right when it holds an accepted answer of an answerable one,
unclear otherwise — scores it with every signal separately (claim check, embedding similarity,
the answer model as judge) and prints, for thresholds of each, how many wrong sentences it
would remove and how many right ones it would lose, with and without the claim check. Use
development data only; never the set you report on.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from tqdm import tqdm

from docqa.config import Settings
from docqa.pipeline import build_pipeline
from eval.dataset import load_questions
from generation.factcheck import ClaimCheck, EmbeddingSupport
from generation.judge import ModelJudge


def collect(questions_path: Path, index: Path) -> list[dict]:
    settings = Settings.load(overrides={
        "index_dir": str(index), "factcheck.policy": "flag", "factcheck.min_similarity": 0.0,
    })
    pipeline = build_pipeline(settings)
    claims = ClaimCheck()
    # Measured on its own: in the pipeline's chain it is skipped when the claims already fail.
    support = EmbeddingSupport(pipeline.embedder, threshold=0.0)
    judge = ModelJudge(pipeline.generator, threshold=0.5)
    rows = []
    for q in tqdm(load_questions(questions_path), desc="questions"):
        answer = pipeline.ask(q.question)
        texts = {s.n: s.hit.text for s in answer.sources}
        for s in answer.sentences:
            label = "wrong" if not q.answerable else ("right" if q.accepts(s.text) else "unclear")
            cited = {n: texts[n] for n in s.citations}
            claim = claims.verify(s, cited, q.question)
            rows.append({"id": q.id, "sentence": s.text, "label": label,
                         "similarity": support.verify(s, cited, q.question).score,
                         "judge": judge.verify(s, cited, q.question).score,
                         "claims": claim.verdict, "claims_reason": claim.reason})
    pipeline.close()
    return rows


def report(rows: list[dict]) -> str:
    """For each signal and threshold: wrong sentences removed and right sentences lost."""
    right = [r for r in rows if r["label"] == "right"]
    wrong = [r for r in rows if r["label"] == "wrong"]
    lines = [f"{len(rows)} sentences: {len(right)} right, {len(wrong)} wrong, "
             f"{len(rows) - len(right) - len(wrong)} unclear",
             "signal | threshold | wrong removed | right lost"]
    claims = {"none": lambda r: False, "claims": lambda r: r["claims"] != "supported"}
    for name, base in claims.items():
        for signal in ("similarity", "judge"):
            for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
                def rejected(r, t=t, signal=signal, base=base):
                    return base(r) or r[signal] < t
                lines.append(
                    f"{name}+{signal} | {t:.2f} | {sum(map(rejected, wrong))}/{len(wrong)} | "
                    f"{sum(map(rejected, right))}/{len(right)}"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = collect(args.questions, args.index)
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(report(rows))


if __name__ == "__main__":
    main()
