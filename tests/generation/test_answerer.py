import pytest

from core.fakes import HashEmbedder
from generation.answerability import AnswerabilityCheck
from generation.answerer import Answerer
from generation.calibration import Level, Logistic, logit
from generation.fakes import ScriptedGenerator
from generation.gate import RelevanceGate
from generation.llm import Completion, PromptTooLongError
from generation.probes import STATED, Probes
from generation.prompts import build_messages
from generation.selection import ContextSelector
from generation.types import ABSTENTION
from generation.windows import SentenceWindows
from index.types import Passage
from retrieval.types import Hit

pytestmark = pytest.mark.unit


class ListRetriever:
    def __init__(self, hits):
        self.hits = hits

    def search(self, query, k):
        return self.hits[:k]


def hit(n, score):
    return Hit(
        passage=Passage(
            id=n, text=f"passage {n}", source=f"/d/{n}.md", title="T", section="T > S", end=9
        ),
        score=0.1,
        dense_score=score,
    )


def test_cited_answer_is_parsed_and_sources_numbered():
    gen = ScriptedGenerator(["Fact one [2]. Fact two [1][2]."])
    answer = Answerer(ListRetriever([hit(5, 0.8), hit(6, 0.6)]), gen, top_k=2).ask("q?")
    assert not answer.abstained and answer.abstain_reason is None
    assert answer.text == "Fact one [2]. Fact two [1][2]."
    assert [s.citations for s in answer.sentences] == [(2,), (1, 2)]
    assert [(s.n, s.hit.passage.id) for s in answer.sources] == [(1, 5), (2, 6)]
    assert '"1" | "2"' in gen.calls[0]["grammar"]
    assert set(answer.timings) == {
        "retrieve_s",
        "gate_s",
        "select_s",
        "answerability_s",
        "generate_s",
        "verify_s",
        "total_s",
        "first_output_s",
        "first_token_s",
    }


def gate(min_similarity=0.9, min_coverage=0.5):
    return RelevanceGate(SentenceWindows(HashEmbedder(64)), min_similarity, min_coverage)


def test_an_off_topic_question_abstains_without_calling_the_model():
    gen = ScriptedGenerator(["should not be used [1]."])
    answer = Answerer(ListRetriever([hit(1, 0.1)]), gen, gate=gate()).ask("zebra saxophone?")
    assert answer.abstained and answer.text == ABSTENTION
    assert "do not seem to be about this" in answer.abstain_reason
    assert "needed 0.90" in answer.abstain_reason
    assert gen.calls == [] and gen.probes == []


def test_the_gate_passes_a_question_whose_words_a_passage_holds():
    passage = Hit(
        passage=Passage(
            id=1,
            text="Margaret Hale is the daughter of a rector.",
            source="/d/n.md",
            title="T",
            end=40,
        ),
        score=0.1,
        dense_score=0.05,
    )
    gen = ScriptedGenerator(["She is the daughter of a rector [1]."])
    answer = Answerer(ListRetriever([passage]), gen, gate=gate(0.99)).ask("Who was Margaret Hale?")
    assert not answer.abstained and len(gen.calls) == 1


def answerability(p_yes):
    """A check whose probability is the yes/no probe's own (P(yes))."""
    gen_probes = Probes(ScriptedGenerator([], yes=p_yes))
    return AnswerabilityCheck(
        gen_probes, SentenceWindows(HashEmbedder(64)), Logistic(("stated",), (1.0,), 0.0)
    )


def test_low_answerability_abstains_before_generating_and_says_the_score():
    gen = ScriptedGenerator(["never used [1]."])
    answer = Answerer(
        ListRetriever([hit(1, 0.9)]),
        gen,
        answerability=answerability(0.2),
        level=Level("balanced", 0.5),
    ).ask("q?")
    assert answer.abstained and gen.calls == []
    assert answer.abstain_reason == (
        "the retrieved passages do not seem to state the answer "
        "(answerability 0.20 < 0.50, the balanced level)"
    )
    assert answer.answerability == pytest.approx(0.2)
    assert answer.to_dict()["answerability_signals"]["stated"] == pytest.approx(-1.3863, abs=1e-3)
    # nothing was written, but the answer prompt was read by the probes: its tokens are counted
    prompt = build_messages("q?", [hit(1, 0.9)], 6)
    assert answer.usage == {"prompt_tokens": gen.prompt_tokens(prompt), "completion_tokens": 0}
    assert answer.usage["prompt_tokens"] > 0


