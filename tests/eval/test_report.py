import json

import pytest

from eval.baseline import says_no_answer
from eval.qa import Outcome, SentenceOutcome, summarize_by_system
from eval.report import write_qa_report

pytestmark = pytest.mark.unit


def outcome(system, id, answerable, abstained, correct, answer="It is 22 miles [1]."):
    s = SentenceOutcome("It is 22 miles.", (1,), "supported", "supported", "")
    return Outcome(
        system,
        id,
        "q?",
        answerable,
        abstained,
        correct,
        answer,
        "no passage" if abstained else None,
        () if abstained else (s,),
        1,
        1,
        True if answerable else None,
        timings={"retrieve_s": 0.1, "generate_s": 1.0, "verify_s": 0.2, "total_s": 1.3},
    )


def test_report_has_the_table_plots_failures_and_every_outcome(tmp_path):
    outcomes = [
        outcome("plain", "a", True, False, True),
        outcome("plain", "b", False, False, False, "Bob | built it."),
        outcome("guarded", "a", True, False, True),
        outcome("guarded", "b", False, True, True),
    ]
    rows = summarize_by_system(outcomes)
    path = write_qa_report(tmp_path / "out", rows, outcomes, title="t", context={"model": "m"})
    text = path.read_text()
    # accuracy, abstained, wrong-unanswerable, each with its bootstrap interval
    assert "| plain | 1.00 (1.00–1.00) | 0.00 (0.00–0.00) | 1.00 (1.00–1.00) |" in text
    assert "| guarded | 1.00 (1.00–1.00) | 0.00 (0.00–0.00) | 0.00 (0.00–0.00) |" in text
    assert "- **model**: m" in text
    assert "| plain | b | abstain | Bob / built it. |" in text  # pipes cannot break the table
    assert "![latency](latency.png)" in text
    for name in ("accuracy_vs_hallucination.png", "latency.png"):
        assert (tmp_path / "out" / name).read_bytes()[:4] == b"\x89PNG"
    lines = (tmp_path / "out" / "outcomes.jsonl").read_text().splitlines()
    assert [json.loads(x)["system"] for x in lines] == ["plain", "plain", "guarded", "guarded"]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["systems"][1]["system"] == "guarded" and summary["tradeoff"] is None


@pytest.mark.parametrize(
    "reply, declines",
    [
        ("I don't know.", True),
        ("The context does not mention the population. It might be 5,000.", True),
        ("", True),
        ("The lamp is visible for 22 miles. I don't know more.", False),
        ("It opens at 7:00.", False),
    ],
)
def test_the_plain_chain_declines_when_its_first_sentence_says_so(reply, declines):
    assert says_no_answer(reply) is declines
