"""Fit docqa's calibration from recorded evaluation runs, choose the dial's levels, measure them.

    docqa eval qa QUESTIONS.jsonl --index DIR --systems guarded --out RUN   (once per set)
    python -m eval.calibrate --fit RUN_A [RUN_B …] [--report RUN_C …] [--gate RUN_D …] \\
        --questions Q.jsonl … --out generation/calibration.json

The guarded system of `docqa eval qa` answers in record mode: every signal of every question
and sentence is in its `outcomes.jsonl`. This command

1. labels them from the question sets' gold answers, never from a check: a question is
   answerable *from its sources* when it is answerable and a passage the model was given holds
   an accepted answer; a sentence is supported *for its question* when the question is
   answerable and the sentence alone is a right answer;
2. fits the gate's thresholds (the highest that refuse no answerable question of the fitting
   and `--gate` runs, less a margin), the answerability model and the two support models (with
   and without the model judge) on the `--fit` runs;
3. chooses each level's threshold on out-of-fold predictions over the `--fit` runs (folds by
   source document, so a question is never scored by a model fitted on its own article), with
   each rule holding in every question set fitted (each `--fit` run: one kind of document, so
   that a level keeps its promise on encyclopaedia articles and on technical guides alike):
   `strict` — the most coverage with at most 5 % wrong answers to unanswerable questions;
   `balanced` — the most coverage with at most 20 % wrong answers to unanswerable questions;
   `lenient` — the most cautious threshold that still answers 90 % of answerable questions;
   strict is never looser than balanced, nor lenient stricter;
4. measures every level on the `--report` runs with the final models — questions the fit never
   saw — with 95 % bootstrap intervals, and writes it all, with the command and the data, to
   the calibration file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.curve import Attempt, Point, attempt, point_intervals, sweep, thresholds
from eval.dataset import Question
from eval.fitting import fit_logistic, folds
from eval.qa import strip_citations
from generation.calibration import Calibration, Interval, Level, Logistic
from generation.gate import passes
from generation.support import JUDGES

log = logging.getLogger(__name__)

ANSWERABILITY_FEATURES = ("stated", "first", "similarity", "coverage")
# Support judges the sentence, answerability the question: the question's own signals are left
# out of the support model, or an answerable question carries any sentence written for it (a
# name no source gives, after a question the sources answer, scored 0.48 with them, 0.06
# without; on the development sets the sentence-only model was the safer one: 19 % against 25 %
# wrong answers to held-out unanswerable questions at the balanced level).
# Two judges (`generation.support`): the answer prompt's ("affirmed") and the evidence
# window's ("judge"); the model fitted without them serves `factcheck.judge = false`.
SUPPORT_FEATURES = ("affirmed", "judge", "similarity", "coverage", "name_fail")
SUPPORT_FEATURES_WITHOUT_JUDGE = ("similarity", "coverage", "name_fail")
GATE_MARGIN = 0.05  # below the lowest answerable question's similarity: room for paraphrases
NEVER = 1.01  # a coverage threshold no question reaches
STRICT_WRONG = 0.05
BALANCED_WRONG = 0.20
LENIENT_COVERAGE = 0.90
FOLDS = 5


@dataclass(frozen=True, slots=True)
class Record:
    """One question of a recorded run, with its labels and gold answers: all a refit needs,
    without the passages (`save_records` / `read_records` keep it as JSON lines)."""

    id: str
    group: str  # the document of the best passage: the unit of cross-validation
    answerable: bool
    stated: bool  # answerable, and a passage the model was given holds the answer
    gated: bool  # refused by the relevance gate before any probe
    question_signals: dict[str, float]
    sentences: tuple[tuple[str, dict[str, float], bool], ...]  # text, signals, right
    gold: Question
    # The question set it came from: the levels' rules must hold in each set fitted.
    question_set: str = ""

    def right(self, text: str) -> tuple[bool, float | None]:
        """Whether an answer of this text is right, and its token F1 (SQuAD-style gold)."""
        plain = strip_citations(text)
        if not self.answerable:
            return False, 0.0
        return self.gold.right(plain), self.gold.f1(plain)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "group": self.group,
            "answerable": self.answerable,
            "stated": self.stated,
            "gated": self.gated,
            "question_signals": self.question_signals,
            "sentences": [{"text": t, "signals": s, "right": r} for t, s, r in self.sentences],
            "accept": [list(a) for a in self.gold.accept],
            "answers": list(self.gold.answers),
            "question_set": self.question_set,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], question_set: str = "") -> Record:
        gold = Question(
            d["id"],
            "",
            d["answerable"],
            tuple(tuple(a) for a in d.get("accept", ())),
            tuple(d.get("answers", ())),
        )
        return cls(
            d["id"],
            d["group"],
            d["answerable"],
            d["stated"],
            d["gated"],
            d["question_signals"],
            tuple((x["text"], x["signals"], x["right"]) for x in d["sentences"]),
            gold,
            d.get("question_set") or question_set,
        )


def load_records(run: Path, questions: dict[str, Question] | None = None) -> list[Record]:
    """The guarded outcomes of one `docqa eval qa` output folder, labelled — or the records
    a `--save` wrote (a `.jsonl` file), which carry their labels. Records name their question
    set; those of a run folder, or of a file written before they did, are named after it."""
    if run.suffix == ".jsonl":
        return [
            Record.from_dict(json.loads(line), run.stem)
            for line in run.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    if questions is None:
        raise ValueError(f"{run}: a run folder needs the question sets (--questions)")
    records = []
    for line in (run / "outcomes.jsonl").read_text(encoding="utf-8").splitlines():
        o = json.loads(line)
        if o["system"] != "guarded":
            continue
        q = questions[o["id"]]
        group = Path(o["passages"][0]["source"]).name if o["passages"] else ""
        stated = q.answerable and any(q.accepts(p["text"]) for p in o["passages"])
        sentences = tuple(
            (c["text"], c["signals"], q.answerable and q.right(c["text"]))
            for c in o.get("candidates", ())
            if c.get("signals")
        )
        records.append(
            Record(
                o["id"],
                group,
                q.answerable,
                stated,
                gated=o.get("answerability") is None,
                question_signals=o.get("question_signals") or {},
                sentences=sentences,
                gold=q,
                question_set=run.name,
            )
        )
    return records


def save_records(path: Path, records: Sequence[Record]) -> None:
    path.write_text(
        "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records),
        encoding="utf-8",
    )


# ---- fitting ----------------------------------------------------------------------------------
def gate_thresholds(records: Sequence[Record]) -> tuple[float, float]:
    """(similarity, coverage) thresholds; the gate passes a question when either is reached.

    For each candidate coverage threshold, the similarity threshold sits `GATE_MARGIN` below
    the lowest answerable question that coverage alone would refuse, so no answerable question
    is refused — and never above the least similar answerable question of all, less the
    margin, so a question phrased in other words than its passage still passes on meaning. Of
    those pairs, the one that refuses the most unanswerable questions wins (ties: the higher
    similarity threshold). A coverage threshold above 1 means that words alone never pass.

    >>> def r(a, sim, cov):
    ...     return Record("q", "g", a, a, False, {"similarity": sim, "coverage": cov}, (),
    ...                   Question("q", "", a, answers=("x",) if a else ()))
    >>> gate_thresholds([r(True, 0.6, 0.5), r(True, 0.3, 1.0), r(False, 0.2, 0.5)])
    (0.25, 1.0)
    """
    scored = [r for r in records if r.question_signals]
    answerable = [r.question_signals for r in scored if r.answerable]
    unanswerable = [r.question_signals for r in scored if not r.answerable]
    best: tuple[int, float, float] | None = None
    ceiling = min((s["similarity"] for s in answerable), default=1.0 + GATE_MARGIN)
    for coverage in sorted({s["coverage"] for s in answerable} | {NEVER}):
        low = [s["similarity"] for s in answerable if s["coverage"] < coverage]
        lowest = min(low, default=ceiling)
        similarity = round(max(0.0, min(lowest, ceiling) - GATE_MARGIN), 4)
        refused = sum(
            not passes(s["similarity"], s["coverage"], similarity, coverage) for s in unanswerable
        )
        if best is None or (refused, similarity) > (best[0], best[1]):
            best = (refused, similarity, coverage)
    return (0.0, 0.0) if best is None else (best[1], best[2])


def fit_answerability(records: Sequence[Record]) -> Logistic:
    usable = [r for r in records if not r.gated]
    return fit_logistic(
        [[r.question_signals[f] for f in ANSWERABILITY_FEATURES] for r in usable],
        [r.stated for r in usable],
        ANSWERABILITY_FEATURES,
    )


def fit_support(records: Sequence[Record], features: Sequence[str]) -> Logistic:
    """Fitted on the sentences the claim check leaves open: one with a number its passage
    does not give is unsupported by rule, not by this model."""
    rows, labels = [], []
    for r in records:
        for _, signals, right in r.sentences:
            if signals.get("number_fail"):
                continue
            rows.append([{**signals, **_prefixed(r)}[f] for f in features])
            labels.append(right)
    return fit_logistic(rows, labels, features)


def _prefixed(r: Record) -> dict[str, float]:
    return {f"q_{k}": v for k, v in r.question_signals.items()}


@dataclass(frozen=True, slots=True)
class Models:
    gate: tuple[float, float]
    answerability: Logistic
    support: Logistic


def fit_models(
    records: Sequence[Record],
    support_features: Sequence[str],
    gate: tuple[float, float] | None = None,
) -> Models:
    return Models(
        gate or gate_thresholds(records),
        fit_answerability(records),
        fit_support(records, support_features),
    )


def attempts(records: Sequence[Record], models: Models) -> list[Attempt]:
    """Each question's replay under `models`: refused by the gate, or scored."""
    out = []
    for r in records:
        if (
            r.gated
            or not r.question_signals
            or not passes(
                r.question_signals["similarity"], r.question_signals["coverage"], *models.gate
            )
        ):
            out.append(Attempt(r.id, r.answerable, 0.0, (), ()))
            continue
        a = models.answerability.probability(r.question_signals)
        # Each sentence's probability of being a right answer, as `SupportCheck` scores it.
        probs = [
            0.0
            if signals.get("number_fail")
            else a * models.support.probability({**signals, **_prefixed(r)})
            for _, signals, _ in r.sentences
        ]
        texts = [text for text, _, _ in r.sentences]
        out.append(
            attempt(
                r.id,
                r.answerable,
                a,
                probs,
                lambda kept, texts=texts, r=r: r.right(" ".join(texts[i] for i in kept)),
            )
        )
    return out