def test_high_answerability_answers_and_records_its_score():
    gen = ScriptedGenerator(["Fact [1]."])
    answer = Answerer(
        ListRetriever([hit(1, 0.9)]),
        gen,
        answerability=answerability(0.8),
        level=Level("balanced", 0.5),
    ).ask("q?")
    assert not answer.abstained and answer.answerability == pytest.approx(0.8)
    assert answer.level == "balanced"


def test_record_mode_answers_whatever_the_score():
    gen = ScriptedGenerator(["Fact [1]."])
    answer = Answerer(
        ListRetriever([hit(1, 0.9)]),
        gen,
        answerability=answerability(0.1),
        level=Level("strict", 0.9),
        record=True,
    ).ask("q?")
    assert not answer.abstained and answer.answerability == pytest.approx(0.1)


class PartProbes:
    """A model that says yes when asked about a part holding `known`, and no otherwise."""

    def __init__(self, known):
        self.known = known
        self.calls = []

    def keep_prefix(self, text):
        pass

    def choice_probabilities(self, messages, choices):
        assert choices == ["yes", "no"]
        asked = messages[-1]["content"].split(STATED)[0]
        self.calls.append(asked)
        return [0.9, 0.1] if self.known in asked else [0.1, 0.9]

    def start_probability(self, messages, starts):
        assert starts == [ABSTENTION.split()[0]]
        return 0.5


def test_a_part_the_sources_do_not_answer_is_named_and_not_asked():
    check = AnswerabilityCheck(
        Probes(PartProbes("layers")),
        SentenceWindows(HashEmbedder(64)),
        Logistic(("stated",), (1.0,), 0.0),
    )
    gen = ScriptedGenerator(["The encoder has six layers [1]."])
    answer = Answerer(
        ListRetriever([hit(1, 0.9)]), gen, answerability=check, level=Level("balanced", 0.5)
    ).ask("How many layers does the encoder have, and who funded the work?")
    assert not answer.abstained
    assert answer.unanswered == ("who funded the work?",)
    assert answer.text == (
        "The encoder has six layers [1]. The documents do not say: who funded the work?"
    )
    assert gen.calls[0]["messages"][1]["content"] == "How many layers does the encoder have?"
    assert answer.to_dict()["unanswered"] == ["who funded the work?"]


def test_no_answered_part_is_an_abstention_not_a_partial_answer():
    check = AnswerabilityCheck(
        Probes(PartProbes("nothing")),
        SentenceWindows(HashEmbedder(64)),
        Logistic(("stated",), (1.0,), 0.0),
    )
    gen = ScriptedGenerator(["never [1]."])
    answer = Answerer(
        ListRetriever([hit(1, 0.9)]), gen, answerability=check, level=Level("balanced", 0.5)
    ).ask("What is X, and who made Y?")
    assert answer.abstained and gen.calls == []


def test_empty_index_abstains():
    answer = Answerer(ListRetriever([]), ScriptedGenerator([])).ask("q?")
    assert answer.abstained and answer.abstain_reason == "the index is empty"
    answer = Answerer(ListRetriever([]), ScriptedGenerator([]), gate=gate()).ask("q?")
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

    answer = Answerer(
        ListRetriever([hit(1, 0.9), hit(2, 0.8), hit(3, 0.7)]), Tight([]), top_k=3
    ).ask("q?")
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

    def verify(self, sentence, grounding):
        from generation.types import SentenceVerdict

        for key, verdict in self.verdicts.items():
            if key in sentence.text:
                return SentenceVerdict(verdict, 0.0 if verdict != "supported" else 0.9, key)
        return SentenceVerdict("supported", 0.9, "fine")


def ask_with(policy, verdicts, reply="Good fact [1]. Bad fact [1]."):
    answerer = Answerer(
        ListRetriever([hit(1, 0.9)]),
        ScriptedGenerator([reply]),
        verifier=Judge(verdicts),
        policy=policy,
    )
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


