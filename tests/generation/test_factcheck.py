import pytest

from core.fakes import HashEmbedder
from generation.factcheck import (
    ClaimCheck,
    CombinedVerifier,
    EmbeddingSupport,
    Grounding,
    apply_policy,
    check_answer,
)
from generation.types import AnswerSentence, SentenceVerdict

pytestmark = pytest.mark.unit

PASSAGE = (
    "The encoder has 6 identical layers. Each layer uses 8 attention heads. "
    "INT8 quantization loses <1% accuracy."
)


def verify(text: str, question: str = "q?") -> SentenceVerdict:
    return ClaimCheck().verify(AnswerSentence(text, (1,)), Grounding(question, {1: PASSAGE}))


def test_numbers_found_in_the_passage_are_supported():
    assert verify("The encoder has six layers.").verdict == "supported"


def test_a_different_number_with_the_same_unit_is_contradicted():
    v = verify("INT8 quantization loses 3% accuracy.")
    assert v.verdict == "contradicted" and "3 %" in v.reason and "<1 %" in v.reason


def test_a_dropped_qualifier_is_not_the_same_claim():
    assert verify("INT8 quantization loses 1% accuracy.").verdict != "supported"


def test_a_number_absent_from_the_passage_is_unsupported():
    v = verify("Each layer uses 12 attention heads.")
    assert v.verdict == "unsupported" and "12" in v.reason


def test_a_name_absent_from_the_passage_is_unsupported_unless_the_question_uses_it():
    assert verify("The encoder was built by Google.").verdict == "unsupported"
    assert (
        verify(
            "The Transformer encoder has 6 layers.", "How many layers has the Transformer encoder?"
        ).verdict
        == "supported"
    )


def test_embedding_support_finds_the_evidence_span():
    checker = EmbeddingSupport(HashEmbedder(256), threshold=0.5)
    v = checker.verify(
        AnswerSentence("Each layer uses 8 attention heads.", (1,)), Grounding("q", {1: PASSAGE})
    )
    assert v.verdict == "supported"
    assert v.evidence.source == 1 and "8 attention heads" in v.evidence.text
    assert PASSAGE[v.evidence.start : v.evidence.end] == v.evidence.text
    off = checker.verify(
        AnswerSentence("Bananas grow in warm climates.", (1,)), Grounding("q", {1: PASSAGE})
    )
    assert off.verdict == "unsupported" and off.score < 0.5


def test_combined_stops_at_the_first_rejection():
    class Boom:
        def verify(self, *a):
            raise AssertionError("must not be reached")

    v = CombinedVerifier([ClaimCheck(), Boom()]).verify(
        AnswerSentence("It has 99 layers.", (1,)), Grounding("q", {1: PASSAGE})
    )
    assert v.verdict == "unsupported"


def test_sentences_are_checked_only_against_what_they_cite():
    sentences = [AnswerSentence("The encoder has 6 layers.", (2,))]
    checked = check_answer(
        sentences,
        Grounding("q", {1: PASSAGE, 2: "Nothing relevant."}),
        ClaimCheck(),
        repair_citations=False,
    )
    assert checked[0].check.verdict == "unsupported" and checked[0].citations == (2,)


def test_a_supported_sentence_citing_the_wrong_source_is_re_cited():
    sentences = [AnswerSentence("The encoder has 6 layers.", (2,))]
    checked = check_answer(
        sentences, Grounding("q", {1: PASSAGE, 2: "Nothing relevant."}), ClaimCheck()
    )
    assert checked[0].citations == (1,)
    assert checked[0].check.verdict == "supported"
    assert checked[0].check.reason.startswith("cited [2], but supported by [1]")


def test_a_contradicted_sentence_is_not_re_cited():
    sentences = [AnswerSentence("Quantization loses 3% accuracy.", (1,))]
    checked = check_answer(
        sentences, Grounding("q", {1: PASSAGE, 2: "It loses 3% accuracy."}), ClaimCheck()
    )
    assert checked[0].check.verdict == "contradicted" and checked[0].citations == (1,)


def test_policy_strict_drops_and_flag_keeps():
    ok, bad = SentenceVerdict("supported", 1, ""), SentenceVerdict("contradicted", 0, "")
    s = AnswerSentence("x.", (1,))
    assert apply_policy([s, s, s], [bad, ok, bad], "strict") == [1]
    assert apply_policy([s, s, s], [bad, ok, bad], "flag") == [0, 1, 2]


def test_embedding_support_embeds_each_passage_once_and_tolerates_empty_ones():
    embedder = HashEmbedder(64)
    checker = EmbeddingSupport(embedder, threshold=0.5)
    for text in ("Each layer uses 8 attention heads.", "The encoder has 6 identical layers."):
        v = checker.verify(AnswerSentence(text, (1, 2)), Grounding("q", {1: PASSAGE, 2: "   "}))
        assert v.verdict == "supported"
    assert embedder.calls == [1, 5, 1]  # the sentence, the 5 windows of the passage (once)