def out_of_fold_attempts(
    records: Sequence[Record], features: Sequence[str], gate: tuple[float, float], k: int = FOLDS
) -> list[Attempt]:
    """Every question replayed under models fitted without its document's questions (the
    gate's thresholds, chosen so that no answerable question is refused, are held fixed)."""
    fold_of = folds([r.group for r in records], k)
    result: list[Attempt | None] = [None] * len(records)
    for fold in sorted(set(fold_of)):
        train = [r for r, f in zip(records, fold_of, strict=True) if f != fold]
        models = fit_models(train, features, gate)
        test = [i for i, f in enumerate(fold_of) if f == fold]
        for i, a in zip(test, attempts([records[i] for i in test], models), strict=True):
            result[i] = a
    return [a for a in result if a is not None]


# ---- levels -----------------------------------------------------------------------------------
def by_question_set(
    attempts_: Sequence[Attempt], question_sets: Sequence[str]
) -> dict[str, list[Attempt]]:
    """The attempts of each question set, by name (`question_sets[i]` names attempt i's)."""
    grouped: dict[str, list[Attempt]] = {}
    for a, name in zip(attempts_, question_sets, strict=True):
        grouped.setdefault(name, []).append(a)
    return dict(sorted(grouped.items()))


def choose_levels(
    oof: Sequence[Attempt], question_sets: Sequence[str] | None = None
) -> dict[str, float]:
    """Each level's threshold from out-of-fold replays (see the module docstring): the rule of
    each level must hold in every question set (`question_sets[i]` names attempt i's; one set
    when None)."""
    names = list(question_sets) if question_sets is not None else [""] * len(oof)
    grid = thresholds(oof)
    curves = [sweep(attempts_, grid) for attempts_ in by_question_set(oof, names).values()]

    def everywhere(rule: Callable[[Point], bool]) -> list[float]:
        return [t for i, t in enumerate(grid) if all(rule(curve[i]) for curve in curves)]

    def at_most(limit: float) -> Callable[[Point], bool]:
        return lambda p: p.wrong_unanswerable is None or p.wrong_unanswerable <= limit

    strict = everywhere(at_most(STRICT_WRONG))
    balanced = min(everywhere(at_most(BALANCED_WRONG)), default=1.0)
    lenient = everywhere(lambda p: p.coverage is None or p.coverage >= LENIENT_COVERAGE)
    # A strict level never looser than balanced, a lenient one never stricter.
    return {
        "strict": max(balanced, min(strict, default=1.0)),
        "balanced": balanced,
        "lenient": min(balanced, max(lenient, default=0.0)),
    }


