"""Fitting a calibration from recorded runs: labels from gold answers, levels from folds."""

import json
import random
from pathlib import Path

import pytest

from eval.calibrate import calibrate, choose_levels, load_records
from eval.curve import Attempt
from eval.dataset import Question
from generation.calibration import Calibration

pytestmark = pytest.mark.unit


def write_run(folder, questions, seed):
    """A recorded guarded run where the probe knows the truth, noisily: answerable questions
    whose passage holds the answer get high probe scores and right sentences."""
    rng = random.Random(seed)
    folder.mkdir()
    lines = []
    for i, q in enumerate(questions):
        stated = q.answerable and i % 5 != 0  # every fifth answerable one: retrieval missed
        probe = rng.gauss(2.0 if stated else -1.0, 1.0)
        passage = f"The answer is {q.answers[0]}." if stated else "Something else entirely."
        text = f"It is {q.answers[0]}." if q.answerable and rng.random() < 0.8 else "It is Bob."
        signals = {
            "name_fail": 0.0,
            "number_fail": 0.0,
            "similarity": rng.uniform(0.3, 0.8),
            "coverage": rng.uniform(0.3, 1.0),
            "judge": probe + rng.gauss(0, 1),
            "affirmed": probe + rng.gauss(0, 1),
            "q_stated": probe,
            "q_similarity": 0.6,
            "q_coverage": 0.8,
        }
        lines.append(
            {
                "system": "guarded",
                "id": q.id,
                "answerable": q.answerable,
                "answerability": 0.5,
                "passages": [{"source": f"doc{i % 6}", "text": passage}],
                "question_signals": {
                    "stated": probe,
                    "first": probe + rng.gauss(0, 2),
                    "similarity": 0.6,
                    "coverage": 0.8,
                },
                "candidates": [{"text": text, "signals": signals}],
            }
        )
    (folder / "outcomes.jsonl").write_text("".join(json.dumps(o) + "\n" for o in lines))


def questions(prefix, n):
    return [
        Question(f"{prefix}{i}", f"q{i}?", i % 2 == 0, answers=(f"gold{i}",) if i % 2 == 0 else ())
        for i in range(n)
    ]


def test_records_are_labelled_from_gold_answers_not_from_checks(tmp_path):
    qs = questions("f", 10)
    write_run(tmp_path / "run", qs, seed=1)
    records = load_records(tmp_path / "run", {q.id: q for q in qs})
    assert [r.stated for r in records][:4] == [False, False, True, False]  # 0: retrieval miss
    assert all(not r.stated for r in records if not r.answerable)
    assert records[0].group == "doc0" and not records[0].gated


def test_levels_are_ordered_and_chosen_by_their_rules():
    rng = random.Random(3)
    attempts = []
    for i in range(200):
        answerable = i % 2 == 0
        p = min(0.99, max(0.01, rng.gauss(0.7 if answerable else 0.35, 0.15)))
        attempts.append(Attempt(str(i), answerable, p, (p,), ((p, answerable, None),)))
    levels = choose_levels(attempts)
    assert levels["strict"] >= levels["balanced"] >= levels["lenient"]
    from eval.curve import point

    assert point(attempts, levels["strict"]).wrong_unanswerable <= 0.05
    assert point(attempts, levels["balanced"]).wrong_unanswerable <= 0.20
    assert point(attempts, levels["lenient"]).coverage >= 0.90


def test_each_level_keeps_its_promise_in_every_question_set():
    """Hand-checked. Set "a" holds four unanswerable questions scored 0.1–0.4, set "b" one at
    0.6. Together, 0.6 answers 1 of the 5 (20 %): balanced there. Apart, 0.6 answers set b's
    only unanswerable question (100 %), so balanced moves up to the next recorded score, 0.8,
    where neither set answers one."""

    def a(i, answerable, p):
        return Attempt(i, answerable, p, (p,), ((p, answerable, None),))

    oof = [a(f"a{i}", False, p) for i, p in enumerate((0.1, 0.2, 0.3, 0.4))]
    oof += [a("a-right", True, 0.8), a("b0", False, 0.6), a("b-right", True, 0.9)]
    assert choose_levels(oof)["balanced"] == 0.6
    assert choose_levels(oof, ["a"] * 5 + ["b"] * 2)["balanced"] == 0.8


