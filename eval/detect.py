"""Hallucination detection: docqa's checks as a detector on labelled responses.

Rows are `{"context", "question", "response", "hallucinated": bool}` (an optional `id`, and
optionally `passages`, the context as the separate passages a system was given, with
`headings`, each passage's heading path as the system's prompt labelled it). The question
is measured against the passages as docqa measures its own questions (`ground`: the relevance
gate's signals and the answerability probe), each response sentence is verified against all
the passages, exactly as an answer sentence citing them would be, and the response is flagged
when any sentence is not supported. Its score is one minus its least-supported sentence's
probability of being a right answer (the question's answerability times the sentence's
support, as docqa scores its own), so ROC-AUC measures the ranking and not just the configured
threshold.

The baseline in the same run is the response's length in words, thresholded at the median
length of the set (no labels used): a detector that cannot beat it has learnt nothing about
support.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eval.dataset import read_jsonl
from eval.metrics import balanced_accuracy, bootstrap_statistic, precision_recall, roc_auc
from eval.progress import progress
from eval.qa import Ground, split_sentences
from generation.factcheck import Grounding, Verifier, verify_all
from generation.types import AnswerSentence
from index.types import Passage
from retrieval.types import Hit


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    context: str
    question: str
    response: str
    hallucinated: bool
    passages: tuple[str, ...] = ()
    headings: tuple[str, ...] = ()

    def hits(self) -> tuple[Hit, ...]:
        """The passages as retrieved hits, numbered from 1 in order (the context alone when
        the row has no passages), under their headings where the row has them: the checks read
        a passage under its heading as they do in an answer (the answerability probe's source
        labels, the window judge's heading), and were fitted reading it so.

        >>> [h.passage.heading for h in Row("r", "", "q", "a", False, ("x", "y"), ("T", "")).hits()]
        ['T', '']
        """
        texts = self.passages or (self.context,)
        headings = self.headings or ("",) * len(texts)
        return tuple(
            Hit(
                passage=Passage(id=n, text=t, source=f"{self.id}#{n}", section=heading, end=len(t)),
                score=0.0,
            )
            for n, (t, heading) in enumerate(zip(texts, headings, strict=True), start=1)
        )


@dataclass(frozen=True, slots=True)
class Detection:
    id: str
    hallucinated: bool
    flagged: bool
    score: float
    words: int
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_rows(path: Path) -> list[Row]:
    def parse(r: dict[str, Any], number: int) -> Row:
        label = r["hallucinated"]
        if not isinstance(label, bool):
            raise TypeError(f"'hallucinated' must be true or false, not {label!r}")
        passages = tuple(str(p) for p in r.get("passages") or ())
        headings = tuple(str(h or "") for h in r.get("headings") or ())
        if headings and len(headings) != len(passages):
            raise ValueError(
                f"'headings' names {len(headings)} passages, 'passages' holds {len(passages)}"
            )
        return Row(
            str(r.get("id", number)),
            str(r["context"]),
            str(r["question"]),
            str(r["response"]),
            label,
            passages,
            headings,
        )

    return read_jsonl(path, "a detection row", parse)


def detect(row: Row, verifier: Verifier, ground: Ground | None = None) -> Detection:
    """Flag the response if any of its sentences is unsupported by the passages."""
    sentences = split_sentences(row.response)
    hits = row.hits()
    grounding = (
        ground(row.question, hits)
        if ground is not None and sentences
        else Grounding.over(row.question, {h.passage.id: h for h in hits})
    )
    cited = tuple(grounding.passages)
    verdicts = verify_all(verifier, [AnswerSentence(s, cited) for s in sentences], grounding)
    bad = [v for v in verdicts if not v.ok]
    support = min((v.score for v in verdicts), default=1.0)
    return Detection(
        row.id,
        row.hallucinated,
        bool(bad),
        1.0 - support,
        len(row.response.split()),
        tuple(v.reason for v in bad),
    )


def run(
    rows: Sequence[Row],
    verifier: Verifier,
    ground: Ground | None = None,
    *,
    show_progress: bool | None = None,
) -> list[Detection]:
    out = []
    with progress(len(rows), "rows", show=show_progress) as bar:
        for r in rows:
            out.append(detect(r, verifier, ground))
            bar.update()
    return out


def summarize(detections: Sequence[Detection]) -> list[dict[str, Any]]:
    """Two rows: the fact-check detector and the length baseline, on the same labels.

    >>> d = [Detection("a", True, True, 0.9, 30, ()), Detection("b", False, False, 0.2, 10, ()),
    ...      Detection("c", True, False, 0.4, 12, ()), Detection("d", False, False, 0.1, 40, ())]
    >>> [(r["detector"], r["balanced_accuracy"], r["roc_auc"]) for r in summarize(d)]
    [('fact-check', 0.75, 1.0), ('length baseline', 0.5, 0.5)]
    """
    truth = [d.hallucinated for d in detections]
    median = statistics.median(d.words for d in detections) if detections else 0
    rows = []
    for name, flagged, scores in (
        ("fact-check", [d.flagged for d in detections], [d.score for d in detections]),
        (
            "length baseline",
            [d.words > median for d in detections],
            [float(d.words) for d in detections],
        ),
    ):
        precision, recall = precision_recall(truth, flagged)
        row = {
            "detector": name,
            "rows": len(detections),
            "hallucinated": sum(truth),
            "balanced_accuracy": balanced_accuracy(truth, flagged),
            "precision": precision,
            "recall": recall,
            "roc_auc": roc_auc(truth, scores),
        }
        items = list(zip(truth, flagged, scores, strict=True))
        for key, statistic in _STATISTICS.items():
            row[f"{key}_ci"] = bootstrap_statistic(items, statistic)
        rows.append(row)
    return rows


_STATISTICS = {
    "balanced_accuracy": lambda xs: balanced_accuracy([t for t, _, _ in xs], [f for _, f, _ in xs]),
    "precision": lambda xs: precision_recall([t for t, _, _ in xs], [f for _, f, _ in xs])[0],
    "recall": lambda xs: precision_recall([t for t, _, _ in xs], [f for _, f, _ in xs])[1],
    "roc_auc": lambda xs: roc_auc([t for t, _, _ in xs], [s for _, _, s in xs]),
}


def markdown(summary: Sequence[dict[str, Any]]) -> str:
    from eval.report import markdown_table

    return markdown_table(
        summary,
        [
            ("detector", "detector"),
            ("rows", "rows"),
            ("hallucinated", "hallucinated"),
            ("balanced_accuracy", "balanced accuracy"),
            ("precision", "precision"),
            ("recall", "recall"),
            ("roc_auc", "ROC-AUC"),
        ],
    )