def measure(attempts_: Sequence[Attempt], threshold: float) -> dict[str, Interval | None]:
    """Precision, coverage and wrong answers to unanswerable questions at `threshold`, each with
    its bootstrap interval over questions."""
    return {
        key: None if b is None else Interval(*b, len(attempts_))
        for key, b in point_intervals(attempts_, threshold).items()
    }


def as_text(measured: dict[str, Interval | None]) -> dict[str, str | None]:
    """`measure`'s rates as they are printed and kept in the provenance: "0.50 (0.36–0.64)"."""
    return {k: None if v is None else str(v) for k, v in measured.items()}


# ---- the command ------------------------------------------------------------------------------
def calibrate(
    fit_runs: Sequence[Path],
    report_runs: Sequence[Path],
    questions: dict[str, Question] | None,
    command: str,
    gate_runs: Sequence[Path] = (),
    note: str = "",
    save: Path | None = None,
    measured_on: str = "",
) -> tuple[Calibration, dict]:
    """Fit on `fit_runs` (the gate on `gate_runs` too), measure the levels on `report_runs`,
    or on out-of-fold replays of the fitting runs when there are none. With `save`, the
    records the models were fitted on are written there, so the fit can be repeated without
    the runs (`fit.jsonl`, `gate.jsonl`, `report.jsonl` in that folder)."""
    fit = [r for run in fit_runs for r in load_records(run, questions)]
    report = [r for run in report_runs for r in load_records(run, questions)]
    gated = fit + [r for run in gate_runs for r in load_records(run, questions)]
    gate = gate_thresholds(gated)
    final = fit_models(fit, SUPPORT_FEATURES, gate)
    similarity, coverage = final.gate
    without_judge = fit_support(fit, SUPPORT_FEATURES_WITHOUT_JUDGE)
    oof = out_of_fold_attempts(fit, SUPPORT_FEATURES, gate)
    sets = [r.question_set for r in fit]
    chosen = choose_levels(oof, sets)
    held_out = attempts(report, final) if report else oof
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        save_records(save / "fit.jsonl", fit)
        save_records(save / "gate.jsonl", gated[len(fit) :])
        if report:
            save_records(save / "report.jsonl", report)
    # How each level did out of fold in each fitting set: where its rule was checked.
    out_of_fold = {
        name: {level: as_text(measure(group, t)) for level, t in chosen.items()}
        for name, group in by_question_set(oof, sets).items()
    }
    for name, by_level in out_of_fold.items():
        for level, rates in by_level.items():
            log.info(
                "%s, out of fold, %s: %s",
                name,
                level,
                ", ".join(f"{k} {v}" for k, v in rates.items()),
            )
    levels = {}
    figures: dict[str, Any] = {}
    for name, threshold in chosen.items():
        m = measure(held_out, threshold)
        levels[name] = Level(
            name, threshold, m["precision"], m["coverage"], m["wrong_unanswerable"]
        )
        figures[name] = as_text(m)
    judge_ranges = {}
    for judge in JUDGES:
        said = [s[judge] for r in fit for _, s, _ in r.sentences if judge in s]
        if said:
            judge_ranges[judge] = (min(said), max(said))
    calibration = Calibration(
        final.answerability,
        final.support,
        without_judge,
        similarity,
        coverage,
        levels,
        judge_ranges,
        provenance={
            "command": command,
            "fitted_on": [str(p) for p in fit_runs],
            "gate_also_on": [str(p) for p in gate_runs],
            "reported_on": [str(p) for p in report_runs] or "out-of-fold replays of the fit",
            "note": note,
            "measured_on": measured_on,
            "out_of_fold": out_of_fold,
            "questions_fitted": len(fit),
            "questions_reported": len(held_out),
            "sentences_fitted": sum(len(r.sentences) for r in fit),
            "date": datetime.date.today().isoformat(),
        },
    )
    return calibration, figures


