"""The fact-check on the real embedder over a real index: planted errors are caught.

The answer is scripted here on purpose: the test needs an answer that cites the right source
but states a wrong number, which a real model produces only by chance. Everything that checks
it is real: the default model measures answerability and judges each sentence, with the
shipped calibration.
"""

from __future__ import annotations

import pytest

from docqa.pipeline import build_pipeline
from generation.fakes import ScriptedGenerator

pytestmark = pytest.mark.integration

QUESTION = "How many nautical miles is the Kestrel Bay lighthouse visible for?"


@pytest.fixture(scope="module")
def indexed(indexed_pipeline):
    return indexed_pipeline


def ask(indexed, embedder, reply: str, policy: str = "strict"):
    settings = indexed.settings.model_copy(
        update={"factcheck": indexed.settings.factcheck.model_copy(update={"policy": policy})}
    )
    generator = ScriptedGenerator([reply], judge=indexed.generator)
    pipe = build_pipeline(settings, embedder=embedder, generator=generator)
    try:
        return pipe.ask(QUESTION)
    finally:
        pipe.close()


def source_of(answer, path_end: str) -> int:
    return next(s.n for s in answer.sources if s.hit.passage.source.endswith(path_end))


def test_a_correct_cited_sentence_is_supported_with_evidence(indexed, real_embedder):
    probe = ask(indexed, real_embedder, "x [1].", "flag")
    n = source_of(probe, "harbor-guide.txt")
    answer = ask(
        indexed,
        real_embedder,
        f"The lighthouse lamp is visible for 22 nautical miles in clear weather [{n}].",
    )
    assert not answer.abstained, answer.abstain_reason
    check = answer.sentences[0].check
    assert check.verdict == "supported"
    assert "22 nautical miles" in check.evidence.text


def test_a_planted_wrong_number_is_caught_and_dropped(indexed, real_embedder):
    probe = ask(indexed, real_embedder, "x [1].", "flag")
    n = source_of(probe, "harbor-guide.txt")
    reply = (
        f"The lamp is visible for 22 nautical miles in clear weather [{n}]. "
        f"In fog it is visible for 35 nautical miles [{n}]."
    )
    answer = ask(indexed, real_embedder, reply)
    assert answer.text.startswith(
        f"The lamp is visible for 22 nautical miles in clear weather [{n}]."
    )
    assert "35" not in answer.text
    assert [s.check.verdict for s in answer.dropped] == ["unsupported"]
    assert "35" in answer.dropped[0].check.reason
    flagged = ask(indexed, real_embedder, reply, "flag")
    assert [s.check.verdict for s in flagged.sentences] == ["supported", "unsupported"]


def test_a_sentence_citing_the_wrong_source_is_re_cited_to_the_right_one(indexed, real_embedder):
    probe = ask(indexed, real_embedder, "x [1].", "flag")
    assert len(probe.sources) >= 2
    right = source_of(probe, "harbor-guide.txt")
    wrong = next(s.n for s in probe.sources if s.n != right)
    answer = ask(indexed, real_embedder, f"The lamp is visible for 22 nautical miles [{wrong}].")
    assert not answer.abstained, answer.abstain_reason
    assert answer.sentences[0].citations == (right,)
    assert answer.sentences[0].check.reason.startswith(f"cited [{wrong}], but supported by")


def test_a_sentence_no_source_supports_abstains_in_strict_mode(indexed, real_embedder):
    probe = ask(indexed, real_embedder, "x [1].", "flag")
    answer = ask(
        indexed,
        real_embedder,
        f"The lighthouse keeper is called Johan Berg [{probe.sources[0].n}].",
    )
    assert answer.abstained
    assert answer.abstain_reason.startswith("the fact-check supported no sentence")