def test_the_probes_read_the_answer_prompt_itself():
    text = "The lamp is red. The tower is tall. The harbour is small. The town is old."
    passages = [
        Hit(
            passage=Passage(id=1, text=text, source="/d/a.md", title="T", end=len(text)),
            score=0.1,
            dense_score=0.9,
        )
    ]
    gen = ScriptedGenerator(["Red [1]."], yes=0.9)
    check = AnswerabilityCheck(
        Probes(gen), SentenceWindows(HashEmbedder(64)), Logistic(("stated",), (1.0,), 0.0)
    )
    answer = Answerer(
        ListRetriever(passages), gen, answerability=check, level=Level("balanced", 0.5)
    ).ask("What colour is the lamp?")
    prompt = gen.calls[0]["messages"]
    yes_no, first = gen.probes
    # The yes/no question follows the answer prompt's own sources and question, and the last
    # probe is the answer prompt itself: the answer reuses what they evaluated.
    assert yes_no[0] == prompt[0]
    assert yes_no[1]["content"] == "What colour is the lamp?" + STATED
    assert first == prompt
    signals = answer.to_dict()["answerability_signals"]
    assert signals["stated"] == pytest.approx(logit(0.9), abs=1e-3)  # rounded in the dict
    assert signals["first"] == pytest.approx(logit(0.9), abs=1e-3)


# ---- context selection and the preview ---------------------------------------------------------
PUMP = (
    "The pump ships in a wooden crate. Assembly takes two people and an afternoon. "
    "The seal must be replaced every 1,500 operating hours. The warranty covers the motor "
    "for five years. Paint the housing only with the supplied primer."
)


def manual_hits():
    texts = [PUMP, "Water the roses in the early morning. Mulch keeps the soil moist."]
    return [
        Hit(
            passage=Passage(id=n, text=t, source=f"/d/{n}.md", title="Manual", end=len(t)),
            score=1.0 / n,
        )
        for n, t in enumerate(texts, start=1)
    ]


def selecting(gen, *, select=True, budget=20):
    windows = SentenceWindows(HashEmbedder(256))
    return Answerer(
        ListRetriever(manual_hits()),
        gen,
        gate=RelevanceGate(windows, 0.4, 0.6),
        selector=ContextSelector(windows, budget),
        select=select,
    )


def test_the_preview_comes_before_the_model_and_the_prompt_holds_only_what_was_selected():
    gen = ScriptedGenerator(["The seal is replaced every 1,500 operating hours [1]."])
    events = list(selecting(gen).stream("How often must the seal be replaced?"))
    kinds = [type(e).__name__ for e in events]
    assert kinds[:2] == ["Retrieved", "Preview"] and kinds[-1] == "Done"
    assert kinds.index("Preview") < kinds.index("Token")
    retrieved, preview, done = events[0], events[1], events[-1]
    # the garden passage had nothing to show, so it is neither in the prompt nor a source
    assert [s.hit.passage.id for s in retrieved.sources] == [1]
    assert preview.source in retrieved.sources and "1,500" in preview.text
    assert preview.text == PUMP[preview.start : preview.end]  # the passage's own offsets
    system = gen.calls[0]["messages"][0]["content"]
    assert "1,500 operating hours" in system and "wooden crate" not in system
    answer = done.answer
    assert not answer.abstained and answer.sources[0].hit.passage.text == PUMP  # whole passage
    assert 0 <= answer.timings["first_output_s"] <= answer.timings["first_token_s"]
    assert answer.timings["first_token_s"] <= answer.timings["total_s"]


def test_without_selection_the_model_reads_the_whole_passages_and_the_preview_still_comes():
    gen = ScriptedGenerator(["The seal is replaced every 1,500 operating hours [1]."])
    events = list(selecting(gen, select=False).stream("How often must the seal be replaced?"))
    assert [type(e).__name__ for e in events][:2] == ["Retrieved", "Preview"]
    assert len(events[0].sources) == 2
    assert "wooden crate" in gen.calls[0]["messages"][0]["content"]


def test_a_gate_abstention_shows_no_preview():
    gen = ScriptedGenerator(["never used [1]."])
    events = list(selecting(gen).stream("zebra saxophone quartet?"))
    assert [type(e).__name__ for e in events] == ["Done"] and events[0].answer.abstained
    assert events[0].answer.timings["first_output_s"] == events[0].answer.timings["total_s"]
