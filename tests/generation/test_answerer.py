import pytest

from generation.answerer import Answerer
from generation.fakes import ScriptedGenerator
from generation.llm import Completion, PromptTooLongError
from generation.types import ABSTENTION
from retrieval.types import Hit

pytestmark = pytest.mark.unit


class ListRetriever:
    def __init__(self, hits):
        self.hits = hits

    def search(self, query, k):
        return self.hits[:k]


def hit(n, score):
    return Hit(n, f"passage {n}", f"/d/{n}.md", "T", "T > S", None, 0, 9, "", 0.1, score)


def test_cited_answer_is_parsed_and_sources_numbered():
    gen = ScriptedGenerator(["Fact one [2]. Fact two [1][2]."])
    answer = Answerer(ListRetriever([hit(5, 0.8), hit(6, 0.6)]), gen, top_k=2).ask("q?")
    assert not answer.abstained and answer.abstain_reason is None
    assert answer.text == "Fact one [2]. Fact two [1][2]."
    assert [s.citations for s in answer.sentences] == [(2,), (1, 2)]
    assert [(s.n, s.hit.chunk_id) for s in answer.sources] == [(1, 5), (2, 6)]
    assert '"1" | "2"' in gen.calls[0]["grammar"]
    assert set(answer.timings) == {"retrieve_s", "generate_s", "verify_s", "total_s"}


def test_weak_retrieval_abstains_without_calling_the_model():
    gen = ScriptedGenerator(["should not be used [1]."])
    answer = Answerer(ListRetriever([hit(1, 0.1)]), gen, min_relevance=0.3).ask("q?")
    assert answer.abstained and answer.text == ABSTENTION
    assert "best similarity 0.10 < 0.30" in answer.abstain_reason
    assert gen.calls == []


def test_empty_index_abstains():
    answer = Answerer(ListRetriever([]), ScriptedGenerator([])).ask("q?")
    assert answer.abstained and answer.abstain_reason == "the index is empty"


def test_model_abstention_is_reported_as_such():
    answer = Answerer(ListRetriever([hit(1, 0.9)]), ScriptedGenerator([ABSTENTION])).ask("q?")
    assert answer.abstained
    assert answer.abstain_reason == "the model found no answer in the retrieved passages"


def test_output_without_a_complete_cited_sentence_abstains():
    gen = ScriptedGenerator(["An answer that was cut off befo"])
    answer = Answerer(ListRetriever([hit(1, 0.9)]), gen).ask("q?")
    assert answer.abstained and "no complete cited sentence" in answer.abstain_reason


def test_prompt_too_long_drops_the_lowest_ranked_source():
    class Tight(ScriptedGenerator):
        def complete(self, messages, *, grammar=None, max_tokens=256):
            if '"3"' in grammar:
                raise PromptTooLongError("too long")
            return Completion("Short [2].", "stop")

    answer = Answerer(ListRetriever([hit(1, .9), hit(2, .8), hit(3, .7)]), Tight([]),
                      top_k=3).ask("q?")
    assert len(answer.sources) == 2 and answer.sentences[0].citations == (2,)


def test_blank_question_is_refused():
    with pytest.raises(ValueError, match="empty"):
        Answerer(ListRetriever([]), ScriptedGenerator([])).ask("   ")


def test_answer_json_shape_keeps_the_documented_keys():
    answer = Answerer(ListRetriever([hit(1, 0.9)]), ScriptedGenerator(["A [1]."])).ask("q?")
    data = answer.to_dict()
    assert {"question", "answer", "abstained", "sentences", "sources", "timings"} <= set(data)
    assert data["sentences"] == [{"text": "A.", "citations": [1]}]
    src = data["sources"][0]
    assert {"n", "path", "title", "section", "page", "text", "score"} <= set(src)
    assert src["cited"] is True and src["score"] == 0.9


class Judge:
    """A verifier scripted by substring: sentences containing a key get that verdict."""

    def __init__(self, verdicts):
        self.verdicts = verdicts

    def verify(self, sentence, passages, question):
        from generation.types import SentenceVerdict

        for key, verdict in self.verdicts.items():
            if key in sentence.text:
                return SentenceVerdict(verdict, 0.0 if verdict != "supported" else 0.9, key)
        return SentenceVerdict("supported", 0.9, "fine")


def ask_with(policy, verdicts, reply="Good fact [1]. Bad fact [1]."):
    answerer = Answerer(ListRetriever([hit(1, 0.9)]), ScriptedGenerator([reply]),
                        verifier=Judge(verdicts), policy=policy)
    return answerer.ask("q?")


def test_strict_drops_unsupported_sentences_and_keeps_their_verdicts():
    answer = ask_with("strict", {"Bad": "contradicted"})
    assert answer.text == "Good fact [1]."
    assert [s.check.verdict for s in answer.sentences] == ["supported"]
    assert [s.check.verdict for s in answer.dropped] == ["contradicted"]
    data = answer.to_dict()
    assert data["sentences"][0]["verdict"] == "supported"
    assert data["dropped_sentences"][0]["verdict"] == "contradicted"
    assert "verify_s" in data["timings"]


def test_strict_abstains_when_nothing_survives():
    answer = ask_with("strict", {"fact": "unsupported"})
    assert answer.abstained and answer.text == ABSTENTION
    assert answer.abstain_reason == "the fact-check supported no sentence (fact)"
    assert len(answer.dropped) == 2


def test_flag_keeps_everything_marked():
    answer = ask_with("flag", {"Bad": "unsupported"})
    assert answer.text == "Good fact [1]. Bad fact [1]."
    assert [s.check.verdict for s in answer.sentences] == ["supported", "unsupported"]
    assert answer.dropped == ()
