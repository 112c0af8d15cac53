import pytest

from docqa.pipeline import build_pipeline
from eval.systems import build_systems
from generation.fakes import ScriptedGenerator

pytestmark = pytest.mark.unit


def test_constrained_has_no_gate_and_no_fact_check_while_guarded_has_both(
    settings, embedder, corpus
):
    gen = ScriptedGenerator(["The repair is led by Maria Lopez [1]."])
    pipe = build_pipeline(settings, embedder=embedder, generator=gen)
    pipe.ingest([corpus])
    constrained, guarded = build_systems(pipe, ["constrained", "guarded"])
    assert (constrained.name, guarded.name) == ("constrained", "guarded")

    said = constrained.respond("Who leads the lighthouse repair?")
    assert not said.abstained and said.sentences[0].check is None  # shown unchecked
    assert said.passages and said.timings["total_s"] > 0
    checked = guarded.respond("Who leads the lighthouse repair?")
    assert checked.abstained and checked.dropped == 1  # "Maria Lopez" is not in the notes

    calls = len(gen.calls)
    off_topic = "zebra quantum saxophone?"
    assert guarded.respond(off_topic).abstained and len(gen.calls) == calls  # the gate
    constrained.respond(off_topic)
    assert len(gen.calls) == calls + 1  # no gate: the model is asked anyway


def test_unknown_systems_are_refused(settings, embedder):
    pipe = build_pipeline(settings, embedder=embedder, generator=ScriptedGenerator([]))
    with pytest.raises(ValueError, match="unknown system.*naive"):
        build_systems(pipe, ["guarded", "naive"])