def test_calibrate_fits_on_one_run_and_measures_on_another(tmp_path):
    fit_q, report_q = questions("f", 120), questions("r", 80)
    write_run(tmp_path / "fit", fit_q, seed=1)
    write_run(tmp_path / "report", report_q, seed=2)
    calibration, figures = calibrate(
        [tmp_path / "fit"],
        [tmp_path / "report"],
        {q.id: q for q in fit_q + report_q},
        "python -m eval.calibrate …",
    )
    path = tmp_path / "calibration.json"
    calibration.save(path)
    loaded = Calibration.load(path)
    assert loaded.answerability.features == ("stated", "first", "similarity", "coverage")
    stated = loaded.answerability.features.index("stated")
    assert loaded.answerability.weights[stated] > 0  # the probe carries the signal
    assert loaded.levels["strict"].threshold >= loaded.levels["lenient"].threshold
    assert loaded.levels["balanced"].precision.n == 80  # measured on the report run only
    assert loaded.provenance["questions_fitted"] == 120
    # Where each level's rule was checked: out of fold, per fitting set (here the one run).
    assert set(loaded.provenance["out_of_fold"]) == {"fit"}
    assert set(loaded.provenance["out_of_fold"]["fit"]) == {"strict", "balanced", "lenient"}
    # Each judge's range on the fitting data: where the support check may skip asking it.
    assert set(loaded.judge_ranges) == {"affirmed", "judge"}
    low, high = loaded.judge_range("affirmed")
    assert low < high
    assert set(figures) == {"strict", "balanced", "lenient"}


def test_saved_records_refit_to_the_same_calibration_without_the_runs(tmp_path):
    fit_q = questions("f", 120)
    write_run(tmp_path / "fit", fit_q, seed=1)
    by_id = {q.id: q for q in fit_q}
    first, _ = calibrate([tmp_path / "fit"], [], by_id, "c", save=tmp_path / "records")
    again, _ = calibrate([tmp_path / "records" / "fit.jsonl"], [], None, "c")
    assert again.answerability == first.answerability and again.support == first.support
    assert again.levels == first.levels


def test_the_shipped_calibration_is_what_its_shipped_records_fit_to():
    """generation/calibration.json is not edited by hand: refitting from the records in
    eval/data/calibration gives its models, thresholds and measured figures exactly."""
    from pathlib import Path

    root = Path(__file__).parents[2]
    data = root / "eval" / "data" / "calibration"
    shipped = Calibration.load(root / "generation" / "calibration.json")
    refit, _ = calibrate(
        [data / "fit.jsonl", data / "technical.jsonl"],
        [data / "report.jsonl"],
        None,
        "c",
        [data / "gate.jsonl"],
    )
    assert refit.answerability == shipped.answerability and refit.support == shipped.support
    assert refit.support_without_judge == shipped.support_without_judge
    assert (refit.gate_similarity, refit.gate_terms) == (
        shipped.gate_similarity,
        shipped.gate_terms,
    )
    assert refit.levels == shipped.levels


def test_a_calibration_file_from_before_the_second_judge_still_loads():
    fixture = Path(__file__).parents[1] / "fixtures" / "calibration.json"
    assert "judge_range" in json.loads(fixture.read_text())  # the one-judge format
    loaded = Calibration.load(fixture)
    assert loaded.judge_range("judge") == pytest.approx((-9.21, 9.21), abs=0.01)
    assert loaded.judge_range("affirmed") == pytest.approx((-9.21, 9.21), abs=0.01)  # default