def main(argv: Sequence[str] | None = None) -> int:
    from eval.dataset import load_questions

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fit", type=Path, nargs="+", required=True, metavar="RUN")
    parser.add_argument(
        "--report",
        type=Path,
        nargs="*",
        default=[],
        metavar="RUN",
        help="held-out runs the levels are measured on (default: out-of-fold "
        "replays of the fitting runs)",
    )
    parser.add_argument(
        "--gate",
        type=Path,
        nargs="*",
        default=[],
        metavar="RUN",
        help="more runs, recorded with the gate open, for the gate only",
    )
    parser.add_argument(
        "--questions",
        type=Path,
        nargs="*",
        default=[],
        help="the question sets the runs answered (not needed for records)",
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--save",
        type=Path,
        metavar="DIR",
        help="also write the records "
        "to DIR/fit.jsonl, DIR/gate.jsonl and DIR/report.jsonl, which --fit, "
        "--gate and --report accept instead of runs",
    )
    parser.add_argument("--note", default="", help="what the data is, for the provenance")
    parser.add_argument(
        "--measured-on",
        default="",
        help="the reporting questions in a few "
        "words, shown with the levels' figures (the chat, --explain)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    questions = {q.id: q for path in args.questions for q in load_questions(path)}
    command = "python -m eval.calibrate " + " ".join(sys.argv[1:] if argv is None else argv)
    calibration, figures = calibrate(
        args.fit,
        args.report,
        questions or None,
        command,
        args.gate,
        args.note,
        args.save,
        args.measured_on,
    )
    calibration.save(args.out)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
